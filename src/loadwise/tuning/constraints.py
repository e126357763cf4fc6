"""Constraints on metrics, e.g. `false_rejections_per_1000<=5`, passed to Optuna.

A constraint holds on the weighted mean over scenarios of the metric's per-scenario
mean. Its value follows Optuna's convention: ≤ 0 is feasible, > 0 is the violation. A
scenario whose runs all failed violates every constraint.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadwise.errors import ConfigError

INFEASIBLE = 1e12
_PATTERN = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str  # "<=" or ">="
    bound: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"

    def violation(self, metrics_by_cell: Mapping[tuple[str, int], Mapping[str, float]],
                  weights: Mapping[str, float]) -> float:
        per_scenario: dict[str, list[float]] = {}
        for (scenario, _), metrics in metrics_by_cell.items():
            if self.metric in metrics:
                per_scenario.setdefault(scenario, []).append(metrics[self.metric])
        if any(s not in per_scenario for s in weights if any(c[0] == s for c in metrics_by_cell)):
            return INFEASIBLE
        present = {s: w for s, w in weights.items() if s in per_scenario}
        if not present:
            return INFEASIBLE
        total = sum(present.values())
        mean = sum(w * sum(per_scenario[s]) / len(per_scenario[s]) for s, w in present.items()) / total
        value = mean - self.bound if self.op == "<=" else self.bound - mean
        return value if math.isfinite(value) else INFEASIBLE


def parse_constraints(texts: Sequence[str]) -> list[Constraint]:
    out = []
    for text in texts:
        match = _PATTERN.match(text)
        if not match:
            raise ConfigError("constraints", f"{text!r} is not allowed (METRIC<=NUMBER or METRIC>=NUMBER)")
        out.append(Constraint(match.group(1), match.group(2), float(match.group(3))))
    return out
