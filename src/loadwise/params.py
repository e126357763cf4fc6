"""Named, typed, bounded inputs: the knobs of a system and the parameters of a scenario.

One `Param` declaration drives validation, search ranges, CLI flags and help, so an
error always names the field and what it allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadwise.errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One named, typed input: a knob of a system or a parameter of a scenario.

    `low`/`high` bound the values that are valid at all (None: unbounded). `search`,
    when given, is what a tuner explores by default: for an int or float knob the
    (low, high) range, log-scaled when `log` is true; for a str knob the tuple of
    choices to try (a subset of `choices`, which have no order). Knobs without `search`
    are fixed at their default unless set.
    """

    name: str
    type: type  # int, float or str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    search: tuple[float, float] | tuple[str, ...] | None = None
    log: bool = False
    help: str = ""

    def check(self, value: Any, where: str = "") -> Any:
        """Return `value` as this parameter's type, or raise ConfigError naming it."""
        name = f"{where}{self.name}"
        allowed = self.describe()
        if self.type is str:
            if not isinstance(value, str):
                raise ConfigError(name, f"expected a string ({allowed}), got {value!r}")
            converted: Any = value
        elif self.type is int:
            if isinstance(value, bool) or not _is_integral(value):
                raise ConfigError(name, f"expected an integer ({allowed}), got {value!r}")
            converted = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(name, f"expected a finite number ({allowed}), got {value!r}")
            converted = float(value)
        else:  # pragma: no cover - a programming error, not user input
            raise TypeError(f"unsupported parameter type {self.type!r}")
        if self.choices is not None and converted not in self.choices:
            raise ConfigError(name, f"{converted!r} is not allowed ({allowed})")
        if self.low is not None and converted < self.low:
            raise ConfigError(name, f"{converted!r} is below the minimum ({allowed})")
        if self.high is not None and converted > self.high:
            raise ConfigError(name, f"{converted!r} is above the maximum ({allowed})")
        return converted

    def describe(self) -> str:
        """The allowed values in words, for error messages and `--help`."""
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = {int: "integer", float: "number", str: "string"}[self.type]
        if self.low is not None and self.high is not None:
            return f"{kind} in [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} >= {self.low:g}"
        if self.high is not None:
            return f"{kind} <= {self.high:g}"
        return kind


def _is_integral(value: Any) -> bool:
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


def resolve(params: Sequence[Param], values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Defaults overlaid with `values`, each checked; unknown names are an error listing the known ones."""
    known = {p.name: p for p in params}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}{unknown[0]}", f"unknown parameter; allowed: {', '.join(known)}"
        )
    return {name: p.check(values.get(name, p.default), where) for name, p in known.items()}
