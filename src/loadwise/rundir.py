"""Run folders: every long command writes one, and resumes from it.

A run folder holds `run.json` (what kind of run, the resolved config, the loadwise
version), the command's results and its report. Files are written atomically (to a
temporary name, then renamed) so a crash or Ctrl-C never leaves half a file behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from loadwise import __version__
from loadwise.errors import ConfigError

RUN_FILE = "run.json"


def new_run_dir(kind: str, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """Create the run folder `out`, or `root/<kind>-<timestamp>` when out is None."""
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{kind}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path(root) / f"{kind}-{stamp}-{n}"
    else:
        path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError("--out", f"{path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_run_info(run_dir: Path, kind: str, config: dict[str, Any]) -> None:
    """Record what this run is, so `loadwise report` and resume know how to read it."""
    write_json(run_dir / RUN_FILE, {"kind": kind, "version": __version__, "config": config})


def read_run_info(run_dir: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The run.json of a run folder; a missing file or a different kind is a ConfigError."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise ConfigError(str(run_dir), f"not a loadwise run folder (no {RUN_FILE})")
    info = read_json(path)
    if kind is not None and info.get("kind") != kind:
        raise ConfigError(str(run_dir), f"is a {info.get('kind')!r} run, expected a {kind!r} run")
    return info


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: Path, text: str) -> None:
    """Write atomically: readers see the old file or the new one, never a partial one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, paths and sets (sorted, so files are stable) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
