"""Systems loadwise can simulate: built-in ones by name, external commands by spec file."""

from __future__ import annotations

import importlib
from pathlib import Path

from loadwise.errors import ConfigError
from loadwise.systems.base import Metrics, Objective, System, get_objective, search_space

# built-in system name -> "module:factory"
BUILTIN = {
    "submitqueue": "loadwise.systems.submitqueue:SubmitQueue",
    "synthetic": "loadwise.systems.synthetic:Synthetic",
}

__all__ = ["BUILTIN", "Metrics", "Objective", "System", "get_objective", "get_system", "search_space"]


def get_system(name: str | System) -> System:
    """A built-in system by name, or an external command system from a YAML/TOML spec file."""
    if not isinstance(name, str):
        return name
    if name in BUILTIN:
        module, factory = BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), factory)()
    path = Path(name)
    if path.suffix.lower() in {".yaml", ".yml", ".toml"}:
        from loadwise.systems.command import CommandSystem

        return CommandSystem.from_file(path)
    raise ConfigError(
        "system", f"unknown system {name!r}; allowed: {', '.join(BUILTIN)}, or a command spec file (.yaml/.toml)"
    )
