"""`mq fit` and `mq recommend`: from a repository's CI history to settings it can paste.

`mq_fit` reads the history (`systems.mergequeue.history`), fits its world with 95 % CIs
and writes `world.yaml` (read by `mq run --world` and, as scenario parameters, by the
tuner) and `fit.json`. `mq_recommend` derives the four scenarios from the history
(`history.regimes`, written as the editable `scenarios.yaml`), tunes the product's knobs
on them with the robust tuner (`app.tune`, its strategy fixed), validates the tuned
settings against the current ones on fresh common seeds (`app.validate`) and writes the
product's configuration and a report that opens with the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from loadwise.app.rundir import new_run_dir, write_run_info
from loadwise.app.tune import tune
from loadwise.app.validate import validate
from loadwise.errors import ConfigError
from loadwise.files import write_json, write_text
from loadwise.params import resolve
from loadwise.report.mqhistory import fit_report, recommend_report
from loadwise.scenarios.files import load_scenario_file
from loadwise.systems.mergequeue import MergeQueue
from loadwise.systems.mergequeue.history.check import CheckRow, history_check
from loadwise.systems.mergequeue.history.fit import HistoryFit, entries, fit_sources
from loadwise.systems.mergequeue.history.regimes import history_scenarios
from loadwise.systems.mergequeue.history.sources import History, change_columns, read_history
from loadwise.systems.mergequeue.products import PRODUCT_FILE, PRODUCT_STRATEGY, product_settings
from loadwise.tuning import ValidationResult, paired_per_scenario


@dataclass
class FitResult:
    """A fitted history, its sim-to-history check (GitHub runs only) and where its files are."""

    fit: HistoryFit
    history: History
    run_dir: Path | None
    paths: dict[str, Path] = field(default_factory=dict)
    check: list[CheckRow] = field(default_factory=list)


def _world_text(fit: HistoryFit) -> str:
    lines = ["# the world of a merge-queue history, fitted by `loadwise mq fit` (95 % CIs below)"]
    for name, e in fit.estimates.items():
        lines.append(f"# {name}: {e.value:.4g} [{e.ci_low:.4g}, {e.ci_high:.4g}], n = {e.n:,}")
    return "\n".join(lines) + "\n" + yaml.safe_dump(fit.world(), sort_keys=False, width=10_000)


def mq_fit(history: Sequence[str | Path], out: str | Path | None = None, *, check_replicates: int = 5,
           seed: int = 0) -> FitResult:
    """Fit the world of a history (files or folders) and, from GitHub runs, check it against
    the history (`history.check`, `check_replicates` seeds); with `out`, write world.yaml,
    fit.json and the report there. Nothing is written when the history cannot be read."""
    read = read_history(list(history))
    fit = fit_sources(read)
    result = FitResult(fit, read, None)
    if read.runs is not None and fit.settings():
        result.check = history_check(fit, read.runs, read.pulls, check_replicates, seed)
    if out is not None:
        run_dir = new_run_dir("mq-fit", out)
        write_run_info(run_dir, "mq-fit", {"history": [str(p) for p in history]})
        result.run_dir = run_dir
        result.paths = {"world": write_text(run_dir / "world.yaml", _world_text(fit)),
                        "fit": write_json(run_dir / "fit.json", {**fit.as_dict(), "check": _check_json(result.check)}),
                        **fit_report(fit, result.check).write(run_dir, stem="fit")}
    return result


def _check_json(rows: Sequence[CheckRow]) -> dict[str, Any]:
    return {r.figure: {"history": r.history.as_dict(), "simulated": r.simulated.as_dict(), "agree": r.agree}
            for r in rows}


# What changes for the developers and for the bill, per run: (label, figure of a run's metrics)
MEASURES: dict[str, Callable[[Mapping[str, float]], float]] = {
    "p95 time in queue (h)": lambda m: m["time_in_queue_p95_h"],
    "innocent pull requests evicted a day": lambda m: m["evicted_innocent"] * 24.0 / m["hours"],
    "broken merges a day": lambda m: m["merged_bad"] * 24.0 / m["hours"],
    "runner-hours a day": lambda m: m["runner_hours"] * 24.0 / m["hours"],
}


def scenario_changes(validation: ValidationResult, config: str = "recommended") -> pd.DataFrame:
    """Per scenario and measure (`MEASURES`): `config` against the baseline on the same fresh
    seeds, with 95 % CIs and the paired p-value."""
    frames = []
    for label, measure in MEASURES.items():
        values = {name: {cell: measure(m) for cell, m in runs.items()}
                  for name, runs in validation.metrics.items() if name in (config, validation.baseline)}
        table = paired_per_scenario(values, str(validation.baseline))
        frames.append(table.assign(measure=label))
    return pd.concat(frames, ignore_index=True)


@dataclass
class Recommendation:
    """The settings to paste, their validation against the current ones, and the files."""

    product: str
    strategy: str
    recommended: dict[str, Any]
    current: dict[str, Any]
    settings_text: str
    validation: ValidationResult
    fit: HistoryFit
    run_dir: Path
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)  # `scenario_changes`
    check: list[CheckRow] = field(default_factory=list)

    def __str__(self) -> str:
        row = self.validation.summary.set_index("config").loc["recommended"]
        return (f"{self.product} settings ({self.paths['settings'].name}):\n{self.settings_text}"
                f"cost vs current: {row['diff_vs_baseline']:+.4g} ± {row['diff_ci95']:.3g} developer-hours per "
                f"1000 pull requests (p = {row['p_value']:.3g})\nreport: {self.paths.get('html', '-')}")


def _arrival_times(fit_history: History) -> Any:
    if fit_history.runs is not None:
        return entries(fit_history.runs, fit_history.pulls)
    assert fit_history.changes is not None
    return change_columns(fit_history.changes)[0]


def current_settings(product: str, fit: HistoryFit, current: str | Path | None) -> dict[str, Any]:
    """The current settings: a file of knobs when given, else the history's observed ones
    (GitHub and Mergify), the rest at the product's defaults."""
    system = MergeQueue(PRODUCT_STRATEGY[product])
    if current is not None:
        return resolve(system.knobs, _load_knobs(current), f"{current}: ")
    observed = fit.settings() if PRODUCT_STRATEGY[product] == "speculative" else {}
    return resolve(system.knobs, observed)


