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

# Every alert of alerts.yml has a test case where it fires and one where it stays silent.
python3 - <<'PY' || fail "alert unit-test coverage"
import re, sys
alerts = re.findall(r"^\s*- alert:\s*(\S+)", open("alerts.yml").read(), re.M)
firing, silent, current = set(), set(), None
for line in open("alerts_test.yml"):
    m = re.match(r"^\s*(?:- )?alertname:\s*(\S+)", line)
    if m:
        current = m.group(1)
        continue
    m = re.match(r"^\s*exp_alerts:\s*(\S*)", line)
    if m and current:
        (silent if m.group(1) == "[]" else firing).add(current)
        current = None
missing = [f"{a} ({', '.join(k for k, s in (('firing', firing), ('silent', silent)) if a not in s)})"
           for a in alerts if a not in firing or a not in silent]
if missing:
    print("FAIL: alerts without a firing or a silent test case: " + "; ".join(missing))
    sys.exit(1)
print(f"ok: alerts_test.yml: all {len(alerts)} alerts tested firing and silent")
PY

python3 - "$SRC" "$WORK/dashboard_rules.yml" <<'PY' || fail "dashboard"
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
if not problems:
    print(f"ok: dashboard: every panel titled, on asl-prometheus, with a query ({len(exprs)} queries)")
variables = dash.get("templating", {}).get("list", [])
names = {v["name"] for v in variables}
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
for v in variables:
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    used |= metrics_in(q)
    if v.get("type") != "query" or re.match(r"\s*(label_values|label_names|metrics)\s*\(", q):
        continue   # Grafana's own functions, not PromQL: only their metric is checked
    m = re.match(r"\s*query_result\s*\((.*)\)\s*$", q, re.S)
    exprs.append((f"variable {v['name']}", m.group(1) if m else q))
used |= metrics_in(open(f"{src}/monitoring/alerts.yml").read())
undocumented = sorted(used - documented)
for m in undocumented:
    problems.append(f"{m} is used but not listed in docs/monitoring.md")
if not undocumented:
    print(f"ok: all {len(used)} asl_* metrics of the dashboard and alerts.yml are in docs/monitoring.md")

# Grafana's variables replaced by values Prometheus accepts, then one recording rule each.
values = {"run": ".*", "rank": ".*", "__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
def concrete(title, e):
    def sub(m):
        if m.group(1) not in values:
            problems.append(f"'{title}': unknown Grafana variable ${m.group(1)}")
            return m.group(0)
        return values[m.group(1)]
    return re.sub(r"\$\{?([A-Za-z_]\w*)(?::\w+)?\}?", sub, e)
with open(rules_out, "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (title, e) in enumerate(exprs):
        out.write(f"      - record: dashboard:panel_{i}\n        expr: {json.dumps(concrete(title, e))}\n")
if problems:
    print("\n".join("FAIL: " + p for p in problems))
    sys.exit(1)
PY
promtool check rules "$WORK/dashboard_rules.yml" > "$WORK/dash.log" 2>&1 || { cat "$WORK/dash.log"; fail "a dashboard query does not parse"; }
echo "ok: every dashboard query parses (promtool check rules)"
echo "PASS: monitoring configs"
