"""What every merge-queue strategy declares: its name, its knobs, and how they reach the kernel.

A strategy's behaviour is compiled (numba) and lives beside its class in the same
module; the class is what the rest of loadwise sees: typed, bounded knobs (one `Param`
each, which drives validation, search ranges, `--set` and help) and `pack`, which turns
a checked config into the two plain arrays the kernel reads (integers and floats, in
the order the strategy's compiled code names them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from loadwise.params import Param


class Strategy:
    """One way to run a merge queue in the shared world (see `mergequeue.engine`)."""

    name: ClassVar[str]
    code: ClassVar[int]  # the kernel's switch
    knobs: ClassVar[tuple[Param, ...]] = ()

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config as the strategy applies it: knobs that bound each other made consistent
        (a minimum above its maximum is the maximum). A tuner samples knobs independently,
        so this is what a tuned config means, and what a report should recommend."""
        return dict(config)

    def pack(self, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's (integer, float) knob arrays for a checked config."""
        return np.zeros(1, np.int64), np.zeros(1, np.float64)

    def list_size(self, config: Mapping[str, Any]) -> int:
        """Room the strategy needs in each scratch list beyond one slot per pull request."""
        return 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
