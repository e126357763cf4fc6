"""Numbers in report prose and tables, written the same way in every report.

Conventions: three significant digits unless a figure needs its own precision; a value
that is not a finite number (NaN, infinity, None) is written `NOT_AVAILABLE` in prose
and left empty in a table cell, so a missing measurement never reads as a zero; counts
carry thousands separators; ranges use an en dash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

NOT_AVAILABLE = "n/a"
P_FLOOR = 0.001  # p-values below this are written "< 0.001": more digits claim a precision the tests lack


def finite(x: object) -> bool:
    """True for a plain finite number (not None, NaN or infinite)."""
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def p_value(p: float | None) -> str:
    """A p-value: three significant digits, `< 0.001` below the floor, n/a when untested."""
    if not finite(p):
        return NOT_AVAILABLE
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.3g}"


def signed_percent(change: float) -> str:
    """A relative change as a signed percentage: 0.5 -> '+50 %'."""
    return f"{100 * change:+.3g} %"


def percent_ci(share: float, low: float, high: float) -> str:
    """A share and its interval in percent with one decimal: '12.5 (9.1–16.9)'; empty when unknown."""
    if not finite(share):
        return ""
    return f"{100 * share:.1f} ({100 * low:.1f}–{100 * high:.1f})"


def value_range(low: float, high: float, scale: float = 1) -> str:
    """`low–high` times `scale`, three significant digits; empty when unknown."""
    if not finite(low):
        return ""
    return f"{scale * low:.3g}–{scale * high:.3g}"


def number_list(values: Iterable[float]) -> str:
    """Grid values as written in a config: '[10, 50, 200]'."""
    return "[" + ", ".join(f"{x:g}" for x in values) + "]"


def tally(counts: Mapping[str, int]) -> str:
    """How many of each: 'batch × 1,204, debug × 3'."""
    return ", ".join(f"{k} × {v:,}" for k, v in counts.items())


def words(names: Sequence[str]) -> str:
    """Names joined as in a sentence: 'idle, light and moderate'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
