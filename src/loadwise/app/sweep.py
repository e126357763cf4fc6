"""`loadwise serve sweep`: one router over a rate × budget grid, with telemetry and a report.

The grid is a scenario set of the `agentserve` system (`scenarios.grid`); its cells run
through the evaluate backends like any runs — in this process (`jobs` 1), on a process
pool or on Ray — with all cells of a worker's chunk in lockstep (one router call per
round across them). Every cell shares `seed`, so all cells see the same items and unit
arrival process (common random numbers). Each finished cell is kept as it finishes, in
`cells/<label>/`: its telemetry (`steps.parquet`, `workflows.parquet`), then
`metrics.json` (its table row and per-server statistics), which marks it complete; the
run cache (`runs.db`) keeps every run's metrics too. An interrupted sweep resumes by
running only the cells without `metrics.json`. The run folder also holds `table.csv`
(one row per cell) and `report.md` / `report.html`; the audit reads the telemetry of the
whole folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.app.progress import make_progress
from loadwise.app.rundir import new_run_dir, not_written, note_unfinished, read_run_info, write_run_info
from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, RunCache, RunResult, RunSpec, make_backend
from loadwise.files import read_json, write_json, write_text
from loadwise.params import resolve
from loadwise.report.sweep import build_report
from loadwise.scenarios.grid import RateBudgetGrid, cell_label
from loadwise.scenarios.scenario import Scenario, ScenarioSet
from loadwise.systems.agentserve import telemetry
from loadwise.systems.agentserve.profiles import load_profiles
from loadwise.systems.agentserve.routing import STRATEGIES, model_size
from loadwise.systems.agentserve.simulator import Cell
from loadwise.systems.agentserve.system import AgentServe
from loadwise.systems.agentserve.workload import load_arrivals
from loadwise.systems.base import identity

RUN_KIND = "serve-sweep"
CACHE_FILE = "runs.db"
CELL_FILE = "metrics.json"
TABLE_COLUMNS = (
    "rate", "budget", "workflows", "steps", "mean_latency", "p95_latency", "mean_latency_excl_decision",
    "violation_rate", "violation_rate_excl_decision", "accuracy", "goodput", "cost_ratio",
    "mean_queue", "idle_share",
)


@dataclass
class SweepResult:
    """One row per cell (`table`) and where the run folder and its report are."""

    table: pd.DataFrame
    run_dir: Path
    report: dict[str, Path]


def cell_row(rate: float, budget: float, metrics: Mapping[str, float], model_names: Sequence[str]) -> dict[str, Any]:
    """One table row: the cell and its figures, model and strategy shares as 'mix:...' columns."""
    row: dict[str, Any] = {"rate": rate, "budget": budget}
    row.update({k: metrics[k] for k in TABLE_COLUMNS[2:]})
    for name in model_names:
        row[f"mix:{model_size(name)}"] = metrics[f"share:{name}"]
    for s in STRATEGIES:
        row[f"mix:{s}"] = metrics[f"share:{s}"]
    return row


def sweep(
    rates: Sequence[float],
    budgets: Sequence[float],
    router: str = "greedy",
    workflows: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    jobs: int = 1,
    pattern: str = "poisson",
    discipline: str = "fcfs",
    profiles: str | Path | None = None,
    replay: str | Path | None = None,
    backend: str | None = None,
    progress: bool = True,
) -> SweepResult:
    """Simulate `router` on every (rate, budget) cell; returns the table and the run folder.

    `jobs` 1 runs in this process; more runs `jobs` chunks of cells on the process pool
    (or on Ray with `backend="ray"`). `replay` is a file of arrival times (implies the
    replay pattern).
    """
    if int(jobs) < 1:
        raise ConfigError("jobs", f"must be at least 1, got {jobs}")
    system = AgentServe(router, str(profiles) if profiles is not None else None)
    grid = RateBudgetGrid.of([float(r) for r in rates], [float(b) for b in budgets])
    if replay is not None:
        pattern = "replay"
        have = len(load_arrivals(replay))
        if have < int(workflows):
            raise ConfigError("replay", f"needs at least workflows ({workflows}) arrival times, the file has {have}")
    Cell(grid.rates[0], grid.budgets[0], int(workflows), pattern, discipline).check()
    prof = load_profiles(profiles)
    config = resolve(system.knobs, {"discipline": discipline})
    scenarios = grid.scenario_set(int(workflows), pattern, name="sweep")
    if replay is not None:
        scenarios = ScenarioSet(tuple(Scenario(s.name, s.weight, {**s.params, "arrivals": str(replay)})
                                      for s in scenarios.scenarios), name=scenarios.name)
    specs = [RunSpec(config, s.name, dict(s.params), 0, int(seed), purpose="sweep", record=True)
             for s in scenarios.checked(system.scenario_params).scenarios]
    settings = {
        "rates": list(grid.rates), "budgets": list(grid.budgets), "router": router, "workflows": int(workflows),
        "seed": int(seed), "pattern": pattern, "discipline": discipline, "profiles": prof.path,
        "replay": str(replay) if replay is not None else None,
    }

    run_dir = new_run_dir(RUN_KIND, out)
    if (run_dir / "run.json").is_file() and read_run_info(run_dir, RUN_KIND)["config"] != settings:
        raise ConfigError("out", f"{run_dir} holds a sweep with a different configuration; use another folder")
    write_run_info(run_dir, RUN_KIND, settings)
    todo = [s for s in specs if not (_cell_dir(run_dir, s) / CELL_FILE).is_file()]
    per_cell, finished = int(workflows), len(specs) - len(todo)
    with make_progress(disable=not progress) as bar:
        task = bar.add_task(f"sweep {router}", total=len(specs) * per_cell, completed=finished * per_cell,
                            info=f"{finished}/{len(specs)} cells")
        if todo:
            def on_progress(workflows_done: int, _total: int) -> None:
                bar.update(task, completed=finished * per_cell + workflows_done)

            def on_result(result: RunResult) -> None:
                nonlocal finished
                _keep_cell(run_dir, result, prof.model_names)
                finished += 1
                bar.update(task, completed=finished * per_cell, info=f"{finished}/{len(specs)} cells")

            name = backend or ("inline" if int(jobs) == 1 else "local")
            cache = RunCache(f"sqlite:///{(run_dir / CACHE_FILE).resolve()}", RUN_KIND, identity(system))
            evaluator = Evaluator(make_backend(name, system, int(jobs), on_progress=on_progress), cache)
            try:
                evaluator.run_all(todo, on_result, chunks=int(jobs))
            finally:
                evaluator.close()
                cache.close()
    table = _finished_cells(run_dir, settings)
    write_text(run_dir / "table.csv", table.to_csv(index=False))
    return SweepResult(table, run_dir, render(run_dir))


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the sweep's report from its folder: `run.json` and every finished cell's `metrics.json`.

    A sweep interrupted before its last cell reports the cells it finished and says how
    to finish it.
    """
    run_dir = Path(run_dir)
    settings = read_run_info(run_dir, RUN_KIND)["config"]
    table = _finished_cells(run_dir, settings)
    command = f"loadwise serve sweep --out {run_dir} (with the same settings)"
    if table.empty:
        raise not_written(run_dir, "its first cell", command)
    report = build_report(table, settings)
    cells = len(settings["rates"]) * len(settings["budgets"])
    if len(table) < cells:
        note_unfinished(report, f"{len(table)} of {cells} cells finished", command)
    return report.write(run_dir)


def _finished_cells(run_dir: Path, settings: Mapping[str, Any]) -> pd.DataFrame:
    """One row per finished cell, rate-major (the grid's order)."""
    files = [run_dir / "cells" / cell_label(float(r), float(b)) / CELL_FILE
             for r in settings["rates"] for b in settings["budgets"]]
    return pd.DataFrame([read_json(f)["row"] for f in files if f.is_file()])


def _cell_dir(run_dir: Path, spec: RunSpec) -> Path:
    return run_dir / "cells" / cell_label(spec.params["rate"], spec.params["budget"])


def _keep_cell(run_dir: Path, result: RunResult, model_names: Sequence[str]) -> None:
    """Write a finished cell's telemetry, then its marker; a failed cell stops the sweep with its reason."""
    spec = result.spec
    if not result.ok:
        raise ConfigError("sweep", f"cell {spec.scenario} failed: {result.reason}")
    folder = _cell_dir(run_dir, spec)
    artifacts = result.artifacts or {}
    telemetry.write(folder, artifacts["steps"], artifacts["workflows"])
    row = cell_row(spec.params["rate"], spec.params["budget"], result.metrics, model_names)
    write_json(folder / CELL_FILE, {"row": row, "servers": artifacts["servers"]})  # last: the cell is complete
