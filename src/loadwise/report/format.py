"""Numbers in report prose and tables, written the same way in every report.

Conventions: three significant digits unless a figure needs its own precision; whole
numbers (counts, rates, budgets) written as integers; thousands separators; no
scientific notation between 1e-4 and 1e9; a value that is not a finite number (NaN,
None) is written `NOT_AVAILABLE`, with the reason when one is known ("n/a (1
replicate)"), so a missing measurement never reads as a zero; ranges use an en dash.
Units belong in column headers ("latency (s)"), so cells hold bare numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

NOT_AVAILABLE = "n/a"
P_FLOOR = 0.001  # p-values below this are written "< 0.001": more digits claim a precision the tests lack


def finite(x: object) -> bool:
    """True for a plain finite number (not None, NaN or infinite)."""
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def number(x: object, digits: int = 3, reason: str = "") -> str:
    """A number for people: `digits` significant digits, integers whole, thousands separated.

    1234.5 -> '1,235'; 2.6149 -> '2.61'; 20.0 -> '20'; 0.012345 -> '0.0123'; NaN -> 'n/a'
    (or 'n/a (REASON)'); strings and other objects pass through as text.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return f"{NOT_AVAILABLE} ({reason})" if reason else NOT_AVAILABLE
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        if hasattr(x, "item") and not isinstance(x, str):  # a numpy scalar
            return number(x.item(), digits, reason)
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    size = abs(x)
    if size >= 1e9 or 0 < size < 1e-4:
        return f"{x:.{digits}g}"
    if x == int(x):
        return f"{int(x):,}"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def with_ci(value: object, ci: object, digits: int = 3, reason: str = "") -> str:
    """'value ± ci'; the interval written 'n/a (REASON)' when it is unknown: '−2.61 ± n/a (1 replicate)'."""
    if not finite(value):
        return number(value, digits, reason)
    if not finite(ci):
        return f"{number(value, digits)} ± {number(math.nan, reason=reason)}"
    return f"{number(value, digits)} ± {number(ci, 2)}"


def signed(x: float, digits: int = 3) -> str:
    """A difference with its sign: 0.0123 -> '+0.0123'."""
    text = number(x, digits)
    return text if not finite(x) or text.startswith("-") else f"+{text}"


def seconds(s: float) -> str:
    """A duration: '0.4 s', '42 s', '3 min 05 s', '1 h 02 min'."""
    if not finite(s):
        return NOT_AVAILABLE
    if s < 60:
        return f"{number(s, 2 if s < 10 else 3)} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def percent(share: float, digits: int = 3) -> str:
    """A share in percent: 0.7612 -> '76.1 %'."""
    return f"{number(100 * share, digits)} %" if finite(share) else NOT_AVAILABLE


def p_value(p: float | None) -> str:
    """A p-value: three significant digits, `< 0.001` below the floor, n/a when untested."""
    if not finite(p):
        return NOT_AVAILABLE
    return f"< {P_FLOOR}" if p < P_FLOOR else number(p)


def signed_percent(change: float) -> str:
    """A relative change as a signed percentage: 0.5 -> '+50 %'."""
    return f"{signed(100 * change)} %" if finite(change) else NOT_AVAILABLE


def percent_ci(share: float, low: float, high: float) -> str:
    """A share and its interval in percent with one decimal: '12.5 (9.1–16.9)'; empty when unknown."""
    if not finite(share):
        return ""
    return f"{100 * share:.1f} ({100 * low:.1f}–{100 * high:.1f})"  # one decimal keeps the three aligned


def value_range(low: float, high: float, scale: float = 1) -> str:
    """`low–high` times `scale`, three significant digits; empty when unknown."""
    if not finite(low):
        return ""
    return f"{number(scale * low)}–{number(scale * high)}"


def number_list(values: Iterable[float]) -> str:
    """Grid values as written in a config: '[10, 50, 200]'."""
    return "[" + ", ".join(number(x, 6) for x in values) + "]"


def tally(counts: Mapping[str, int]) -> str:
    """How many of each: 'batch × 1,204, debug × 3'."""
    return ", ".join(f"{k} × {v:,}" for k, v in counts.items())


def words(names: Sequence[str]) -> str:
    """Names joined as in a sentence: 'idle, light and moderate'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
