"""Slices of the objective around the optimum, on fresh seeds: is it a plateau or a ridge?

Each searched knob is moved alone while the others stay put: a numeric knob to a few
points on either side of the optimum (steps of 15 % of its search range, in log space
for log knobs), a string knob to every choice it searches, since its choices have no
order to step along. All points use the same fresh seeds (`purpose="slice"`), so the
curve's shape is not noise between seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loadwise.evaluate import Evaluator
from loadwise.params import Param
from loadwise.tuning.progress import OnProgress, run_counted
from loadwise.tuning.racing import StagePlan

STEP = 0.15


def slice_points(param: Param, centre: Any, points: int) -> list[Any]:
    """The values of `param` its slice visits: `points` steps each side of `centre`, or every choice."""
    if param.type is str:
        return list(dict.fromkeys([*param.search, centre]))
    low, high = param.search
    if param.log:
        lo, hi, c = math.log(low), math.log(high), math.log(max(centre, low))
        raw = [math.exp(c + i * STEP * (hi - lo)) for i in range(-points, points + 1)]
    else:
        raw = [centre + i * STEP * (high - low) for i in range(-points, points + 1)]
    vals = [min(max(v, low), high) for v in raw]
    if param.type is int:
        vals = [round(v) for v in vals]
    return sorted(set(vals) | {centre})


def objective_slices(evaluator: Evaluator, plan: StagePlan, optimum: Mapping[str, Any], space: list[Param],
                     points: int, on_progress: OnProgress | None = None) -> pd.DataFrame:
    """Rows (knob, value, objective, at_optimum) for each knob's slice through `optimum`."""
    cells = [(s, 0) for s in plan.scenarios.names]
    configs = [(p.name, v, {**optimum, p.name: v}) for p in space for v in slice_points(p, optimum[p.name], points)]
    specs = [(knob, v, [plan.spec(cfg, cell, purpose="slice") for cell in cells]) for knob, v, cfg in configs]
    results = run_counted(evaluator, [sp for _, _, sps in specs for sp in sps], on_progress)
    weights = plan.scenarios.weights
    rows = []
    for knob, v, sps in specs:
        means = {sp.scenario: results[sp.key].value(plan.objective) for sp in sps}
        rows.append({"knob": knob, "value": v, "objective": plan.aggregate(means, weights, plan.objective.direction),
                     "at_optimum": _same(v, optimum[knob])})
    return pd.DataFrame(rows)


def _same(value: Any, optimum: Any) -> bool:
    """Equal choices, or numbers equal up to rounding."""
    if isinstance(value, str):
        return value == optimum
    return bool(np.isclose(float(value), float(optimum)))