def _load_knobs(path: str | Path) -> dict[str, Any]:
    from loadwise.systems.command import load_spec_file

    data = load_spec_file(Path(path))
    if not isinstance(data, Mapping):
        raise ConfigError("current", f"{path}: expected a mapping of knob: value")
    return dict(data)


def mq_recommend(history: Sequence[str | Path], product: str = "github", *, current: str | Path | None = None,
                 trials: int = 30, replicates: int = 5, days: float = 7.0, seed: int = 0, jobs: int | None = None,
                 backend: str = "local", out: str | Path | None = None, progress: bool = True) -> Recommendation:
    """Recommend `product` settings for the history (see the module doc)."""
    started = time.monotonic()
    if product not in PRODUCT_STRATEGY:
        raise ConfigError("product", f"{product!r} is not allowed (one of {', '.join(PRODUCT_STRATEGY)})")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError("trials", f"expected an integer >= 1, got {trials!r}")
    fitted = mq_fit(history, seed=seed)
    fit = fitted.fit
    now = current_settings(product, fit, current)
    strategy = PRODUCT_STRATEGY[product]
    run_dir = new_run_dir("mq-recommend", out)
    write_run_info(run_dir, "mq-recommend", {"history": [str(p) for p in history], "product": product,
                                             "trials": trials, "replicates": replicates, "seed": seed})
    paths = {"world": write_text(run_dir / "world.yaml", _world_text(fit))}
    data = history_scenarios(fit, fitted.history.runs, _arrival_times(fitted.history))
    for s in data["scenarios"]:
        s["days"] = days
    paths["scenarios"] = write_text(run_dir / "scenarios.yaml", yaml.safe_dump(data, sort_keys=False, width=10_000))
    scenario_set = load_scenario_file(paths["scenarios"])
    tuned = tune(f"mergequeue:{strategy}", scenario_set, trials, seed=seed, jobs=jobs, backend=backend, out=run_dir / "tune",
                 validate_top=0, slice_points=0, progress=progress)
    if tuned.best_config is None:
        raise ConfigError("trials", "the tune finished no trial on the full scenario set; give more trials")
    system = MergeQueue(strategy)
    best = system.strategy.effective(resolve(system.knobs, tuned.best_config))
    validation = validate(system=system, scenarios=scenario_set, configs={"recommended": best, "current": now},
                          baseline="current", replicates=replicates, seed=seed + 1, jobs=jobs, backend=backend,
                          out=run_dir / "validation", progress=progress)
    text = product_settings(product, best)
    paths["settings"] = write_text(run_dir / PRODUCT_FILE[product], text)
    result = Recommendation(product, strategy, best, system.strategy.effective(now), text, validation, fit, run_dir,
                            time.monotonic() - started, paths, scenario_changes(validation), fitted.check)
    result.changes.to_csv(run_dir / "changes.csv", index=False)
    result.paths.update(recommend_report(result).write(run_dir, stem="report"))
    summary = validation.summary.set_index("config")
    write_json(run_dir / "result.json", {
        "product": product, "strategy": strategy, "recommended": best, "current": result.current,
        "settings_file": paths["settings"].name, "check": _check_json(result.check),
        "validation": {k: {c: (None if v != v else v) for c, v in row.items()}
                       for k, row in summary.to_dict("index").items()},
        "seconds": result.seconds})
    return result
