"""A short router training and evaluation for `loadwise demo` (about a minute on 2 cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadwise.rl.evaluate import HEURISTICS, evaluate_checkpoint
from loadwise.rl.report import build_report
from loadwise.rl.train import TrainConfig, train

DEMO_RATES = (20.0, 100.0, 200.0)
DEMO_BUDGETS = (10.0, 50.0, 600.0)
DEMO_BASELINES = (*HEURISTICS, "fixed:3B:flash", "fixed:32B:deepthink")


def demo_router(folder: str | Path, seed: int = 0, epochs: int = 15, workflows: int = 120,
                show_progress: bool = True) -> dict[str, Any]:
    """Train on a 3 × 3 grid for a few epochs, evaluate against baselines and the oracle.

    Writes `folder/train` (a `router train` run folder: checkpoints, history, role-step
    telemetry the audit reads) and `folder/eval` (report.md/.html, pareto.png,
    evaluation.json). Returns the two folders, the report (to embed with
    `Report.extend`) and the evaluation's JSON.
    """
    from loadwise.files import write_json

    folder = Path(folder)
    config = TrainConfig(rates=DEMO_RATES, budgets=DEMO_BUDGETS, workflows=workflows, epochs=epochs,
                         minibatch_size=512, seed=seed)
    trainer = train(config, folder / "train", show_progress=show_progress)
    evaluation = evaluate_checkpoint(trainer.run_dir, workflows=2 * workflows, seed=seed + 12345,
                                     baselines=DEMO_BASELINES)
    report = build_report(evaluation, title="Router: PPO-Lagrangian vs baselines (demo grid)")
    report.write(folder / "eval")
    result = evaluation.to_json()
    write_json(folder / "eval" / "evaluation.json", result)
    return {"train_dir": trainer.run_dir, "eval_dir": folder / "eval", "telemetry_dir": trainer.run_dir / "telemetry",
            "report": report, "evaluation": result, "history": trainer.history}
