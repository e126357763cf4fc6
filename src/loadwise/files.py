"""Atomic file writes and JSON helpers: a crash or Ctrl-C never leaves half a file behind.

Every writer goes to a temporary name beside the target and renames it, so readers see
the old file or the new one. JSON is written with numpy values, paths and sets made
plain (sets sorted, so files are stable).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loadwise.errors import ConfigError


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def read_user_text(path: str | Path, field: str | None = None) -> str:
    """A text file a user gave (a spec, a CSV, a trace): its content as a string.

    A file that cannot be read, is not UTF-8 or holds NUL bytes (a binary file) is a
    ConfigError naming `field` (the file itself when None), never a decoding traceback.
    """
    path = Path(path)
    where = field or str(path)
    shown = "" if field in (None, str(path)) else f"{path}: "
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(where, f"{shown}cannot read the file ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(where, f"{shown}not a UTF-8 text file (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if "\x00" in text:
        raise ConfigError(where, f"{shown}not a text file (it holds NUL bytes)")
    return text


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, paths and sets (sorted) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
