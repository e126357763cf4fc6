"""The validation report: validated objectives with CIs, paired differences, per-scenario means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from loadwise.report.document import Report
from loadwise.systems.base import Objective
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.validation import ValidationResult


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
    report.paragraph(f"{objective.name} ({objective.direction}), aggregate {aggregate}; "
                     f"configs: {', '.join(result.configs)}.")
    add_validation(report, result)
    report.table(_config_table(result.configs), caption="Configs", digits=4)
    return report


def _config_table(configs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"config": name, **cfg} for name, cfg in configs.items()])
