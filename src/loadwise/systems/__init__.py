"""Systems loadwise can simulate: built-in ones by name, external commands by spec file."""

from __future__ import annotations

import importlib
from pathlib import Path

from loadwise.errors import ConfigError
from loadwise.systems.base import GroupRunner, Metrics, Objective, RunRecord, System, get_objective, search_space

# built-in system name -> "module:factory"; "name:variant" passes the variant to the factory
BUILTIN = {
    "submitqueue": "loadwise.systems.submitqueue:SubmitQueue",
    "synthetic": "loadwise.systems.synthetic:Synthetic",
    "agentserve": "loadwise.systems.agentserve.system:AgentServe",
    "mergequeue": "loadwise.systems.mergequeue.system:MergeQueue",
}
# built-in systems that come in variants, and the factory argument a variant sets
VARIANTS = {"agentserve": "router", "mergequeue": "strategy"}

__all__ = [
    "BUILTIN", "VARIANTS", "GroupRunner", "Metrics", "Objective", "RunRecord", "System",
    "get_objective", "get_system", "search_space",
]


def get_system(name: str | System) -> System:
    """A built-in system by name (`agentserve:static-mix` picks a variant), or an external
    command system from a YAML/TOML spec file."""
    if not isinstance(name, str):
        return name
    base, _, variant = name.partition(":")
    if base in BUILTIN:
        module, factory = BUILTIN[base].split(":")
        cls = getattr(importlib.import_module(module), factory)
        if not variant:
            return cls()
        if base not in VARIANTS:
            raise ConfigError("system", f"{base} has no variants; use {base!r}")
        return cls(**{VARIANTS[base]: variant})
    path = Path(name)
    if path.suffix.lower() in {".yaml", ".yml", ".toml"}:
        from loadwise.systems.command import CommandSystem

        return CommandSystem.from_file(path)
    raise ConfigError(
        "system", f"unknown system {name!r}; allowed: {', '.join(BUILTIN)} (agentserve:ROUTER for another "
        "router, mergequeue:STRATEGY for another strategy), or a command spec file (.yaml/.toml)"
    )
