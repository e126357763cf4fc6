"""Configs known by name, to validate against (published figures from the specs).

submitqueue: the published simulator defaults and the published single-scenario
(normal-only) optimum, both from `shared/spec/02-submit-queue.md` and seed 003.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadwise.errors import ConfigError
from loadwise.systems.base import System
from loadwise.params import resolve

NAMED_CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "submitqueue": {
        "published-defaults": {"resources": 74, "maxbatch": 684, "maxk": 12, "kdiv": 5, "flaketol": 0.0767},
        "published-single-optimum": {"resources": 22, "maxbatch": 761, "maxk": 9, "kdiv": 3, "flaketol": 0.077},
    },
    "synthetic": {
        "defaults": {},
        "normal-only-optimum": {"x1": 0.35, "x2": 0.60, "x3": 0.40, "x4": 0.50},
    },
}


def named_configs(system: System, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Resolved named configs of `system` (all of them when `names` is None)."""
    known = NAMED_CONFIGS.get(system.name, {})
    chosen = list(known) if names is None else names
    out = {}
    for name in chosen:
        if name not in known:
            allowed = ", ".join(known) or "none for this system"
            raise ConfigError("--config", f"unknown named config {name!r}; allowed: {allowed}")
        out[name] = resolve(system.knobs, known[name], f"{name}.")
    return out


def single_scenario_reference(system: System) -> Mapping[str, Any] | None:
    """The published single-scenario optimum, when the system has one."""
    known = NAMED_CONFIGS.get(system.name, {})
    for name in ("published-single-optimum", "normal-only-optimum"):
        if name in known:
            return resolve(system.knobs, known[name])
    return None
