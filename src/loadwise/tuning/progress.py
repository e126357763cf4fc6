"""How the tuner's long loops report progress: one callback, so the caller picks the display.

The search, validation and slices call `on_progress(done, total, info)` as work
finishes. `total` may grow (a search that stops early carries its best configs to the
full set), and `info` holds live figures such as the best value so far. The
application layer draws a progress bar from the calls; a library user may log them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from loadwise.evaluate import Evaluator, RunResult, RunSpec


class OnProgress(Protocol):
    def __call__(self, done: int, total: int, info: str, /) -> None: ...


def run_counted(evaluator: Evaluator, specs: Sequence[RunSpec], on_progress: OnProgress | None
                ) -> dict[str, RunResult]:
    """`evaluator.run_all(specs)`, telling `on_progress` of every finished run."""
    if on_progress is None:
        return evaluator.run_all(specs)
    total = len({s.key for s in specs})  # run_all runs each distinct spec once
    done = 0

    def count(_: RunResult) -> None:
        nonlocal done
        done += 1
        on_progress(done, total, "")

    return evaluator.run_all(specs, count)
