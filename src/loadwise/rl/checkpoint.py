"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint holds the two networks, the optimizer (Adam's moments), the Lagrange
multipliers, the number of finished epochs and the per-epoch log. Randomness needs no
saving: every epoch's randomness is derived from (seed, epoch) alone (see `train`), so a
resumed run repeats the next epoch of an uninterrupted one bit for bit.

Files are written to a temporary name and renamed, so a crash never leaves half a
checkpoint; `checkpoint.pt` is always the latest, `epoch-NNNN.pt` keeps each epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from loadwise.errors import ConfigError

LATEST = "checkpoint.pt"


def save(folder: Path, epoch: int, state: dict[str, Any], keep_every_epoch: bool = True) -> Path:
    """Write `state` (plain dicts, tensors, numbers) as the checkpoint after `epoch` epochs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"epochs_done": epoch, **state}
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
                return torch.load(candidate, map_location="cpu", weights_only=False)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input
                raise ConfigError(str(path), f"not a loadwise router checkpoint ({exc.__class__.__name__})") from None
    raise ConfigError(str(path), "no checkpoint found (expected a .pt file or a router training run folder)")
