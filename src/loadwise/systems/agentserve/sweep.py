"""`loadwise serve sweep`: one router over a rate x budget grid, with telemetry and a report.

The cells are simulated in lockstep (one router call per round across cells), split
into `jobs` chunks run by worker processes when jobs > 1. Every finished cell is saved
in the run folder (`cells/<label>/`), so an interrupted sweep resumes where it stopped;
the run folder holds `steps.parquet` and `workflows.parquet` (telemetry,
one pair per cell under `cells/`; `telemetry.load(run_folder)` reads them all),
`table.csv` (one row per cell), and `report.md` / `report.html`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd

from loadwise.errors import ConfigError
from loadwise.app.rundir import new_run_dir, read_run_info, write_run_info
from loadwise.files import read_json, write_json, write_text
from loadwise.systems.agentserve import telemetry
from loadwise.systems.agentserve.lockstep import Lockstep
from loadwise.systems.agentserve.profiles import Profiles, load_profiles
from loadwise.systems.agentserve.routers import make_router
from loadwise.systems.agentserve.routing import STRATEGIES, Router
from loadwise.systems.agentserve.simulator import DISCIPLINES, Cell, SimResult
from loadwise.systems.agentserve.workload import PATTERNS

RUN_KIND = "serve-sweep"
TABLE_COLUMNS = (
    "rate", "budget", "workflows", "steps", "mean_latency", "p95_latency", "mean_latency_excl_decision",
    "violation_rate", "violation_rate_excl_decision", "accuracy", "goodput", "cost_ratio",
    "mean_queue", "idle_share",
)


def short_model_name(name: str) -> str:
    """A compact column label for a model, e.g. 'Llama-3.2-3B-Instruct' -> '3B'."""
    for part in name.replace("_", "-").split("-"):
        if part[:-1].replace(".", "").isdigit() and part[-1:] in ("B", "b"):
            return part.upper()
    return name


def cell_row(result: SimResult, model_names: Sequence[str]) -> dict[str, Any]:
    """One table row: the cell and its figures, model and strategy shares as 'mix:...' columns."""
    m = result.metrics
    row: dict[str, Any] = {"rate": result.cell.rate, "budget": result.cell.budget}
    row.update({k: m[k] for k in TABLE_COLUMNS[2:]})
    for name in model_names:
        row[f"mix:{short_model_name(name)}"] = m[f"share:{name}"]
    for s in STRATEGIES:
        row[f"mix:{s}"] = m[f"share:{s}"]
    return row


def _run_chunk(cells: list[Cell], router: str | Router, seed: int, profiles: Profiles,
               on_round: Callable[[Lockstep], None] | None = None) -> list[SimResult]:
    """Simulate a chunk of cells in lockstep (in a worker when jobs > 1); results with telemetry."""
    rt = make_router(router) if isinstance(router, str) else router
    driver = Lockstep(cells, seed, profiles)
    driver.run(rt, on_round)
    return driver.results(record=True)


def parse_number_list(text: str, option: str) -> list[float]:
    """'20,30,50' -> [20.0, 30.0, 50.0]; anything else is a ConfigError naming the option."""
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            v = float(part)
        except ValueError:
            raise ConfigError(option, f"expected comma-separated positive numbers, got {part!r}") from None
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(option, f"expected comma-separated positive numbers, got {part!r}")
        values.append(v)
    if len(set(values)) != len(values):
        raise ConfigError(option, "values must be distinct")
    return values


def sweep(
    rates: Sequence[float],
    budgets: Sequence[float],
    router: str | Router = "greedy",
    workflows: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    jobs: int = 1,
    pattern: str = "poisson",
    discipline: str = "fcfs",
    profiles: Profiles | str | Path | None = None,
    replay: Sequence[float] | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, Path]:
    """Simulate `router` on every (rate, budget) cell; returns (table, run folder).

    All cells share `seed` (common random numbers: the same items and unit arrival
    process at every rate). A named router is rebuilt in each worker; a Router object
    must be picklable when jobs > 1.
    """
    from loadwise.app.progress import make_progress

    if not rates or not budgets:
        raise ConfigError("--rates" if not rates else "--budgets", "at least one value is required")
    if int(workflows) < 1:
        raise ConfigError("--workflows", f"must be at least 1, got {workflows}")
    if int(jobs) < 1:
        raise ConfigError("--jobs", f"must be at least 1, got {jobs}")
    if pattern not in PATTERNS:
        raise ConfigError("--pattern", f"unknown pattern {pattern!r}; allowed: {', '.join(PATTERNS)}")
    if discipline not in DISCIPLINES:
        raise ConfigError("--discipline", f"unknown queue discipline {discipline!r}; allowed: {', '.join(DISCIPLINES)}")
    router_name = router if isinstance(router, str) else getattr(router, "name", "router")
    if isinstance(router, str):
        make_router(router)  # fail early on a bad name
    prof = profiles if isinstance(profiles, Profiles) else load_profiles(profiles)
    replay_t = tuple(float(x) for x in replay) if replay is not None else None
    if pattern == "replay" and (replay_t is None or len(replay_t) < int(workflows)):
        have = 0 if replay_t is None else len(replay_t)
        raise ConfigError("--replay", f"needs at least --workflows ({workflows}) arrival times, the file has {have}")
    cells = [Cell(float(r), float(b), int(workflows), pattern, discipline, replay_t).check()
             for r in rates for b in budgets]
    config = {
        "rates": [float(r) for r in rates], "budgets": [float(b) for b in budgets], "router": router_name,
        "workflows": int(workflows), "seed": int(seed), "pattern": pattern, "discipline": discipline,
        "profiles": prof.path, "replay": len(replay_t) if replay_t else None,
    }
    run_dir = new_run_dir("serve-sweep", out)
    if (run_dir / "run.json").is_file():
        previous = read_run_info(run_dir, RUN_KIND)["config"]
        if previous != config:
            raise ConfigError("--out", f"{run_dir} holds a sweep with a different configuration; use another folder")
    write_run_info(run_dir, RUN_KIND, config)

    todo = [c for c in cells if not (run_dir / "cells" / c.label / "metrics.json").is_file()]
    per_cell = int(workflows)
    with make_progress(disable=not progress) as bar:
        # progress in workflows finished; cells done in an earlier (interrupted) run count as finished
        task = bar.add_task(f"sweep {router_name}", total=len(cells) * per_cell, info="")
        resumed = (len(cells) - len(todo)) * per_cell
        bar.update(task, completed=resumed, info=f"{len(cells) - len(todo)}/{len(cells)} cells")
        if todo:
            n_chunks = min(int(jobs), len(todo))
            chunks = [todo[i::n_chunks] for i in range(n_chunks)]
            if n_chunks == 1:
                def tick(driver: Lockstep) -> None:
                    if driver.rounds % 100 == 0:
                        bar.update(task, completed=resumed + driver.progress()[0])

                _save_cells(run_dir, _run_chunk(chunks[0], router, seed, prof, tick), prof)
                bar.update(task, completed=len(cells) * per_cell, info=f"{len(cells)}/{len(cells)} cells")
            else:
                with ProcessPoolExecutor(max_workers=n_chunks) as pool:
                    futures = [pool.submit(_run_chunk, ch, router, seed, prof) for ch in chunks]
                    finished = len(cells) - len(todo)
                    for fut in as_completed(futures):
                        done = fut.result()
                        _save_cells(run_dir, done, prof)
                        finished += len(done)
                        bar.update(task, advance=len(done) * per_cell, info=f"{finished}/{len(cells)} cells")
    table = pd.DataFrame([read_json(run_dir / "cells" / c.label / "metrics.json")["row"] for c in cells])
    write_text(run_dir / "table.csv", table.to_csv(index=False))
    build_report(table, config).write(run_dir)
    return table, run_dir


def _save_cells(run_dir: Path, results: list[SimResult], prof: Profiles) -> None:
    for res in results:
        folder = run_dir / "cells" / res.cell.label
        telemetry.write(folder, res.steps, res.workflows)
        # metrics.json last: its presence marks the cell as done
        write_json(folder / "metrics.json", {"row": cell_row(res, prof.model_names), "servers": res.servers})


def build_report(table: pd.DataFrame, config: dict[str, Any]):
    """The sweep's report: configuration, per-cell table, goodput / violation grids, load figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from loadwise.report import Report

    rep = Report(f"agentserve sweep — router {config['router']}")
    rep.paragraph(
        f"{len(table)} cells (rates {', '.join(f'{r:g}' for r in config['rates'])} req/min x budgets "
        f"{', '.join(f'{b:g}' for b in config['budgets'])} s), {config['workflows']} workflows each, "
        f"{config['pattern']} arrivals, {config['discipline'].upper()} queues, seed {config['seed']}, "
        f"profiles {config['profiles']}. Goodput is the share of workflows solved within their budget; "
        "latencies include the final decision step unless marked 'excl_decision'; queue depth is the "
        "chosen server's running + waiting requests at dispatch; idle share is the share of dispatches "
        "with queue depth < 3."
    )
    for metric, caption in (("goodput", "Goodput by rate (rows) and budget (columns)"),
                            ("violation_rate", "Budget violation rate"),
                            ("mean_latency", "Mean workflow latency, s")):
        grid = table.pivot(index="rate", columns="budget", values=metric)
        grid.columns = [f"budget {b:g}" for b in grid.columns]
        rep.table(grid, caption=caption, index=True)
    rep.table(table, caption="All figures per cell (mix: share of role steps per model / strategy)")
    by_rate = table.groupby("rate")[["mean_queue", "idle_share", "mean_latency"]].mean()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(by_rate.index, by_rate["mean_queue"], marker="o")
    ax[0].set_xlabel("arrival rate, req/min")
    ax[0].set_ylabel("mean queue depth at dispatch")
    for b, part in table.groupby("budget"):
        ax[1].plot(part["rate"], part["goodput"], marker="o", label=f"{b:g} s")
    ax[1].set_xlabel("arrival rate, req/min")
    ax[1].set_ylabel("goodput")
    ax[1].legend(title="budget", fontsize=7)
    fig.tight_layout()
    rep.figure(fig, "load", caption="Queue depth and goodput against arrival rate")
    return rep

