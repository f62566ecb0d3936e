#!/usr/bin/env python3
"""A real Prometheus server scrapes a 2-rank training run.

Starts Debian's `prometheus` on a free loopback port with monitoring/prometheus.yml (copied
into a temporary folder with its alert rules, the scrape and rule intervals shortened to 1 s)
and a temporary data folder, trains a tiny network with `launch/mpirun.sh -n 2
--metrics-port P` (which writes and removes the file-discovery targets), then asks
Prometheus's HTTP API:
  - both ranks were scraped (up == 1 for 2 targets) and asl_build_info says world_size 2;
  - asl_train_step rose, to the number of lines of steps.jsonl;
  - every scraped (step, final loss) pair is the value steps.jsonl holds for that step;
  - a histogram quantile across ranks evaluates, and the step histograms count every step
    of both ranks;
  - the validation gauges hold the last line of validation.jsonl;
  - every query of the Grafana dashboard evaluates on the live server.
The server is stopped by its PID.

usage: prometheus_e2e.py ASL_BINARY SOURCE_DIR WORK_DIR
"""
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ASL, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
RUN = "e2e"


def fail(message):
    print(f"FAIL: {message}")
    for name in ("train.log", "prometheus.log"):
        path = os.path.join(WORK, name)
        if os.path.exists(path):
            print(f"--- {name}")
            print("".join(open(path).readlines()[-25:]))
    sys.exit(1)


def free_port(count=1):
    """A port p with p .. p+count-1 all free on the loopback."""
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + count > 65535:
            continue
        try:
            held = []
            for p in range(base, base + count):
                t = socket.socket()
                t.bind(("127.0.0.1", p))
                held.append(t)
            for t in held:
                t.close()
            return base
        except OSError:
            for t in held:
                t.close()
    fail("no free port")


def query(prom, expr, path="query"):
    url = f"http://127.0.0.1:{prom}/api/v1/{path}?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        fail(f"query {expr!r}: {body.get('error', body)}")
    return body["data"]


