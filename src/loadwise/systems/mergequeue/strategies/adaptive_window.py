"""`adaptive-window`: Zuul's dependent pipeline, a speculative chain whose window adapts like TCP's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from loadwise.params import Param
from loadwise.systems.mergequeue.engine import INF
from loadwise.systems.mergequeue.strategies.base import Strategy
from loadwise.systems.mergequeue.strategies.chain import build_done, chain_init, fill, merge_ready

ADAPTIVE_WINDOW = 3
INCREASE_TYPES = ("linear", "exponential")
DECREASE_TYPES = ("exponential", "linear", "none")

# ki
_FLOOR, _CEILING, _INC_TYPE, _INC, _DEC_TYPE, _DEC, _START = range(7)
_WINDOW = 1  # sf: the current window (sf[0] is the timer)
_NO_LIMIT = 1 << 40


class AdaptiveWindow(Strategy):
    """Zuul's dependent pipeline manager: every change in the pipeline's window is built
    on top of the changes ahead of it (optimistic branch prediction); a change that fails
    is removed and the changes behind it are built again on the nearest non-failing
    change ahead. Only the first `window` changes of the queue are built. Each change that
    merges grows the window (linear: + `window_increase_factor`; exponential: ×), each
    change that fails shrinks it (exponential: ÷ `window_decrease_factor`; linear: −;
    none), within [`window_floor`, `window_ceiling`] — rate limiting "in a manner similar
    to TCP flow control". A change merges as soon as its build and every build ahead of it
    passed. Zuul retries jobs only on infrastructure errors, so a test failure, flaky or
    not, removes the change.

    Knob names and defaults are Zuul's pipeline attributes `window` (20), `window-floor`
    (3), `window-ceiling` (unlimited; here 1000), `window-increase-type` (linear),
    `window-increase-factor` (1), `window-decrease-type` (exponential),
    `window-decrease-factor` (2) (Zuul documentation, "Pipeline" configuration).
    """

    name = "adaptive-window"
    code = ADAPTIVE_WINDOW
    knobs = (
        Param("window", int, 20, low=1, high=1000, help="the window at the start of the run"),
        Param("window_floor", int, 3, low=1, high=1000, search=(1, 20), log=True,
              help="the smallest the window shrinks to"),
        Param("window_ceiling", int, 1000, low=1, high=1000, search=(4, 200), log=True,
              help="the largest the window grows to (at least window_floor; the start window lies between them)"),
        Param("window_increase_type", str, "linear", choices=INCREASE_TYPES, search=INCREASE_TYPES,
              help="how the window grows with each merged change"),
        Param("window_increase_factor", int, 1, low=1, high=100, search=(1, 4),
              help="added (linear) or multiplied (exponential) per merged change"),
        Param("window_decrease_type", str, "exponential", choices=DECREASE_TYPES, search=DECREASE_TYPES,
              help="how the window shrinks with each failed change"),
        Param("window_decrease_factor", int, 2, low=1, high=100, search=(1, 4),
              help="divided by (exponential) or subtracted (linear) per failed change"),
    )

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        floor = config["window_floor"]
        ceiling = max(floor, config["window_ceiling"])
        return {**config, "window_ceiling": ceiling, "window": min(max(config["window"], floor), ceiling)}

    def pack(self, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        c = self.effective(config)
        ki = np.array([c["window_floor"], c["window_ceiling"], INCREASE_TYPES.index(c["window_increase_type"]),
                       c["window_increase_factor"], DECREASE_TYPES.index(c["window_decrease_type"]),
                       c["window_decrease_factor"], c["window"]], np.int64)
        return ki, np.zeros(1)


@njit
def _clamp(ki, window):
    return min(max(window, float(ki[_FLOOR])), float(ki[_CEILING]))


@njit
def adaptive_init(w, ki):
    chain_init(w)
    w.sf[_WINDOW] = float(ki[_START])


@njit
def adaptive_act(w, ki, t):
    merged = merge_ready(w, t, 1, _NO_LIMIT, 0.0, False)
    window = w.sf[_WINDOW]
    for _ in range(merged):
        window = window + ki[_INC] if ki[_INC_TYPE] == 0 else window * ki[_INC]
        window = _clamp(ki, window)
    w.sf[_WINDOW] = window
    fill(w, t, _NO_LIMIT, int(window), INF, False)


@njit
def adaptive_done(w, ki, b, t):
    failed = build_done(w, b, t, False, _NO_LIMIT)
    window = w.sf[_WINDOW]
    for _ in range(failed):
        if ki[_DEC_TYPE] == 0:
            window = window / ki[_DEC]
        elif ki[_DEC_TYPE] == 1:
            window = window - ki[_DEC]
        window = _clamp(ki, window)
    w.sf[_WINDOW] = window
