"""The validation report: validated objectives with CIs, paired differences, per-scenario means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from loadwise.report.document import Report
from loadwise.report.format import NOT_AVAILABLE, number, p_value, with_ci
from loadwise.systems.base import Objective
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.validation import ValidationResult


def validation_headline(result: ValidationResult, objective: str, best: str | None = None) -> tuple[str, pd.DataFrame, dict[str, str]]:
    """The answer of a validation: the best config against the baseline, with the paired 95 % CI and p-value.

    Returns (sentences, a small table of the best config and the baseline, a key row for a combined summary).
    """
    rows = result.summary.set_index("config")
    best = best if best in rows.index else result.best
    chosen = rows.loc[best]
    sentences = (f"On fresh seeds ({result.replicates} replicates per scenario), `{best}` scores {objective} = "
                 f"{with_ci(chosen['objective'], chosen['ci95'], reason='1 replicate')}.")
    key = {"answer": best, f"{objective}": number(chosen["objective"]), "baseline": result.baseline or NOT_AVAILABLE}
    shown = [best]
    if result.baseline and result.baseline != best and "diff_vs_baseline" in rows.columns:
        base = rows.loc[result.baseline]
        diff, half, p = chosen["diff_vs_baseline"], chosen["diff_ci95"], chosen["p_value"]
        sentences += (f" Against `{result.baseline}` ({number(base['objective'])}) the difference is "
                      f"{with_ci(diff, half, reason='1 replicate')} (95 % CI, paired on the same seeds), p {_p_text(p)}.")
        key.update({"difference vs baseline": with_ci(diff, half, reason="1 replicate"), "p": p_value(p)})
        shown.append(result.baseline)
    table = pd.DataFrame([{"config": name, f"{objective} ± 95 % CI": with_ci(rows.loc[name, "objective"],
                                                                          rows.loc[name, "ci95"], reason="1 replicate"),
                           **({"difference vs " + result.baseline: with_ci(rows.loc[name, "diff_vs_baseline"],
                                                                          rows.loc[name, "diff_ci95"])
                               if name != result.baseline else "—", "p": p_value(rows.loc[name, "p_value"])}
                              if result.baseline and "diff_vs_baseline" in rows.columns else {})}
                          for name in shown])
    return sentences, table, key


def _p_text(p: float) -> str:
    text = p_value(p)
    return text if text.startswith("<") else f"= {text}"


def add_validation(report: Report, result: ValidationResult) -> Report:
    """The two validation tables, appended to `report` (a tune's report or validation's own)."""
    report.table(result.summary, caption=(
        f"Fresh seeds never used in search, {result.replicates} replicates per scenario; "
        f"objective ± 95 % CI; difference to {result.baseline or 'no baseline'} paired on the same seeds"),
       )
    wide = result.per_scenario.pivot(index="scenario", columns="config", values="mean")
    order = [c for c in result.summary["config"] if c in wide.columns]
    report.table(wide[order].reset_index(), caption="Per-scenario mean objective (fresh seeds)", digits=5)
    return report


def validation_report(result: ValidationResult, system: str, scenario_set: str, objective: Objective,
                      aggregate: Aggregate) -> Report:
    """The report `validate` writes: what was compared, the tables, and the configs themselves."""
    report = Report(f"Validation: {system} on {scenario_set}")
    answer, table, _ = validation_headline(result, objective.name)
    report.summarize(answer, table, next_step="validation.csv holds every row; `loadwise validate RUN_DIR "
                     "--replicates N` narrows the intervals with more fresh seeds")
    report.paragraph(f"{objective.name} ({objective.direction}), aggregate {aggregate}; "
                     f"configs: {', '.join(result.configs)}.")
    add_validation(report, result)
    report.table(_config_table(result.configs), caption="Configs", digits=4)
    return report


def _config_table(configs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"config": name, **cfg} for name, cfg in configs.items()])
