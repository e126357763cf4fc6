"""`loadwise demo`: the project's main job, on embedded defaults, in a few minutes.

It walks through what loadwise does, one step per part, each in its own sub-folder of
the demo's run folder, and writes one combined report. A finished step leaves its
report section behind (`section.json`, with its figures' PNG files beside it), so a
demo interrupted by a crash or Ctrl-C resumes where it stopped, with the seed it started
with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from loadwise.app.rundir import RUN_FILE, new_run_dir, note_unfinished, read_run_info, write_run_info
from loadwise.errors import ConfigError
from loadwise.files import read_json, write_json
from loadwise.report.document import Report
from loadwise.report.format import number
from loadwise.report.router import build_report as build_router_report
from loadwise.rl.evaluate import HEURISTICS

SECTION_FILE = "section.json"
TIMINGS_FILE = "timings.json"  # seconds per finished step, by folder name


@dataclass(frozen=True)
class DemoStep:
    """One part of the demo: `run(folder, seed)` does the work and returns its report section."""

    name: str
    title: str
    run: Callable[[Path, int], Report]


def submit_queue_step(folder: Path, seed: int) -> Report:
    """The submit queue at its published defaults on the seed's five scenarios."""
    from loadwise.systems.submitqueue import WEIGHTED_SCENARIOS, SubmitQueue

    system = SubmitQueue()
    classic = system.objectives["classic"]
    rows = []
    for name, scenario in WEIGHTED_SCENARIOS.items():
        metrics = system.run({}, scenario.params(), seed=seed)
        rows.append(
            {
                "scenario": name,
                "weight": scenario.weight,
                "traffic": scenario.traffic,
                "slowdown": metrics["slowdown"],
                "mb pass rate": metrics["mb_pass_rate"],
                "victim rate": metrics["victim_rate"],
                "avg submit time (h)": metrics["avg_submit_time"],
                "p95 time to land (h)": metrics["time_to_land_p95_h"],
                "escaped culprits /1000": metrics["culprits_escaped_per_1000"],
                "false rejections /1000": metrics["innocents_rejected_per_1000"],
                "dropped /1000": metrics["dropped_per_1000"],
                "classic objective": classic(metrics),
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(folder / "scenarios.csv", index=False)
    weighted = float((table["weight"] * table["classic objective"]).sum())
    section = Report("Submit queue: published defaults on the seed's five scenarios")
    section.paragraph(
        "One full-length run (252 warm-up + 5040 measured ticks) per scenario at the published "
        f"simulator defaults (resources 74, maxbatch 684, maxk 12, kdiv 5, flaketol 0.0767), seed {seed}. "
        f"Weighted classic objective: {number(weighted)}."
    )
    section.table(table, caption="Classic and ground-truth metrics per scenario", digits=4)
    return section


def robust_tune_step(folder: Path, seed: int) -> Report:
    """A short robust tune of the submit queue across the seed's five weighted scenarios."""
    from loadwise.app.tune import demo_tune
    from loadwise.report.validation import add_validation, validation_headline

    result = demo_tune(folder / "tune", progress=False, seed=seed)
    section = Report("Robust tuning: the submit queue across the seed's five weighted scenarios")
    section.paragraph(
        f"{len(result.trials)} trials on the seed's progressive-fidelity schedule, {result.simulations} simulations "
        f"({result.cached} reused from the run cache) in {number(result.seconds, 4)} s. The reported best was evaluated "
        "on the full scenario set at full length; the validation below re-runs it and the published configs "
        "on fresh seeds never used in the search. Full report (history, importance, slices): "
        f"{result.report.get('html', '-')}."
    )
    if result.best_config is not None:
        best = pd.DataFrame([{**result.best_config, "objective": result.best_value, "± 95% CI": result.best_ci}])
        section.table(best, caption="Best configuration found (full scenario set)", digits=4)
    if result.validation is not None:
        add_validation(section, result.validation)
        answer, table, key = validation_headline(result.validation, "developer-hours per 1000 changes",
                                                 best="robust-best")
        section.summarize(answer, table, next_step=f"{result.run_dir / 'result.json'} holds the tuned config", key=key)
    return section


def mq_history_step(folder: Path, seed: int) -> Report:
    """A synthetic repository's merge-queue history (shipped; `benchmarks/mq_history_synthetic.py`
    wrote it with known parameters) fitted, and GitHub settings recommended for it."""
    from importlib.resources import files

    from loadwise.app.mqhistory import mq_recommend
    from loadwise.report.mqhistory import recommend_report

    history = files("loadwise.systems.mergequeue.history") / "data" / "demo"
    rec = mq_recommend([Path(str(history / "runs.json")), Path(str(history / "pulls.json"))], "github", trials=8,
                       replicates=3, days=3, seed=seed, backend="inline", out=folder / "recommend", progress=False)
    return recommend_report(rec)


DEMO_RATES = (20, 50, 100, 200)
DEMO_BUDGETS = (10, 50, 200, 1800)
DEMO_BASELINES = ("static-mix", "greedy")


def serving_sweep_step(folder: Path, seed: int) -> Report:
    """Two baseline routers on a small rate x budget grid of the serving simulator."""
    from loadwise.app.sweep import sweep

    columns = ["rate", "budget", "mean_latency", "p95_latency", "violation_rate", "accuracy", "goodput",
               "mean_queue", "idle_share"]
    tables = []
    for router in DEMO_BASELINES:
        result = sweep(DEMO_RATES, DEMO_BUDGETS, router, workflows=300, seed=seed, out=folder / router,
                       progress=False)
        tables.append(result.table[columns].assign(router=router))
    both = pd.concat(tables, ignore_index=True)
    section = Report("Serving simulator: two baseline routers across load and budget")
    section.paragraph(
        f"300 workflows per cell, rates {', '.join(map(str, DEMO_RATES))} req/min, budgets "
        f"{', '.join(map(str, DEMO_BUDGETS))} s, the same arrivals and items for both routers (common random "
        "numbers). Goodput = share of workflows solved within budget. Each router's sweep folder holds its "
        "telemetry and full report."
    )
    goodput = both.pivot_table(index=["rate"], columns=["router", "budget"], values="goodput")
    goodput.columns = [f"{r} @ {number(b, 6)} s" for r, b in goodput.columns]
    section.table(goodput, caption="Goodput by rate (rows), router and budget (columns)", index=True)
    section.table(both[["router", *columns]], caption="Every cell")
    return section


ROUTER_RATES = (20.0, 100.0, 200.0)
ROUTER_BUDGETS = (10.0, 50.0, 600.0)
ROUTER_BASELINES = (*HEURISTICS, "fixed:3B:flash", "fixed:32B:deepthink")


def router_step(folder: Path, seed: int) -> Report:
    """Train the PPO-Lagrangian router for a few epochs on a 3 × 3 grid and evaluate it.

    `folder/train` is a `router train` run folder (checkpoints, history, role-step
    telemetry the audit reads); `folder/eval` holds the evaluation's report and JSON.
    """
    from loadwise.app.evaluate_router import evaluate_router
    from loadwise.app.train_router import train_router
    from loadwise.rl.config import TrainConfig

    workflows = 120
    # a small grid: more passes over its teacher rollout, so the warm start gets a few hundred steps
    config = TrainConfig(rates=ROUTER_RATES, budgets=ROUTER_BUDGETS, workflows=workflows, epochs=15,
                         minibatch_size=512, imitation_passes=20, seed=seed)
    run = train_router(config, folder / "train", progress=False)
    evaluation = evaluate_router(run.run_dir, workflows=2 * workflows, seeds=seed + 12345,
                                 baselines=ROUTER_BASELINES, out=folder / "eval")
    return build_router_report(evaluation.evaluation, title="Router: PPO-Lagrangian vs baselines (demo grid)")


def audit_step(folder: Path, seed: int) -> Report:
    """Audit the telemetry of the router's training run, as seed 000's report did by hand."""
    from loadwise.app.audit import audit_run

    telemetry = folder.parent / "router" / "train"
    return audit_run(telemetry, folder / "report", seed=seed).report


GATEWAY_SPEEDUP = 20.0
GATEWAY_RATE = 100.0
GATEWAY_BUDGETS = (10.0, 50.0, 600.0)


def gateway_step(folder: Path, seed: int) -> Report:
    """The trained router behind an OpenAI-compatible gateway, in front of the emulator (20x real
    time), driven by a one-minute load test and compared with the simulator on the same workflows."""
    from loadwise.app.loadtest import loadtest
    from loadwise.app.serve_gateway import server_process
    from loadwise.report.loadtest import build_report as build_loadtest_report

    checkpoint = folder.parent / "router" / "train"
    router = [str(checkpoint)] if (checkpoint / "run.json").is_file() else ["--router", "greedy"]
    speed = ["--port", "0", "--speedup", f"{GATEWAY_SPEEDUP:g}"]
    with server_process("serve", "emulate", *speed, log=folder / "emulator.log") as (_, emulator):
        backends = [f"--backend={name}={url}" for name, url in emulator["models"].items()]
        with server_process("router", "serve", *router, *speed, *backends, log=folder / "gateway.log") as (_, gw):
            result = loadtest(gw["url"], [GATEWAY_RATE], GATEWAY_BUDGETS, workflows=300, seed=seed,
                              out=folder / "loadtest", compare_sim=True, progress=False)
    section = build_loadtest_report(result.cells, {**result.settings, "run_dir": str(result.run_dir)},
                                    result.comparison, result.pooled)
    section.title = "Gateway: the trained router on live traffic (emulated servers, 20x real time)"
    return section


STEPS: list[DemoStep] = [
    DemoStep("submitqueue", "Submit queue on the seed's scenarios", submit_queue_step),
    DemoStep("tune", "Robust tuning of the submit queue", robust_tune_step),
    DemoStep("mq-history", "Merge queue: from a repository's CI history to GitHub settings", mq_history_step),
    DemoStep("serve-sweep", "Serving simulator: baseline routers", serving_sweep_step),
    DemoStep("router", "Router: PPO-Lagrangian training and evaluation", router_step),
    DemoStep("audit", "Scenario audit of the router's training telemetry", audit_step),
    DemoStep("gateway", "Gateway: the trained router on live traffic (emulated servers)", gateway_step),
]


def _summarize(report: Report, sections: list[tuple[str, Report]]) -> None:
    """The demo's answer first: each step's headline (its Summary's key row) in one table."""
    rows = [{"step": title, **section.summary.key} for title, section in sections
            if section.summary is not None and section.summary.key]
    sentences = [f"{title}: " + "; ".join(f"{k} {v}" if k != "answer" else v for k, v in section.summary.key.items())
                 + "." for title, section in sections if section.summary is not None and section.summary.key]
    report.summarize(" ".join(sentences) or "No step has finished yet.",
                     pd.DataFrame(rows).fillna("") if rows else None,
                     next_step="each step's folder holds its own run folder and full report (report.html)")


def demo(out: str | Path | None = None, seed: int = 0, log: Callable[[str], None] = print) -> Path:
    """Run every demo step not finished yet in `out`; return the combined HTML report's path."""
    if out is not None and (Path(out) / RUN_FILE).is_file():  # a resume: with the seed it started with
        started = read_run_info(out, "demo")["config"].get("seed")
        if started != seed:
            raise ConfigError("seed", f"{out} is a demo started with seed {started}; resume it with that "
                                      "seed, or choose another folder")
    run_dir = new_run_dir("demo", out)
    write_run_info(run_dir, "demo", {"seed": seed, "steps": [s.name for s in STEPS]})
    timings = _timings(run_dir)
    for i, step in enumerate(STEPS, 1):
        folder = run_dir / step.name
        folder.mkdir(exist_ok=True)
        section = _saved_section(folder)
        if section is not None:
            log(f"[{i}/{len(STEPS)}] {step.title}: done in an earlier run, reusing it")
        else:
            log(f"[{i}/{len(STEPS)}] {step.title} ...")
            start = time.perf_counter()
            section = step.run(folder, seed)
            timings[step.name] = time.perf_counter() - start
            section.write(folder)
            write_json(run_dir / TIMINGS_FILE, timings)
            write_json(folder / SECTION_FILE, section.to_data())  # last: the step is finished
            log(f"      finished in {number(timings[step.name])} s")
    return render(run_dir)["html"]


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the combined report from each finished step's saved section and the step timings;
    steps not finished yet are named in the Summary."""
    run_dir = Path(run_dir)
    read_run_info(run_dir, "demo")
    report = Report("loadwise demo")
    report.paragraph(
        "Each section below is one part of loadwise run on embedded defaults; every step's own "
        "run folder (data, study, telemetry, full report) is a sub-folder of this one."
    )
    timings, seconds, sections = [], _timings(run_dir), []
    for step in STEPS:
        section = _saved_section(run_dir / step.name)
        if section is not None:
            sections.append((step.title, section))
            report.extend(section)
        timings.append({"step": step.title, "folder": step.name, "seconds": seconds.get(step.name, float("nan"))})
    _summarize(report, sections)
    if len(sections) < len(STEPS):
        note_unfinished(report, f"{len(sections)} of {len(STEPS)} steps finished", f"loadwise demo --out {run_dir}")
    report.heading("Time per step")
    report.table(pd.DataFrame(timings))
    return report.write(run_dir)


def _timings(run_dir: Path) -> dict[str, float]:
    return read_json(run_dir / TIMINGS_FILE) if (run_dir / TIMINGS_FILE).is_file() else {}


def _saved_section(folder: Path) -> Report | None:
    """The report section a finished step left in `folder`; None when the step has to
    run (not finished, or its files are incomplete)."""
    try:
        return Report.from_data(read_json(folder / SECTION_FILE), folder)
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None
