"""The tuning report: what was found, how sure we are, and how it differs from a single-scenario tune."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import number, with_ci
from loadwise.report.validation import add_validation, validation_headline
from loadwise.systems.base import family
from loadwise.tuning.named import PREDICTED_ROBUST_SHIFTS
from loadwise.tuning.tuner import TrialRecord, Tuner
from loadwise.tuning.validation import ValidationResult


@dataclass(frozen=True)
class TuneCounts:
    """What a finished tune spent: simulations run (`failed` of them failed; `full_length_runs`
    their cost in full-length runs, warm-ups included), answered from the cache, and wall-clock seconds."""

    simulations: int
    failed: int | None  # None: not recorded
    full_length_runs: float
    cached: int
    seconds: float


def tune_report(tuner: Tuner, records: list[TrialRecord], validation: ValidationResult | None,
                slices: pd.DataFrame | None, counts: TuneCounts | None, single_reference: Mapping[str, Any] | None,
                ) -> Report:
    """The report of one tune; `counts` covers the search, validation and slices (None: the tune did not finish)."""
    s = tuner.settings
    best = tuner.best()
    report = Report(f"Robust tune: {tuner.system.name} on {tuner.scenario_set.name}")
    report.heading("The search")
    states = pd.Series([(r.stage, r.state) for r in records]).value_counts() if records else pd.Series(dtype=int)
    stage_lines = []
    for k, stage in enumerate(tuner.schedule.stages):
        done, dropped = int(states.get((k, "complete"), 0)), int(states.get((k, "dropped"), 0))
        stage_lines.append(f"stage {k} ({stage.label()}): {done} complete, {dropped} dropped by racing")
    racing = f"on (δ = {number(s.delta, 6)})" if s.racing else "off"
    report.bullets([
        (f"objective: {tuner.objective.name} ({tuner.objective.direction}), aggregate {tuner.aggregate} "
         f"over {tuner.scenario_set.describe()}"),
        f"fidelity schedule {tuner.schedule.name}: " + "; ".join(stage_lines),
        _simulations(tuner, counts),
        (f"replicates {s.min_replicates}–{s.max_replicates} per scenario, CI tolerance "
         f"{'none' if s.ci_tol is None else f'{number(s.ci_tol, 6)}'}, racing {racing}, "
         f"study seed {s.seed}, constraints: {', '.join(map(str, tuner.constraints)) or 'none'}"),
        f"storage: {tuner.storage_url} (one Optuna study per stage: {s.study_name}.stage0 …)",
    ])
    if tuner.finalized_from is not None:
        report.paragraph(f"The trials ended before the full-set stage, so the {s.promote} best configs of stage "
                         f"{tuner.finalized_from} were evaluated on the full set at full length; the best is "
                         "chosen among those (a partial-set value is never reported as the best).")
    report.heading("Best config")
    if best is None:
        report.paragraph("No config completed the full scenario set.")
        report.summarize("No config completed the full scenario set, so there is no recommendation yet.",
                         next_step="`loadwise tune --resume RUN_DIR --trials N` continues the search")
        return report
    config, value, ci = best
    _summarize(report, tuner, config, value, ci, validation)
    ci_text = f" ± {number(ci, 4)}" if math.isfinite(ci) else ""
    report.paragraph(f"Best on the full set during search: {tuner.objective.name} = {number(value, 5)}{ci_text} "
                     "(95 % CI from Σ wᵢ² sᵢ²/nᵢ; search values are optimistic, see validation).")
    report.table(pd.DataFrame([config]), caption="Robust optimum", digits=4)
    if validation is not None:
        report.heading("Validation on fresh seeds")
        add_validation(report, validation)
    if single_reference is not None or family(tuner.system) in PREDICTED_ROBUST_SHIFTS:
        report.heading("Single-scenario optimum vs robust optimum")
        same = tuner.objective.name == "classic"
        report.paragraph("The scenario-weighting study predicted how a robust optimum differs from the "
                         "single-scenario (normal-only) optimum, with its own objective (`classic` here). This run "
                         f"optimizes `{tuner.objective.name}`" + (", the same objective." if same else
                                                                ", a different objective, so knobs may move differently."))
        report.table(_side_by_side(tuner, config, single_reference, validation), digits=4,
                     caption="The scenario-weighting study's predicted differences of a robust optimum from the "
                             "single-scenario optimum, and what happened here")
    report.heading("Optimization history")
    report.figure(_history_figure(tuner, records), "history",
                  "Objective per trial; each stage is its own objective (its own panel); crosses: dropped by racing")
    importance = _importances(tuner)
    if importance is not None:
        report.heading("Parameter importance")
        report.figure(_bar_figure(importance), "importance", "PED-ANOVA importance on the full-set stage (Optuna)")
    if slices is not None and len(slices):
        report.heading("Slices around the optimum (fresh seeds)")
        report.figure(_slices_figure(slices, tuner.objective.name), "slices",
                      "Each knob moved alone around the optimum; same fresh seeds for every point")
    report.heading("Per-trial results")
    rows = [{"trial": r.number, "stage": r.stage, "state": r.state, "objective": r.value, "ci95": r.ci,
             "runs": sum(r.replicates.values()), **r.config} for r in sorted(records, key=lambda r: r.number)]
    report.table(pd.DataFrame(rows), digits=4)
    return report


def _simulations(tuner: Tuner, counts: TuneCounts | None) -> str:
    if counts is None:
        return (f"simulations: {len(tuner.cache.table())} in the run cache (the tune stopped before it counted "
                "its simulations and time)")
    failed = "" if counts.failed is None else f"{counts.failed} failed; "
    return (f"simulations: {counts.simulations} run ({failed}{number(counts.full_length_runs)} full-length runs' worth, "
            f"warm-ups included), {counts.cached} answered from the cache; {number(counts.seconds)} s wall-clock")


def _summarize(report: Report, tuner: Tuner, config: Mapping[str, Any], value: float, ci: float,
               validation: ValidationResult | None) -> None:
    name = tuner.objective.name
    knobs = ", ".join(f"{k} = {number(v, 4)}" for k, v in config.items())
    answer = (f"Recommended config: {knobs} ({name} = {with_ci(value, ci, 4, 'one replicate per scenario')} "
              "on the full scenario set during the search).")
    table, key = pd.DataFrame([config]), {"answer": knobs}
    if validation is not None:
        checked, table, key = validation_headline(validation, name, best="robust-best")
        answer += " " + checked
        key["answer"] = knobs
    report.summarize(answer, table, next_step="result.json holds the best config; `loadwise validate RUN_DIR` "
                     "re-checks it on more fresh seeds; `optuna-dashboard sqlite:///RUN_DIR/study.db` opens the "
                     "search", key=key)


def _side_by_side(tuner: Tuner, robust: Mapping[str, Any], published: Mapping[str, Any] | None,
                  validation: ValidationResult | None) -> pd.DataFrame:
    single_stage = tuner.schedule.stages[0]
    own_single = tuner.stage_best(0) if len(single_stage.scenarios) == 1 and len(tuner.schedule.stages) > 1 else None
    predictions = PREDICTED_ROBUST_SHIFTS.get(family(tuner.system), {})
    rows = []
    reference = published or own_single
    for p in tuner.space:
        row: dict[str, Any] = {"knob": p}
        if published is not None:
            row["published single-scenario"] = published[p]
        if own_single is not None:
            row[f"loadwise {single_stage.scenarios[0]}-only"] = own_single[p]
        row["loadwise robust"] = robust[p]
        pred = predictions.get(p)
        row["weighting study predicts"] = f"{pred[0]} ({pred[1]})" if pred else ""
        if reference is not None:
            observed = _shift(robust[p], reference[p])
            row["observed vs single"] = observed + ("" if not pred else " ✓" if observed == pred[0] else " ✗")
        rows.append(row)
    frame = pd.DataFrame(rows)
    if validation is not None:
        values = validation.summary.set_index("config")["objective"]
        extra = {"knob": f"validated {tuner.objective.name}"}
        for col, name in (("published single-scenario", "published-single-optimum"), ("loadwise robust", "robust-best")):
            if col in frame.columns and name in values:
                extra[col] = values[name]
        frame = pd.concat([frame, pd.DataFrame([extra])], ignore_index=True)
    return frame


def _shift(robust: Any, single: Any) -> str:
    """How a knob moved from the single-scenario optimum: higher, lower, same, or another choice."""
    if isinstance(robust, str):
        return "same" if robust == single else "other choice"
    delta = float(robust) - float(single)
    return "higher" if delta > 0 else "lower" if delta < 0 else "same"


def _history_figure(tuner: Tuner, records: list[TrialRecord]) -> Any:
    import matplotlib.pyplot as plt

    n = len(tuner.schedule.stages)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    sign = 1 if tuner.objective.direction == "minimize" else -1
    for k, ax in enumerate(axes[0]):
        rs = [r for r in records if r.stage == k]
        done = [r for r in rs if r.state == "complete"]
        dropped = [r for r in rs if r.state == "dropped" and math.isfinite(r.value)]
        ax.plot([r.number for r in done], [r.value for r in done], "o", label="complete")
        ax.plot([r.number for r in dropped], [r.value for r in dropped], "x", color="grey", label="dropped (partial)")
        if done:
            best = np.minimum.accumulate([sign * r.value for r in done]) * sign
            ax.step([r.number for r in done], best, where="post", color="C3", label="best so far")
        shown = [r.value for r in done + dropped]
        if shown and min(shown) > 0 and max(shown) / min(shown) > 20:
            ax.set_yscale("log")  # a few collapsed configs would hide everything else
        ax.set_title(tuner.schedule.stages[k].label(), fontsize=9)
        ax.set_xlabel("trial")
        if k == 0:
            ax.set_ylabel(tuner.objective.name)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _importances(tuner: Tuner) -> dict[str, float] | None:
    import optuna

    study = tuner.studies[-1]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 4 or len({tuple(sorted(t.params.items())) for t in complete}) < 4:
        return None
    return optuna.importance.get_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())


def _bar_figure(importance: Mapping[str, float]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 0.4 * len(importance) + 1))
    names = list(importance)[::-1]
    ax.barh(names, [importance[n] for n in names])
    ax.set_xlabel("importance")
    fig.tight_layout()
    return fig


def _slices_figure(slices: pd.DataFrame, objective: str) -> Any:
    import matplotlib.pyplot as plt

    knobs = list(dict.fromkeys(slices["knob"]))
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.2 * len(knobs), 2.8), squeeze=False)
    for ax, knob in zip(axes[0], knobs):
        part = slices[slices["knob"] == knob].sort_values("value")
        ax.plot(part["value"], part["objective"], "o-")
        opt = part[part["at_optimum"]]
        ax.plot(opt["value"], opt["objective"], "*", color="C3", markersize=12)
        ax.set_xlabel(knob)
    axes[0][0].set_ylabel(objective)
    fig.tight_layout()
    return fig
