"""Router training benchmark: epoch time, and the trained router against every baseline.

1. Seconds per training epoch over the full grid (6 rates × 5 budget tiers, the seed's
   ~4,550 role steps per cell): wall-clock and CPU (process) seconds, split into rollout
   (simulation + batched policy calls) and update (GAE + PPO + λ + checkpoint + telemetry).
2. A full training run (`--epochs`, resumable in `--out`), then the trained router vs
   every baseline and the clairvoyant oracle per cell: goodput, accuracy, violation, and
   the router's targets.

3. `--compare-reference`: the reference system's setup (`train.REFERENCE_SETUP`: its
   collapsing reward, ratio:1 with one shared λ, budget-blind planner and executor) and
   ours, trained with the same budget, then compared: model/strategy mix per budget
   tier, whether either collapsed (`evaluate.collapsed`), how much each mix moves with
   budget and with load (`evaluate.mix_shift`), goodput, accuracy, bust rate.

Usage: python benchmarks/router_training.py [--epochs 30] [--workflows 1000]
           [--eval-workflows 1000] [--out runs/bench-router] [--timing-only]
           [--planner-congestion-price P]
       python benchmarks/router_training.py --compare-reference [--epochs 40] [--workflows 100]
           [--eval-workflows 300] [--out runs/bench-router-reference]
"""

from __future__ import annotations

import argparse
import re
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
    parser.add_argument("--planner-congestion-price", type=float, default=None,
                        help="TrainConfig.planner_congestion_price of the training run (default: the config's)")
    parser.add_argument("--compare-reference", action="store_true")
    args = parser.parse_args()
    if args.compare_reference:
        compare_reference(args.epochs, args.workflows, args.eval_workflows, Path(args.out))
        return

    from loadwise.app.train_router import train_router
    from loadwise.rl.config import TrainConfig
    from loadwise.rl.evaluate import FIXED, evaluate_checkpoint

    out = Path(args.out)
    pd.set_option("display.width", 200)
    # 1. epoch timing (telemetry on, as a user's run)
    timing_dir = out / "timing"
    started = time.time()
    trainer = train_router(TrainConfig(epochs=args.timing_epochs, workflows=args.workflows, minibatch_size=1024,
                                       learning_rate=3e-3), timing_dir, progress=False)
    rows = [{"epoch": h["epoch"], "role_steps": h["role_steps"], "wall_s": h["seconds"],
             "rollout_wall_s": h["rollout_seconds"], "cpu_s": h["cpu_seconds"]} for h in trainer.history]
    print("\nSeconds per training epoch over the full grid (30 cells)")
    print(pd.DataFrame(rows).round(2).to_string(index=False))
    print(f"(timing section took {time.time() - started:.0f} s wall, including already finished epochs)")
    if args.timing_only:
        return

    # 2. training run and evaluation
    price = {} if args.planner_congestion_price is None else {"planner_congestion_price": args.planner_congestion_price}
    config = TrainConfig(epochs=args.epochs, workflows=args.workflows, minibatch_size=1024, learning_rate=3e-3,
                         telemetry=False, **price)
    trainer = train_router(config, out / "train")
    ev = evaluate_checkpoint(trainer.run_dir, workflows=args.eval_workflows)
    from loadwise.report.router import build_report

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


def compare_reference(epochs: int, workflows: int, eval_workflows: int, out: Path) -> None:
    """Train the reference's setup and ours with the same budget; compare mixes and goodput."""
    import numpy as np
    import torch

    from loadwise.app.train_router import train_router
    from loadwise.rl.config import REFERENCE_SETUP, TrainConfig
    from loadwise.rl.constraint import Constraint
    from loadwise.rl.evaluate import collapsed, evaluate_routers, mix_of, mix_shift
    from loadwise.rl.router import load_router
    from loadwise.systems.agentserve.routing import MODELS, STRATEGIES

    torch.set_num_threads(1)
    rates, budgets = (20.0, 50.0, 100.0, 200.0), (10.0, 50.0, 200.0, 600.0, 1800.0)
    routers = {}
    for name, setup in (("reference", REFERENCE_SETUP), ("ours", {})):
        started = time.process_time()
        config = TrainConfig(rates=rates, budgets=budgets, workflows=workflows, epochs=epochs, minibatch_size=512,
                             telemetry=False, seed=1, **setup)
        trainer = train_router(config, out / name)
        print(f"{name}: trained {epochs} epochs in {time.process_time() - started:.0f} CPU s")
        routers[name], _ = load_router(trainer.run_dir, seed=5, name=name)
    ev = evaluate_routers(routers, rates, budgets, eval_workflows, seed=11, constraint=Constraint("bust", 0.05),
                          trained="ours")
    rows, mixes = [], []
    for name in routers:
        c = ev.cells[ev.cells["router"] == name]
        rows.append({"router": name, "collapsed": collapsed(ev, name),
                     "mix shift budget 10/1800": mix_shift(ev, name, "budget", 10.0, 1800.0),
                     "mix shift budget 50/200": mix_shift(ev, name, "budget", 50.0, 200.0),
                     "mix shift rate 20/200": mix_shift(ev, name, "rate", 20.0, 200.0),
                     "goodput": c["goodput"].mean(), "accuracy": c["accuracy"].mean(),
                     "bust": c["violation_rate"].mean(), "cost ratio": c["cost_ratio"].mean()})
        for budget in (None, *budgets):
            models, strategies = mix_of(ev, name, **({} if budget is None else {"budget": budget}))
            mixes.append({"router": name, "budget": "all" if budget is None else budget,
                          **{re.search(r"\d+B", m).group(0): v for m, v in zip(MODELS, 100 * models)},
                          **dict(zip(STRATEGIES, 100 * strategies)),
                          "bust %": 100 * (np.nan if budget is None else
                                           c[c["budget"] == budget]["violation_rate"].mean())})
    print("\nReference setup vs ours (same training budget)")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    print("\nModel and strategy mix (% of role steps) and bust rate by budget tier")
    print(pd.DataFrame(mixes).round(1).to_string(index=False))


if __name__ == "__main__":
    main()
