"""Speed of the merge-queue world, and of `mq compare` on the four weighted worlds.

Prints one table: CPU seconds per simulated week of a repository with 1,000 pull
requests a day (prs_per_day 1000, 64 runners, the other world parameters at their
defaults) for each strategy at its defaults (sized for 150 a day, most of them fall
behind: the long queues a tuner meets), at settings for the load (deeper chains and
windows, bigger batches and rounds; with 5 % bad pull requests only group testing and a
40-deep HEADGREEN speculative queue keep up, see "queued at end"), and at its defaults
with 8 runners. CPU seconds of this process
(`time.process_time`), median and best of --repeat seeds, after the kernel is loaded.
`--compile` adds the kernel's first call in a fresh process with an empty numba cache,
and with the cache it wrote. `--compare` runs `mq compare` on `mq-weighted4` (five
strategies, --trials each) in a temporary folder and reports its wall time and the CPU
seconds of it and its worker processes.

    python benchmarks/mergequeue_speed.py [--repeat 7] [--compile] [--compare] [--trials 40]
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

WEEK = {"prs_per_day": 1000.0, "runners": 64, "days": 7.0}
FEW_RUNNERS = {**WEEK, "runners": 8}
SIZED = {  # settings for 1,000 pull requests a day on 64 runners
    "serial": {},
    "batch-bisect": {"batch_size": 16, "max_retries": 1, "bisection": "parallel"},
    "speculative": {"max_entries_to_build": 40, "max_entries_to_merge": 40, "grouping_strategy": "HEADGREEN"},
    "adaptive-window": {"window_floor": 10, "window_ceiling": 40},
    "group-testing": {"resources": 64, "maxbatch": 512},
}
TARGET_S = 0.1


def _timed(strategy: str, config: dict, world: dict, repeat: int) -> dict:
    from loadwise.systems import get_system

    system = get_system(f"mergequeue:{strategy}")
    system.run(config, {**world, "days": 0.1}, 0)  # load the compiled kernel
    cpu, m = [], {}
    for seed in range(repeat):
        c0 = time.process_time()
        m = system.run(config, world, seed)
        cpu.append(time.process_time() - c0)
    return {"median": statistics.median(cpu), "best": min(cpu), "arrived": m["arrived"], "builds": m["builds"],
            "merged": m["merged"], "p95": m["time_in_queue_p95_h"], "left": m["queued_end"] + m["in_flight"]}


def _first_call() -> None:
    t0 = time.perf_counter()
    c0 = time.process_time()
    from loadwise.systems import get_system

    get_system("mergequeue:serial").run({}, {"days": 0.1}, 0)
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}))


def _compile_times() -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cmd = [sys.executable, __file__, "--first-call"]
        fresh = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
        cached = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout)
    return fresh, cached


def _compare(trials: int) -> dict:
    from loadwise.app.mergequeue import mq_compare

    with tempfile.TemporaryDirectory() as folder:
        c0 = time.process_time()
        w0 = time.perf_counter()
        result = mq_compare("mq-weighted4", trials, out=os.path.join(folder, "c"), progress=False)
        wall = time.perf_counter() - w0
        cpu = time.process_time() - c0 + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        row = result.validation.summary.set_index("config").loc[result.winner]
        return {"wall": wall, "cpu": cpu, "winner": result.winner, "objective": row["objective"],
                "ci95": row["ci95"], "config": result.winner_config,
                "simulations": sum(t.simulations for t in result.tunes)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_call:
        _first_call()
        return
    from loadwise.systems.mergequeue import STRATEGY_NAMES

    table = Table(title=f"mergequeue: CPU s per simulated week, 1,000 PRs/day (load average "
                        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for col in ("strategy", "settings", "runners", "pull requests", "builds", "merged", "queued at end",
                "p95 in queue, h", "CPU s median", "CPU s best", f"target < {TARGET_S}"):
        table.add_column(col, justify="left" if col in ("strategy", "settings") else "right")
    for label, world in (("defaults", WEEK), ("sized", WEEK), ("defaults", FEW_RUNNERS)):
        for name in STRATEGY_NAMES:
            config = SIZED[name] if label == "sized" else {}
            r = _timed(name, config, world, args.repeat)
            table.add_row(name, label, str(world["runners"]), f"{r['arrived']:,.0f}", f"{r['builds']:,.0f}",
                          f"{r['merged']:,.0f}", f"{r['left']:,.0f}", f"{r['p95']:.3g}", f"{r['median']:.4f}", f"{r['best']:.4f}",
                          "yes" if r["median"] < TARGET_S else "no")
    Console(width=160).print(table)
    if args.compile:
        fresh, cached = _compile_times()
        Console().print(f"first call, empty numba cache: {fresh['wall']:.1f} s wall, {fresh['cpu']:.1f} CPU s; "
                        f"with the cache: {cached['wall']:.2f} s wall, {cached['cpu']:.2f} CPU s")
    if args.compare:
        r = _compare(args.trials)
        Console().print(f"mq compare on mq-weighted4, 5 strategies, {args.trials} trials each: {r['wall']:.0f} s wall, "
                        f"{r['cpu']:.0f} CPU s (this process and its workers), {r['simulations']} tuning "
                        f"simulations; best {r['winner']} {r['config']}: {r['objective']:.4g} ± {r['ci95']:.3g}")


if __name__ == "__main__":
    main()
