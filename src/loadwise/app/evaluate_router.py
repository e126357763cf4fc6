"""`loadwise router eval`: a trained router beside every baseline and the clairvoyant oracle.

Writes a run folder with `run.json`, `evaluation.json` (every number, the per-cell
targets included), `cells.csv` (one row per router and cell), `outcomes.parquet` (per
router, cell and workflow in arrival order: solved within budget, which the report's
paired intervals come from) and the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.app.rundir import new_run_dir, not_written, read_run_info, write_run_info
from loadwise.files import read_json, write_json
from loadwise.report.router import build_report
from loadwise.rl.constraint import Constraint
from loadwise.rl.evaluate import ALL_BASELINES, DEFAULT_TEMPERATURE, EVAL_SEEDS, Evaluation, evaluate_checkpoint
from loadwise.systems.agentserve import make_router

RUN_KIND = "router-eval"
OUTCOMES_FILE = "outcomes.parquet"


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
    _outcomes_table(ev).to_parquet(run_dir / OUTCOMES_FILE, index=False)
    return RouterEvaluation(ev, result, run_dir, render(run_dir))


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the evaluation's report from `evaluation.json`, `cells.csv` and `outcomes.parquet`."""
    run_dir = Path(run_dir)
    read_run_info(run_dir, RUN_KIND)
    needed = [run_dir / name for name in ("evaluation.json", "cells.csv", OUTCOMES_FILE)]
    if not all(path.is_file() for path in needed):
        raise not_written(run_dir, "its results", "loadwise router eval CHECKPOINT --out RUN_DIR")
    saved = read_json(needed[0])
    outcomes: dict[tuple[str, float, float], list] = {}
    for (router, rate, budget, _), part in pd.read_parquet(needed[2]).groupby(
            ["router", "rate", "budget", "seed_index"], sort=True):
        outcomes.setdefault((str(router), float(rate), float(budget)), []).append(part["solved"].to_numpy(dtype=bool))
    ev = Evaluation(pd.read_csv(needed[1]), saved["trained"], Constraint.parse(saved["constraint"]), outcomes)
    return build_report(ev).write(run_dir)


def _outcomes_table(ev: Evaluation) -> pd.DataFrame:
    """One row per router, cell, evaluation seed (its index) and workflow (arrival order kept):
    whether it was solved within budget."""
    frames = [pd.DataFrame({"router": router, "rate": rate, "budget": budget, "seed_index": i, "solved": solved})
              for (router, rate, budget), per_seed in ev.outcomes.items() for i, solved in enumerate(per_seed)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["router", "rate", "budget", "seed_index", "solved"])
