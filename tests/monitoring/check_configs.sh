#!/usr/bin/env bash
# The monitoring/ files checked by Prometheus's own tools: the scrape config, the alert rules
# and their unit tests, and every query of the Grafana dashboard through the PromQL parser
# (each becomes a recording rule for `promtool check rules`). Every asl_* metric that the
# rules and the dashboard name must be one docs/monitoring.md lists.
#   usage: check_configs.sh [SOURCE_DIR]
set -euo pipefail
SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$SRC/monitoring"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

promtool check config prometheus.yml > "$WORK/config.log" 2>&1 || { cat "$WORK/config.log"; fail "promtool check config"; }
echo "ok: promtool check config prometheus.yml"
promtool check rules alerts.yml > "$WORK/rules.log" 2>&1 || { cat "$WORK/rules.log"; fail "promtool check rules"; }
echo "ok: promtool check rules alerts.yml"
promtool test rules alerts_test.yml > "$WORK/test.log" 2>&1 || { cat "$WORK/test.log"; fail "promtool test rules"; }
echo "ok: promtool test rules alerts_test.yml"

# Every alert of alerts.yml has a test case that expects it to fire.
for alert in $(sed -n 's/^ *- alert: *//p' alerts.yml); do
  grep -q "alertname: $alert$" alerts_test.yml || fail "alert $alert has no test in alerts_test.yml"
done
echo "ok: every alert has unit tests"

python3 - "$SRC" "$WORK/dashboard_rules.yml" <<'PY'
import json, re, sys
src, rules_out = sys.argv[1], sys.argv[2]
dash = json.load(open(f"{src}/monitoring/grafana/dashboards/ego4d-asl.json"))
documented = set(re.findall(r"`(asl_[a-z0-9_]+)", open(f"{src}/docs/monitoring.md").read()))
problems, exprs = [], []

def walk(panels):
    for p in panels:
        if p.get("type") == "row":
            walk(p.get("panels", []))
            continue
        if not p.get("title"):
            problems.append(f"panel {p.get('id')} has no title")
        if p.get("datasource", {}).get("uid") != "asl-prometheus":
            problems.append(f"panel '{p.get('title')}' does not use the asl-prometheus datasource")
        targets = [t for t in p.get("targets", []) if t.get("expr")]
        if not targets:
            problems.append(f"panel '{p.get('title')}' has no query")
        exprs.extend((p.get("title"), t["expr"]) for t in targets)

walk(dash["panels"])
names = {v["name"] for v in dash["templating"]["list"]}
if names != {"run", "rank"}:
    problems.append(f"template variables {sorted(names)}, expected run and rank")

def metrics_in(text):
    found = set()
    for m in re.findall(r"\basl_[a-z0-9_]+", text):
        found.add(re.sub(r"_(bucket|sum|count)$", "", m) if m not in documented else m)
    return found

used = set()
for _, e in exprs:
    used |= metrics_in(e)
for v in dash["templating"]["list"]:   # label_values(...) is Grafana's, not PromQL
    used |= metrics_in(json.dumps(v.get("query")))
used |= metrics_in(open(f"{src}/monitoring/alerts.yml").read())
for m in sorted(used - documented):
    problems.append(f"{m} is used but not listed in docs/monitoring.md")

# Grafana's variables replaced by values Prometheus accepts, then one recording rule each.
with open(rules_out, "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        concrete = (e.replace("$__rate_interval", "1m").replace("$__interval", "1m")
                     .replace("$__range", "1h").replace("$run", ".*").replace("$rank", ".*"))
        out.write(f"      - record: dashboard:panel_{i}\n        expr: {json.dumps(concrete)}\n")
if problems:
    print("\n".join("FAIL: " + p for p in problems))
    sys.exit(1)
print(f"ok: dashboard: {len(exprs)} queries, metrics {len(used)} all documented")
PY
promtool check rules "$WORK/dashboard_rules.yml" > "$WORK/dash.log" 2>&1 || { cat "$WORK/dash.log"; fail "a dashboard query does not parse"; }
echo "ok: every dashboard query parses (promtool check rules)"
echo "PASS: monitoring configs"
