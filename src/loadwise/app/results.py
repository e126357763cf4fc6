"""Results kept in a run folder as JSON, so that its report can be written again from the folder alone."""

from __future__ import annotations

from typing import Any

import pandas as pd

from loadwise.tuning import ValidationResult


def validation_data(result: ValidationResult) -> dict[str, Any]:
    """A validation as plain JSON data: its two tables as records and what they compare."""
    return {"summary": result.summary.to_dict(orient="records"),
            "per_scenario": result.per_scenario.to_dict(orient="records"),
            "configs": result.configs, "baseline": result.baseline, "replicates": result.replicates,
            "direction": result.direction}


def validation_from_data(data: dict[str, Any]) -> ValidationResult:
    """The ValidationResult `validation_data` wrote."""
    return ValidationResult(pd.DataFrame(data["summary"]), pd.DataFrame(data["per_scenario"]), data["configs"],
                            data["baseline"], int(data["replicates"]), data["direction"])
