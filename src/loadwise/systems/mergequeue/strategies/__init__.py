"""The five merge-queue strategies, by name: `serial`, `batch-bisect`, `speculative`,
`adaptive-window` and `group-testing`. Each module holds one strategy: its class (knobs,
the product documentation it follows) and its compiled behaviour."""

from __future__ import annotations

import importlib

from loadwise.errors import ConfigError
from loadwise.systems.mergequeue.strategies.base import Strategy

# strategy name -> "module:class"
_STRATEGIES = {
    "serial": "serial:Serial",
    "batch-bisect": "batch_bisect:BatchBisect",
    "speculative": "speculative:Speculative",
    "adaptive-window": "adaptive_window:AdaptiveWindow",
    "group-testing": "group_testing:GroupTesting",
}
STRATEGY_NAMES: tuple[str, ...] = tuple(_STRATEGIES)

__all__ = ["STRATEGY_NAMES", "Strategy", "get_strategy"]


def get_strategy(name: str) -> Strategy:
    """The strategy called `name`, or a ConfigError listing the names."""
    if name not in _STRATEGIES:
        raise ConfigError("strategy", f"unknown strategy {name!r}; allowed: {', '.join(STRATEGY_NAMES)}")
    module, cls = _STRATEGIES[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
