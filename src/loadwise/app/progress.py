"""The progress bar every long command shows (rich), with the same columns everywhere."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
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


class _InfoColumn(ProgressColumn):
    """The task's optional `info` field (live figures), empty when not set."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("info", "")))
