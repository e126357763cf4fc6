"""Speed of the agentserve simulator: role steps per second on the recommended training grid.

The grid is the InfraMind analysis' recommended training grid: rates 20, 30, 50, 100,
150, 200 req/min x budgets 10, 50, 200, 600, 1800 s, 1000 workflows per cell (about 4,550 role steps per
cell with the reference planner, ~136,500 in all). All 30 cells run in lockstep in one
process on one core. CPU seconds (time.process_time) are the figure to compare with the
10 s target; wall seconds are shown too.

    python benchmarks/agentserve_speed.py [--workflows 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from loadwise.systems.agentserve import Cell, Lockstep, load_profiles, make_router

RATES = (20, 30, 50, 100, 150, 200)
BUDGETS = (10, 50, 200, 600, 1800)


def measure(router: str, workflows: int, record: bool) -> tuple[float, float, int]:
    """(CPU s, wall s, role steps) of one full-grid run."""
    profiles = load_profiles()
    cells = [Cell(r, b, workflows) for r in RATES for b in BUDGETS]
    cpu, wall = time.process_time(), time.perf_counter()
    driver = Lockstep(cells, 0, profiles)
    driver.run(make_router(router))
    results = driver.results(record=record)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, int(sum(r.metrics["steps"] for r in results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflows", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'router':<14} {'telemetry':<9} {'role steps':>10} {'CPU s':>7} {'wall s':>7} {'steps/CPU s':>12}")
    for router in ("greedy", "static-mix", "clairvoyant"):
        for record in (False, True):
            best = min((measure(router, args.workflows, record) for _ in range(args.repeat)), key=lambda x: x[0])
            cpu, wall, steps = best
            print(f"{router:<14} {'frames' if record else 'no':<9} {steps:>10,} {cpu:>7.2f} {wall:>7.2f} {steps / cpu:>12,.0f}")


if __name__ == "__main__":
    main()
