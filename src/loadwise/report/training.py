"""The report of `loadwise router train`: how the last epoch ended and how training got there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import number, percent


def training_report(history: Sequence[dict[str, Any]], config: dict[str, Any], epochs: int) -> Report:
    """Built from the run folder's `history.json` (one line per epoch) and `run.json`'s config."""
    import matplotlib.pyplot as plt

    rep = Report("Router training: PPO-Lagrangian")
    if not history:
        rep.summarize(f"No epoch has finished yet (0 of {epochs}).",
                      next_step="`loadwise router train --out RUN_DIR` resumes the training")
        return rep
    frame = pd.DataFrame([{k: v for k, v in line.items() if not isinstance(v, (list, dict))} for line in history])
    if "epoch" not in frame.columns:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    last = frame.iloc[-1]
    tail = frame.tail(max(1, len(frame) // 5))
    rep.summarize(
        f"{len(frame)} of {epochs} epochs trained on rates {', '.join(number(r) for r in config['rates'])} req/min and "
        f"budgets {', '.join(number(b) for b in config['budgets'])} s. In the last epoch the router's goodput was "
        f"{number(last['goodput'])} with a budget violation (bust) rate of {percent(last['bust_rate'])}; over the last "
        f"{len(tail)} epoch(s) goodput averaged {number(tail['goodput'].mean())}. Training figures are noisy, "
        "on-policy samples: the evaluation against the baselines and the oracle is the judge.",
        tail[[c for c in ("epoch", "goodput", "bust_rate", "accuracy", "reward", "cost") if c in frame.columns]],
        next_step="`loadwise router eval RUN_DIR` compares this router with every baseline and the clairvoyant oracle",
        key={"answer": f"{len(frame)} epochs, last goodput {number(last['goodput'])}"})
    shown = [c for c in ("goodput", "bust_rate", "accuracy", "reward", "cost") if c in frame.columns]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 2.8), squeeze=False)
    for ax, column in zip(axes[0], shown):
        ax.plot(frame["epoch"], frame[column], "o-", ms=3)
        ax.set_xlabel("epoch")
        ax.set_title(column.replace("_", " "), fontsize=9)
    fig.tight_layout()
    rep.heading("Training curves")
    rep.figure(fig, "training", "Per-epoch figures of the training rollouts")
    rep.heading("Every epoch")
    rep.table(frame, caption="history.json, one line per epoch")
    return rep
