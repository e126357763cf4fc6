"""Speed and memory of the submit-queue simulator (issue 2, item 5).

Prints one table: seconds per default run (traffic 8, 252 + 5040 ticks) and per crisis
run (traffic 20, culprit 0.08, stability 0.92), simulated changes per second, peak
memory for a full and a ten-times-longer run (memory should not grow with length),
and the kernel's compile time in a fresh process versus loading it from the cache.
Times are CPU seconds of this process (`time.process_time`, one core) and wall
seconds, median of --repeat runs.

    python benchmarks/submitqueue_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

CRISIS = {"traffic": 20, "culprit_prob": 0.08, "test_stability": 0.92}
FULL_TICKS = 252 + 5040


def _timed_runs(scenario: dict, repeat: int) -> dict:
    """Median CPU and wall seconds of full-length runs; warm-up 0 with the same total
    length does the same work and lets every simulated change be counted."""
    from loadwise.systems.submitqueue import SubmitQueue

    sq = SubmitQueue()
    sq.run({}, {**scenario, "ticks": 10}, seed=0)  # load the compiled kernel
    cpu, wall, changes = [], [], 0.0
    for seed in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        m = sq.run({}, {**scenario, "warmup_ticks": 0, "ticks": FULL_TICKS}, seed=seed)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        changes = m["in_flight_start"] + m["changes_created"] + m["changes_resubmitted"]
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall), "changes": changes}


def _worker(mode: str, arg: str) -> None:
    """Run in a child process so that compile time and peak memory are its own."""
    if mode == "first-call":
        t0 = time.perf_counter()
        from loadwise.systems.submitqueue import SubmitQueue

        SubmitQueue().run({}, {"ticks": 10, "warmup_ticks": 0}, seed=0)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
    elif mode == "memory":
        from loadwise.systems.submitqueue import SubmitQueue

        sq = SubmitQueue()
        sq.run({}, {"ticks": 10, "warmup_ticks": 0}, seed=0)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scenario = CRISIS if arg.startswith("crisis") else {}
        sq.run({}, {**scenario, "warmup_ticks": 252, "ticks": 5040 * (10 if arg.endswith("x10") else 1)}, seed=0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"peak_mib": after / 1024, "growth_mib": (after - before) / 1024}))


def _child(mode: str, arg: str = "", env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, arg], capture_output=True, text=True, check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return

    with tempfile.TemporaryDirectory() as cache:
        cold = _child("first-call", env={"NUMBA_CACHE_DIR": cache})
        warm = _child("first-call", env={"NUMBA_CACHE_DIR": cache})
    normal = _timed_runs({}, args.repeat)
    crisis = _timed_runs(CRISIS, args.repeat)
    mem = {name: _child("memory", name) for name in ("default", "default-x10", "crisis", "crisis-x10")}

    table = Table(title="submitqueue speed (one core; CPU = process time, median of "
                        f"{args.repeat} runs of {FULL_TICKS} ticks)")
    for col in ("measure", "value", "target"):
        table.add_column(col, justify="right" if col != "measure" else "left")
    table.add_row("default run, CPU s", f"{normal['cpu']:.3f}", "< 0.6")
    table.add_row("default run, wall s", f"{normal['wall']:.3f}", "")
    table.add_row("default run, changes/s (CPU)", f"{normal['changes'] / normal['cpu']:,.0f}", "")
    table.add_row("crisis run, CPU s", f"{crisis['cpu']:.3f}", "< 2")
    table.add_row("crisis run, wall s", f"{crisis['wall']:.3f}", "")
    table.add_row("crisis run, changes/s (CPU)", f"{crisis['changes'] / crisis['cpu']:,.0f}", "")
    for name, m in mem.items():
        table.add_row(f"peak RSS, {name} run (growth during the run), MiB",
                      f"{m['peak_mib']:.0f} (+{m['growth_mib']:.1f})", "flat in length")
    table.add_row("first call, fresh cache (import + compile), wall s", f"{cold['seconds']:.2f}", "")
    table.add_row("first call, cached kernel (import + load), wall s", f"{warm['seconds']:.2f}", "")
    Console().print(table)


if __name__ == "__main__":
    main()
