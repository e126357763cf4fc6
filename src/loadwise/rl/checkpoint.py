"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint holds the two networks, the optimizer (Adam's moments), the Lagrange
multipliers, the number of finished epochs and the per-epoch log. Randomness needs no
saving: every epoch's randomness is derived from (seed, epoch) alone (see `train`), so a
resumed run repeats the next epoch of an uninterrupted one bit for bit.

Files are written to a temporary name and renamed, so a crash never leaves half a
checkpoint; `checkpoint.pt` is always the latest, `epoch-NNNN.pt` keeps each epoch.

A checkpoint holds tensors, numbers, strings, lists and dicts only, and is read with
`torch.load(weights_only=True)`: a file from elsewhere cannot run code when loaded, and
one that holds anything else (a pickled object) is refused.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loadwise.errors import ConfigError

LATEST = "checkpoint.pt"


def save(folder: Path, epoch: int, state: dict[str, Any], keep_every_epoch: bool = True) -> Path:
    """Write `state` (plain dicts, tensors, numbers) as the checkpoint after `epoch` epochs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = _plain({"epochs_done": epoch, **state})
    tmp = folder / f".{LATEST}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    if keep_every_epoch:
        os.link(tmp, folder / f".epoch.tmp{os.getpid()}")
        os.replace(folder / f".epoch.tmp{os.getpid()}", folder / f"epoch-{epoch:04d}.pt")
    os.replace(tmp, folder / LATEST)
    return folder / LATEST


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint file, or the latest one in a run folder or its `checkpoints/` folder."""
    path = Path(path)
    for candidate in (path, path / LATEST, path / "checkpoints" / LATEST):
        if candidate.is_file():
            try:
                state = torch.load(candidate, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
                if found is None:  # not a pickle at all
                    raise ConfigError(str(path), "not a loadwise router checkpoint (unreadable)") from None
                raise ConfigError(str(path), f"the checkpoint holds an object ({found.group(1)}), not only tensors, "
                                             "numbers, strings, lists and dicts (an old or foreign file); it is "
                                             "not loaded, since loading it could run code: train the router "
                                             "again") from None
            except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
                raise ConfigError(str(path), f"not a loadwise router checkpoint ({exc.__class__.__name__})") from None
            if not isinstance(state, dict) or "epochs_done" not in state:
                raise ConfigError(str(path), "not a loadwise router checkpoint (no epochs_done)")
            return state
    raise ConfigError(str(path), "no checkpoint found (expected a .pt file or a router training run folder)")


def _plain(value: Any) -> Any:
    """`value` with numpy arrays and scalars made lists and numbers; anything but
    tensors, numbers, strings, None, lists, tuples and dicts is a TypeError (it could
    not be loaded with weights_only)."""
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError(f"checkpoint dict keys must be strings or integers, got {list(value)[:3]}")
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (torch.Tensor, str, bool, int, float)):
        return value
    raise TypeError(f"a checkpoint holds tensors, numbers, strings, lists and dicts, not {type(value).__name__}")
