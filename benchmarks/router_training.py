"""Router training benchmark (issue 5, item 7).

1. Seconds per training epoch over the full grid (6 rates × 5 budget tiers, the seed's
   ~4,550 role steps per cell): wall-clock and CPU (process) seconds, split into rollout
   (simulation + batched policy calls) and update (GAE + PPO + λ + checkpoint + telemetry).
2. A full training run (`--epochs`, resumable in `--out`), then the trained router vs
   every baseline and the clairvoyant oracle per cell: goodput, accuracy, violation, and
   the issue's targets.

Usage: python benchmarks/router_training.py [--epochs 30] [--workflows 1000]
           [--eval-workflows 1000] [--out runs/bench-router] [--timing-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--workflows", type=int, default=1000, help="per cell and epoch")
    parser.add_argument("--eval-workflows", type=int, default=1000)
    parser.add_argument("--timing-epochs", type=int, default=2)
    parser.add_argument("--out", default="runs/bench-router")
    parser.add_argument("--timing-only", action="store_true")
    args = parser.parse_args()

    from loadwise.rl.evaluate import FIXED, evaluate_checkpoint
    from loadwise.rl.train import TrainConfig, train

    out = Path(args.out)
    pd.set_option("display.width", 200)
    # 1. epoch timing (telemetry on, as a user's run)
    timing_dir = out / "timing"
    started = time.time()
    trainer = train(TrainConfig(epochs=args.timing_epochs, workflows=args.workflows, minibatch_size=1024,
                                learning_rate=3e-3), timing_dir, show_progress=False)
    rows = [{"epoch": h["epoch"], "role_steps": h["role_steps"], "wall_s": h["seconds"],
             "rollout_wall_s": h["rollout_seconds"], "cpu_s": h["cpu_seconds"]} for h in trainer.history]
    print("\nSeconds per training epoch over the full grid (30 cells)")
    print(pd.DataFrame(rows).round(2).to_string(index=False))
    print(f"(timing section took {time.time() - started:.0f} s wall, including already finished epochs)")
    if args.timing_only:
        return

    # 2. training run and evaluation
    config = TrainConfig(epochs=args.epochs, workflows=args.workflows, minibatch_size=1024, learning_rate=3e-3,
                         telemetry=False)
    trainer = train(config, out / "train", show_progress=True)
    ev = evaluate_checkpoint(trainer.run_dir, workflows=args.eval_workflows)
    from loadwise.rl.report import build_report

    build_report(ev).write(out / "eval")
    cells = ev.cells
    best_fixed = cells[cells["router"].isin(FIXED)].groupby(["rate", "budget"])["goodput"].max().rename("best_fixed")
    table = cells.pivot_table(index=["rate", "budget"], columns="router", values="goodput")
    keep = [c for c in ("ppo", "greedy", "quality-first", "least-loaded", "static-mix", "random", "clairvoyant")
            if c in table.columns]
    print("\nGoodput per cell")
    print(table[keep].join(best_fixed).round(3).to_string())
    print("\nViolation rate per cell")
    print(cells.pivot_table(index=["rate", "budget"], columns="router", values="violation_rate")[keep]
          .round(3).to_string())
    print("\nTargets per cell")
    print(ev.target_checks().round(3).to_string(index=False))
    print("\nOver the grid")
    print(ev.grid_summary().round(3).to_string(index=False))


if __name__ == "__main__":
    main()
