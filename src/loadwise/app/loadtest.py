"""`loadwise router loadtest`: the simulator's workloads through a live gateway, scored like `router eval`.

The run folder holds `run.json`, one folder per cell under `cells/<label>/` with its
telemetry (`steps.parquet`, `workflows.parquet`, read by `loadwise audit` and `serve
calibrate` like the simulator's) and then `metrics.json`, which marks the cell complete —
an interrupted load test resumes with the cells not yet done; `table.csv` (one row per
cell), `comparison.csv` with `--compare-sim`, and the report. Cells run one after the
other, so each is a load level of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.app.progress import make_progress
from loadwise.app.rundir import new_run_dir, not_written, note_unfinished, read_run_info, write_run_info
from loadwise.errors import ConfigError
from loadwise.files import read_json, write_json, write_text
from loadwise.gateway.asgi import run as run_async
from loadwise.gateway.compare import compare
from loadwise.gateway.loadtest import PLANNERS, LoadTestOptions, fetch_info, run_cell
from loadwise.report.format import number
from loadwise.report.loadtest import build_report
from loadwise.scenarios.grid import cell_label
from loadwise.systems.agentserve import telemetry
from loadwise.systems.agentserve.profiles import load_profiles
from loadwise.systems.agentserve.routing import MODELS, STRATEGIES
from loadwise.systems.agentserve.simulator import Cell

RUN_KIND = "router-loadtest"
CELL_FILE = "metrics.json"
COMPARISON_FILE = "comparison.json"
METRICS = ("goodput", "accuracy", "violation_rate", "violation_rate_excl_decision", "mean_latency",
           "p95_latency", "cost_ratio", "mean_queue", "idle_share", "mean_step_latency", "steps", "workflows",
           "errors", "retried", "arrival_lag_p95")


@dataclass
class LoadTestResult:
    """One row per cell (`cells`, the `router eval` columns), the sim-to-real comparison when asked,
    and where the run folder and its report are."""

    cells: pd.DataFrame
    comparison: pd.DataFrame | None
    pooled: dict[str, Any] | None
    run_dir: Path
    report: dict[str, Path]
    settings: dict[str, Any]


def _row(router: str, cell: Cell, metrics: dict[str, float], seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"router": router, "rate": cell.rate, "budget": cell.budget}
    row.update({k: float(metrics.get(k, math.nan)) for k in METRICS})
    row.update({f"model:{n}": float(metrics.get(f"share:{n}", 0.0)) for n in MODELS})
    row.update({f"strategy:{s}": float(metrics.get(f"share:{s}", 0.0)) for s in STRATEGIES})
    row["seconds"] = seconds
    return row


def loadtest(gateway: str, rates: Sequence[float], budgets: Sequence[float], workflows: int = 300,
             pattern: str = "poisson", seed: int = 0, out: str | Path | None = None, speedup: float | None = None,
             discipline: str = "fcfs",
             stream: bool = False, planner: str = "gateway", compare_sim: bool = False,
             sim_router: str | None = None, profiles: str | Path | None = None, timeout: float = 120.0,
             progress: bool = True) -> LoadTestResult:
    """Drive every (rate, budget) cell's workload through `gateway` (its base URL); see the module docstring.

    `speedup` defaults to the gateway's own (`/loadwise/v1/info`, 1 for other gateways);
    `discipline` is the servers' waiting-line order (the emulator's), for the simulated cells;
    `compare_sim` also simulates the cells with the router the gateway serves (or `sim_router`,
    a router name or checkpoint) and reports both side by side.
    """
    gateway = gateway.rstrip("/").removesuffix("/v1")
    if not gateway.startswith(("http://", "https://")):
        raise ConfigError("gateway", f"expected http://HOST:PORT, got {gateway!r}")
    if planner not in PLANNERS:
        raise ConfigError("planner", f"unknown planner {planner!r}; allowed: {', '.join(PLANNERS)}")
    if not rates or not budgets:
        raise ConfigError("rates" if not rates else "budgets", "at least one value is required")
    if not timeout > 0:
        raise ConfigError("timeout", f"must be positive, got {timeout}")
    cells = [Cell(float(r), float(b), int(workflows), pattern, discipline).check() for r in rates for b in budgets]
    info = fetch_info(gateway)
    if info is None and planner == "gateway":
        raise ConfigError("gateway", f"{gateway} is not a loadwise gateway (no /loadwise/v1/info): start one with "
                          "`loadwise router serve`, or use --planner reference for another gateway")
    k = float(speedup if speedup is not None else (info or {}).get("speedup", 1.0))
    if not k > 0:
        raise ConfigError("speedup", f"must be positive, got {k}")
    prof = load_profiles(profiles)
    router_label = sim_router or (info or {}).get("router")
    if compare_sim and not router_label:
        raise ConfigError("sim_router", "the gateway does not say which router it serves; give --sim-router")
    settings = {
        "gateway": gateway, "rates": [float(r) for r in rates], "budgets": [float(b) for b in budgets],
        "workflows": int(workflows), "pattern": pattern, "discipline": discipline, "seed": int(seed), "speedup": k,
        "stream": stream,
        "planner": planner, "router": router_label, "profiles": prof.path, "timeout": timeout,
    }
    run_dir = new_run_dir(RUN_KIND, out)
    if (run_dir / "run.json").is_file():
        before = read_run_info(run_dir, RUN_KIND)["config"]
        if {k_: v for k_, v in before.items() if k_ != "gateway"} != \
                {k_: v for k_, v in settings.items() if k_ != "gateway"}:
            raise ConfigError("out", f"{run_dir} holds a load test with other settings; use another folder")
    write_run_info(run_dir, RUN_KIND, settings)
    options = LoadTestOptions(gateway, k, stream, planner, timeout)
    label = router_label or "gateway"
    rows, frames = [], []
    with make_progress(disable=not progress) as bar:
        for cell in cells:
            folder = run_dir / "cells" / cell_label(cell.rate, cell.budget)
            task = bar.add_task(f"{cell.label}", total=cell.workflows)
            if (folder / CELL_FILE).is_file():
                saved = read_json(folder / CELL_FILE)
                bar.update(task, completed=cell.workflows, info="done earlier")
            else:
                run = run_async(run_cell(cell, seed, prof, options, run_id=run_dir.name,
                                           on_workflow=lambda done, _n, t=task: bar.update(t, completed=done)))
                telemetry.write(folder, run.steps, run.workflows)
                saved = {"row": _row(label, cell, run.metrics, run.seconds), "errors": run.errors}
                write_json(folder / CELL_FILE, saved)  # last: the cell is complete
                bar.update(task, info=f"goodput {number(run.metrics['goodput'], 4)}, {number(run.seconds, 4)} s")
            rows.append(saved["row"])
            frames.append((cell.rate, cell.budget, telemetry.load(folder).workflows))
    table = pd.DataFrame(rows)
    write_text(run_dir / "table.csv", table.to_csv(index=False))
    comparison = pooled = None
    if compare_sim:
        comparison, pooled = _compare(cells, seed, prof, str(router_label), frames)
        write_text(run_dir / "comparison.csv", comparison.to_csv(index=False))
        write_json(run_dir / COMPARISON_FILE, {"cells": comparison.to_dict(orient="records"), "pooled": pooled})
    return LoadTestResult(table, comparison, pooled, run_dir, render(run_dir), settings)


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the load test's report from `run.json`, each finished cell's `metrics.json` and
    `comparison.json` (with `--compare-sim`); a load test stopped early reports the cells it finished."""
    run_dir = Path(run_dir)
    settings = read_run_info(run_dir, RUN_KIND)["config"]
    files = [run_dir / "cells" / cell_label(float(r), float(b)) / CELL_FILE
             for r in settings["rates"] for b in settings["budgets"]]
    rows = [read_json(f)["row"] for f in files if f.is_file()]
    command = f"loadwise router loadtest --gateway URL --out {run_dir} (with the same settings)"
    if not rows:
        raise not_written(run_dir, "its first cell", command)
    comparison = pooled = None
    if (run_dir / COMPARISON_FILE).is_file():
        saved = read_json(run_dir / COMPARISON_FILE)
        comparison, pooled = pd.DataFrame(saved["cells"]), saved["pooled"]
    report = build_report(pd.DataFrame(rows), {**settings, "run_dir": str(run_dir)}, comparison, pooled)
    if len(rows) < len(files):
        note_unfinished(report, f"{len(rows)} of {len(files)} cells finished", command)
    return report.write(run_dir)


def _compare(cells: list[Cell], seed: int, profiles, router_label: str, frames) -> tuple[pd.DataFrame, dict]:
    """The same cells in the simulator with the gateway's router."""
    from loadwise.gateway import load_gateway_router
    from loadwise.systems.agentserve import run_cells

    is_path = Path(router_label).exists()
    router, _ = load_gateway_router(None if is_path else router_label, router_label if is_path else None, seed)
    sims = run_cells(cells, router, seed, profiles, record=True)
    return compare(frames, sims)
