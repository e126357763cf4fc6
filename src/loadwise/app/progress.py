"""The progress bar every long command shows (rich), with the same columns everywhere."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True)


def make_progress(disable: bool = False) -> Progress:
    """A Progress with description, bar, done/total, elapsed, ETA and a free `info` field.

    Tasks may set `info=` (e.g. "best -12.3  λ 0.41") to show live figures.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        _InfoColumn(),
        console=console,
        disable=disable,
    )


def task_callback(bar: Progress, description: str) -> Callable[[int, int, str], None]:
    """A progress callback `(done, total, info)` that drives one task of `bar`.

    Library loops report progress through such callbacks (they know nothing of rich);
    the task appears at the first call, with the total the loop announces.
    """
    task: TaskID | None = None

    def update(done: int, total: int, info: str) -> None:
        nonlocal task
        if task is None:
            task = bar.add_task(description, total=total, completed=done, info=info)
        else:
            bar.update(task, completed=done, total=total, info=info)

    return update


class _InfoColumn(ProgressColumn):
    """The task's optional `info` field (live figures), empty when not set."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("info", "")))
