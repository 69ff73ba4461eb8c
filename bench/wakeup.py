#!/usr/bin/env python3
"""How much slower the same Python work runs right after a process slept:
the demo app's "wake-up" cost after an injected block (bench/detection.py's
third column). Times 2 000 small json.dumps calls warm, then right after
sleeping 0.01-3 s, twice in a row.

    /usr/bin/python3 bench/wakeup.py [--reps 3]
"""

import argparse
import json
import statistics
import time

from benchlib import load_note, table


def work():
    t = time.perf_counter()
    for i in range(2000):
        json.dumps({"a": i, "b": [1, 2, 3]})
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    for _ in range(3):
        work()
    warm = statistics.median(work() for _ in range(10))
    rows = [["none (warm)", f"{warm:.2f} ms", "", ""]]
    for pause in (0.01, 0.1, 0.5, 1.0, 3.0):
        first, second = [], []
        for _ in range(args.reps):
            time.sleep(pause)
            first.append(work())
            second.append(work())
        rows.append([f"{pause:g} s", f"{statistics.median(first):.2f} ms",
                     f"{statistics.median(second):.2f} ms", f"{statistics.median(first) / warm:.1f}×"])
    print(f"median of {args.reps} runs")
    print(table(["sleep before", "first run", "second run", "first / warm"], rows))
    print()
    print(load_note())


if __name__ == "__main__":
    main()
