#!/usr/bin/env python3
"""N round trips of vm.exec(["true"]) through the Python SDK on a running VM.

    PYTHONPATH=sdk/python bench/sdk/exec_py.py SOCKET VM [N]

Prints `py exec p50=.. p90=.. p99=.. ms (n=N)`. Every run must exit 0.
"""

from __future__ import annotations

import sys
import time

import banger


def percentile(sorted_ms: list[float], p: float) -> float:
    i = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[i]


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print("usage: exec_py.py SOCKET VM [N]", file=sys.stderr)
        return 2
    socket_path, vm_name = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 50
    vm = banger.connect(socket_path).vms.get(vm_name)
    vm.exec(["true"], timeout=180)  # warm-up: the agent is up
    times: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = vm.exec(["true"], timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
        if r.exit_code != 0:
            print(f"exec true exited {r.exit_code}", file=sys.stderr)
            return 1
    times.sort()
    print(f"py exec p50={percentile(times, 50):.2f} p90={percentile(times, 90):.2f} "
          f"p99={percentile(times, 99):.2f} ms (n={n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
