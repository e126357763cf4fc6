"""The search space: the knobs a tuner explores, as Optuna distributions.

A numeric knob's `search` is its (low, high) range, log-scaled when `log` is set; a
string knob's `search` is the tuple of choices to explore, searched as a categorical
(Optuna's samplers model categoricals without an order, which is what a queue
discipline or a policy name is).
"""

from __future__ import annotations

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from loadwise.errors import ConfigError
from loadwise.systems.base import System, search_space


def search_distributions(system: System) -> dict[str, BaseDistribution]:
    """One distribution per knob with a `search`; a system without one cannot be tuned."""
    space: dict[str, BaseDistribution] = {}
    for p in search_space(system):
        if p.type is str:
            if p.log or not p.search:
                raise ConfigError(p.name, "a string knob searches a non-empty tuple of choices, without log")
            space[p.name] = CategoricalDistribution(tuple(p.check(c) for c in p.search))
        elif p.type is int:
            low, high = p.search
            space[p.name] = IntDistribution(int(low), int(high), log=p.log)
        else:
            low, high = p.search
            space[p.name] = FloatDistribution(float(low), float(high), log=p.log)
    if not space:
        raise ConfigError("system", f"{system.name} has no knobs with a search range")
    return space
