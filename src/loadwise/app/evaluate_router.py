"""`loadwise router eval`: a trained router beside every baseline and the clairvoyant oracle.

Writes a run folder with `run.json`, `evaluation.json` (every number, the per-cell
targets included), `cells.csv` (one row per router and cell) and the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadwise.app.rundir import new_run_dir, write_run_info
from loadwise.files import write_json
from loadwise.report.router import build_report
from loadwise.rl.evaluate import ALL_BASELINES, DEFAULT_TEMPERATURE, EVAL_SEEDS, Evaluation, evaluate_checkpoint
from loadwise.systems.agentserve import make_router

RUN_KIND = "router-eval"


@dataclass
class RouterEvaluation:
    """The evaluation, its JSON form, and where the run folder and report are."""

    evaluation: Evaluation
    result: dict[str, Any]
    run_dir: Path
    report: dict[str, Path]


def evaluate_router(checkpoint: str | Path, rates: Sequence[float] | None = None,
                    budgets: Sequence[float] | None = None, workflows: int = 1000,
                    seeds: int | Sequence[int] = EVAL_SEEDS,
                    baselines: Sequence[str] = ALL_BASELINES, greedy: bool = False,
                    temperature: float = DEFAULT_TEMPERATURE, out: str | Path | None = None,
                    on_router: Callable[[str], None] | None = None) -> RouterEvaluation:
    """Evaluate the router of `checkpoint` (a file or a training run folder) on its grid or the one given,
    on each of `seeds` (a cell's figures: means over the seeds; its interval pools them)."""
    seeds = [int(seeds)] if isinstance(seeds, int) else [int(s) for s in seeds]
    for name in baselines:
        make_router(name)  # a bad name is an error before any work
    ev = evaluate_checkpoint(checkpoint, tuple(rates) if rates else None, tuple(budgets) if budgets else None,
                             workflows, seeds, tuple(baselines), greedy, on_router=on_router, temperature=temperature)
    run_dir = new_run_dir(RUN_KIND, out)
    write_run_info(run_dir, RUN_KIND, {
        "checkpoint": str(checkpoint), "rates": list(rates) if rates else None,
        "budgets": list(budgets) if budgets else None, "workflows": workflows, "seeds": seeds,
        "baselines": list(baselines), "greedy": greedy, "temperature": temperature,
    })
    result = ev.to_json()
    write_json(run_dir / "evaluation.json", result)
    ev.cells.to_csv(run_dir / "cells.csv", index=False)
    report = build_report(ev).write(run_dir)
    return RouterEvaluation(ev, result, run_dir, report)