def scalar_of(prom, expr):
    result = query(prom, expr)["result"]
    if len(result) != 1:
        fail(f"{expr!r} gave {len(result)} series, expected 1: {result}")
    return float(result[0]["value"][1])


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    conf_dir = os.path.join(WORK, "prometheus")
    os.makedirs(os.path.join(conf_dir, "targets"))

    # The project's scrape config and rules, faster intervals for a run of seconds.
    config = open(os.path.join(SRC, "monitoring", "prometheus.yml")).read()
    config = re.sub(r"(scrape_interval|evaluation_interval):\s*\S+", r"\1: 1s", config)
    config = re.sub(r"refresh_interval:\s*\S+", "refresh_interval: 1s", config)
    open(os.path.join(conf_dir, "prometheus.yml"), "w").write(config)
    shutil.copy(os.path.join(SRC, "monitoring", "alerts.yml"), conf_dir)

    prom_port = free_port()
    metrics_port = free_port(2)
    prom_log = open(os.path.join(WORK, "prometheus.log"), "w")
    server = subprocess.Popen(
        ["prometheus", f"--config.file={conf_dir}/prometheus.yml",
         f"--storage.tsdb.path={WORK}/prometheus-data",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=prom_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run_checks(prom_port, metrics_port, conf_dir)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    shutil.rmtree(WORK, ignore_errors=True)


def run_checks(prom, metrics_port, conf_dir):
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{prom}/-/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            fail("Prometheus did not become ready within 60 s")
        time.sleep(0.3)

    # A tiny network on 24 synthetic clips (tests/common/tiny_run.sh), 2 ranks, 30 epochs
    # (about 8 s: several scrapes at 1 s), validation in the last epochs; the ranks keep
    # serving 5 s after the end for the last scrapes.
    sets = subprocess.run(
        ["bash", "-c", f'source "{SRC}/tests/common/tiny_run.sh"; tiny_run "$0" "$1" 30 && '
                       'printf "%s\\n" "${SETS[@]}"', ASL, WORK],
        check=True, capture_output=True, text=True).stdout.splitlines()
    out = os.path.join(WORK, "run")
    env = dict(os.environ, ASL=ASL, ASL_TARGETS_DIR=os.path.join(conf_dir, "targets"))
    cmd = ["bash", os.path.join(SRC, "launch", "mpirun.sh"), "-n", "2", "--metrics-port",
           str(metrics_port), "train", os.path.join(SRC, "configs", "demo.yaml"), "--output", out,
           *sets, "--set", "checkpoint.eval_start_epoch=29", "--set", "monitoring.linger_s=5",
           "--set", f"monitoring.run={RUN}"]
    with open(os.path.join(WORK, "train.log"), "w") as log:
        if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=SRC, env=env).returncode:
            fail("training under mpirun failed")
    if os.listdir(os.path.join(conf_dir, "targets")):
        fail("launch/mpirun.sh left its targets file behind")

    steps = [json.loads(l) for l in open(os.path.join(out, "steps.jsonl")) if l.strip()]
    validations = [json.loads(l) for l in open(os.path.join(out, "validation.jsonl")) if l.strip()]
    window = "[10m]"
    sel = f'run="{RUN}"'

    # Both ranks scraped.
    up = query(prom, f'max_over_time(up{{job="ego4d_asl"}}{window})')["result"]
    instances = sorted(r["metric"]["instance"] for r in up if float(r["value"][1]) == 1)
    expected = [f"127.0.0.1:{metrics_port}", f"127.0.0.1:{metrics_port + 1}"]
    if instances != expected:
        fail(f"up == 1 for {instances}, expected {expected}")
    info = query(prom, f"last_over_time(asl_build_info{{{sel}}}{window})")["result"]
    if sorted(r["metric"]["rank"] for r in info) != ["0", "1"] or \
            any(r["metric"].get("world_size") != "2" for r in info):
        fail(f"asl_build_info: {info}")

    # The step counter rose to the last step.
    for rank in ("0", "1"):
        lo = scalar_of(prom, f'min_over_time(asl_train_step{{{sel},rank="{rank}"}}{window})')
        hi = scalar_of(prom, f'max_over_time(asl_train_step{{{sel},rank="{rank}"}}{window})')
        if not hi > lo:
            fail(f"asl_train_step of rank {rank} did not rise ({lo} -> {hi})")
        if hi != len(steps):
            fail(f"asl_train_step of rank {rank} ended at {hi}, steps.jsonl has {len(steps)} steps")

    # Scraped losses are the logged ones. Both series come from the same scrapes (same
    # timestamps); a scrape between the two stores of a step may see the next step's loss
    # with the previous step's number, and nothing else.
    def samples(expr):
        result = query(prom, expr)["result"]
        if len(result) != 1:
            fail(f"{expr!r}: {len(result)} series")
        return {float(t): float(v) for t, v in result[0]["values"]}

    step_at = samples(f'asl_train_step{{{sel},rank="0"}}{window}')
    loss_at = samples(f'asl_train_loss{{{sel},rank="0",loss="final"}}{window}')
    logged = {s["step"]: s["final_loss"] for s in steps}
    exact = 0
    for t, step in step_at.items():
        if t not in loss_at or step < 1:
            continue
        loss = loss_at[t]
        if math.isclose(loss, logged[int(step) - 1], rel_tol=1e-12):
            exact += 1
        elif not (int(step) in logged and math.isclose(loss, logged[int(step)], rel_tol=1e-12)):
            fail(f"scraped final loss {loss} at step {step} is not in steps.jsonl")
    if exact < 1:
        fail("no scrape matched a logged step's loss")

    # Histograms aggregate across ranks.
    q = scalar_of(prom, f"histogram_quantile(0.9, sum by (le) "
                        f"(increase(asl_train_step_seconds_bucket{{{sel}}}{window})))")
    if not (q > 0 and math.isfinite(q)):
        fail(f"the 0.9 quantile of the step time across ranks is {q}")
    counted = scalar_of(prom, f"sum(max_over_time(asl_train_step_seconds_count{{{sel}}}{window}))")
    if counted != 2 * len(steps):
        fail(f"the step histograms counted {counted} steps, expected 2 x {len(steps)}")

    # Validation gauges (rank 0) hold the last validation.
    if not validations:
        fail("no validation.jsonl lines")
    last = validations[-1]
    got = scalar_of(prom, f"last_over_time(asl_validation_average_map_ratio{{{sel}}}{window})")
    if not math.isclose(got, last["average_mAP"], rel_tol=1e-12, abs_tol=1e-15):
        fail(f"asl_validation_average_map_ratio {got}, validation.jsonl {last['average_mAP']}")
    r1 = scalar_of(prom, f'last_over_time(asl_validation_recall_ratio{{{sel},k="1",tiou="0.5"}}{window})')
    if not math.isclose(r1, last["recall"]["R1@0.5"], rel_tol=1e-12, abs_tol=1e-15):
        fail(f"R1@0.5 {r1}, validation.jsonl {last['recall']['R1@0.5']}")

    # Every dashboard query evaluates on this server.
    dashboard = json.load(open(os.path.join(SRC, "monitoring", "grafana", "dashboards", "ego4d-asl.json")))
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    for expr in exprs:
        concrete = (expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
                    .replace("$__range", "1h").replace("$run", RUN).replace("$rank", ".*"))
        query(prom, concrete)
    print(f"PASS: 2 ranks scraped, {len(steps)} steps, {len(step_at)} scrapes of rank 0 "
          f"({exact} with the logged loss of their step), p90 step {q:.3f} s, "
          f"average mAP {got:.4f}, {len(exprs)} dashboard queries evaluated")


if __name__ == "__main__":
    main()
