"""Published figures to compare a tune with: configs known by name, and predicted knob shifts.

submitqueue: the published simulator's defaults and its single-scenario (normal-only)
optimum, both from `shared/spec/02-submit-queue.md`, and the scenario-weighting study's
prediction of how the robust optimum differs from that single-scenario one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loadwise.errors import ConfigError
from loadwise.params import resolve
from loadwise.systems.base import System, family

NAMED_CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "submitqueue": {
        "published-defaults": {"resources": 74, "maxbatch": 684, "maxk": 12, "kdiv": 5, "flaketol": 0.0767},
        "published-single-optimum": {"resources": 22, "maxbatch": 761, "maxk": 9, "kdiv": 3, "flaketol": 0.077},
    },
    "synthetic": {
        "defaults": {},
        "normal-only-optimum": {"x1": 0.35, "x2": 0.60, "x3": 0.40, "x4": 0.50},
    },
    "agentserve": {
        "defaults": {},  # the router's parameters and the servers' as profiled, first come first served
    },
    "mergequeue": {
        "defaults": {},  # the strategy's product defaults (GitHub's merge queue settings, Zuul's window, ...)
    },
}

# knob -> (direction, predicted value, reason): how the robust optimum moves away from the
# single-scenario optimum, as "Scenario Variation: Stochastic vs Deterministic Weighting"
# predicts in its section "Expected Differences in Optimal Configs".
PREDICTED_ROBUST_SHIFTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "submitqueue": {
        "resources": ("higher", "28–32", "headroom for spikes"),
        "maxbatch": ("lower", "600–700", "better under high culprit rates"),
        "maxk": ("higher", "12–14", "better isolation when culprits are frequent"),
        "flaketol": ("lower", "0.05", "keep more tests active in crisis mode"),
    },
}


def named_configs(system: System, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Resolved named configs of `system` (all of them when `names` is None)."""
    known = NAMED_CONFIGS.get(family(system), {})
    chosen = list(known) if names is None else names
    out = {}
    for name in chosen:
        if name not in known:
            allowed = ", ".join(known) or "none for this system"
            raise ConfigError("configs", f"unknown named config {name!r}; allowed: {allowed}")
        out[name] = resolve(system.knobs, known[name], f"{name}.")
    return out


def ranked(configs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Configs given best first, named robust-best, robust-top2, robust-top3, …"""
    return {"robust-best" if i == 1 else f"robust-top{i}": dict(c) for i, c in enumerate(configs, start=1)}


def published_baseline(names: Iterable[str]) -> str | None:
    """The named config that differences are paired against by default: the published defaults, when present."""
    names = set(names)
    return next((c for c in ("published-defaults", "defaults") if c in names), None)


def single_scenario_reference(system: System) -> Mapping[str, Any] | None:
    """The published single-scenario optimum, when the system has one."""
    known = NAMED_CONFIGS.get(family(system), {})
    for name in ("published-single-optimum", "normal-only-optimum"):
        if name in known:
            return resolve(system.knobs, known[name])
    return None
