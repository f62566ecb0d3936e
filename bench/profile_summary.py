#!/usr/bin/env python3
"""Lists the operations of a LibTorch profiler trace by self time (their time minus that of the
operations they called), the hot spots of one iteration:

    build/asl-torch bench configs/ego4d_asl.yaml --what infer --profile infer.trace
    bench/profile_summary.py infer.trace [--top 25]

The trace is the Chrome trace JSON that `asl bench --profile` writes (complete events "X" with
ts and dur in microseconds, one tid per thread). Plain Python, no PyTorch needed.
"""
import argparse
import collections
import json


def self_times(events):
    """{name: (self_us, total_us, calls)} from complete events, nesting found per thread."""
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_thread[e.get("tid")].append(e)
    out = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, children's time]
        for e in evs:
            while stack and e["ts"] >= stack[-1][0]["ts"] + stack[-1][0]["dur"]:
                done, child = stack.pop()
                out[done["name"]][0] += done["dur"] - child
            if stack:
                stack[-1][1] += e["dur"]
            stack.append([e, 0.0])
            out[e["name"]][1] += e["dur"]
            out[e["name"]][2] += 1
        while stack:
            done, child = stack.pop()
            out[done["name"]][0] += done["dur"] - child
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with open(args.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    stats = self_times(events)
    whole = sum(s for s, _, _ in stats.values()) or 1.0
    print("%-40s %10s %6s %10s %7s" % ("operation", "self ms", "%", "total ms", "calls"))
    for name, (s, t, n) in sorted(stats.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print("%-40s %10.2f %6.1f %10.2f %7d" % (name[:40], s / 1e3, 100 * s / whole, t / 1e3, n))
    print("%-40s %10.2f" % ("all (self, every thread)", whole / 1e3))


if __name__ == "__main__":
    main()
