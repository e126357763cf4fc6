"""Load regimes: each rate labelled by its mean queue depth at dispatch.

Defaults (spec 05): idle < 3, light < 6, moderate < 15, heavy < 30, else saturated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadwise.errors import ConfigError


@dataclass(frozen=True)
class Regime:
    name: str
    lower: float  # inclusive
    upper: float  # exclusive; inf for the last regime

    def target(self) -> float:
        """The queue depth a recommended rate aims at: the middle of the band (1.5× the
        lower bound for the open-ended last band, half the upper bound for the first)."""
        if math.isinf(self.upper):
            return 1.5 * self.lower
        return (self.lower + self.upper) / 2


DEFAULT_REGIMES = "idle=3,light=6,moderate=15,heavy=30,saturated"


def parse_regimes(text: str | dict[str, float] | None = None) -> list[Regime]:
    """Regimes from "idle=3,light=6,moderate=15,heavy=30[,saturated]" (upper bounds).

    The last regime has no upper bound; name it by a final bare word (default
    "saturated"). Bounds must be positive and increasing.
    """
    if text is None:
        text = DEFAULT_REGIMES
    items = list(text.items()) if isinstance(text, dict) else [_split(part) for part in text.split(",") if part.strip()]
    if items and items[-1][1] is None:
        last_name = items.pop()[0]
    else:
        last_name = "saturated"
    if not items:
        raise ConfigError("regimes", "give at least one bound, e.g. idle=3,light=6,moderate=15,heavy=30")
    regimes, lower = [], 0.0
    names = set()
    for name, upper in items:
        if upper is None:
            raise ConfigError("regimes", f"{name!r} needs an upper bound (NAME=QUEUE_DEPTH); only the last regime may be bare")
        if upper <= lower:
            raise ConfigError("regimes", f"bounds must be positive and increasing; {name}={upper:g} is not above {lower:g}")
        if name in names:
            raise ConfigError("regimes", f"regime {name!r} is named twice")
        names.add(name)
        regimes.append(Regime(name, lower, float(upper)))
        lower = float(upper)
    if last_name in names:
        raise ConfigError("regimes", f"regime {last_name!r} is named twice")
    regimes.append(Regime(last_name, lower, math.inf))
    return regimes


def _split(part: str) -> tuple[str, float | None]:
    name, sep, value = part.strip().partition("=")
    name = name.strip()
    if not name:
        raise ConfigError("regimes", f"{part.strip()!r}: expected NAME=QUEUE_DEPTH")
    if not sep:
        return name, None
    try:
        return name, float(value)
    except ValueError:
        raise ConfigError("regimes", f"{part.strip()!r}: {value.strip()!r} is not a number") from None


def label(queue_depth: float, regimes: list[Regime]) -> str:
    for r in regimes:
        if queue_depth < r.upper:
            return r.name
    return regimes[-1].name
