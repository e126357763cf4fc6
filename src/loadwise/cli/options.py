"""Flag values the command line reads as text: numbers, comma-separated lists of numbers.

Library verbs take numbers; these parsers turn a flag's text into them, with one error
naming the field and the offending part.
"""

from __future__ import annotations

import math
from typing import Any

from loadwise.errors import ConfigError


def number_or_text(text: str) -> Any:
    """A flag's text as int or float when it is one; otherwise the text (the parameter's check
    reports what it allows)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def number_list(text: str | None, field: str) -> tuple[float, ...] | None:
    """'20,30,50' -> (20.0, 30.0, 50.0): positive, finite and distinct, in the order given; None when empty."""
    if text is None or not str(text).strip():
        return None
    values = []
    for raw in str(text).split(","):
        part = raw.strip()
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(field, f"expected comma-separated positive numbers, got {part!r}")
        values.append(value)
    if len(set(values)) != len(values):
        raise ConfigError(field, "values must be distinct")
    return tuple(values)


def seed_list(text: str, field: str) -> tuple[int, ...]:
    """'12345,777' -> (12345, 777): distinct non-negative integers, in the order given."""
    parts = [p.strip() for p in str(text).split(",")]
    if not all(p.isdigit() for p in parts):
        raise ConfigError(field, f"expected comma-separated non-negative integers, got {text!r}")
    seeds = tuple(int(p) for p in parts)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(field, f"seeds repeat in {text!r}; each seed is one independent replication")
    return seeds


def weight_list(text: str | None, field: str) -> tuple[float, ...] | None:
    """'2,0,1,1' -> (2.0, 0.0, 1.0, 1.0): numbers in the order given (they may repeat); None when empty."""
    if text is None or not str(text).strip():
        return None
    try:
        return tuple(float(part) for part in str(text).split(","))
    except ValueError:
        raise ConfigError(field, f"{text!r} is not a comma-separated list of numbers (one weight per cell)") from None
