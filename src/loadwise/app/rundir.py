"""Run folders: every long command writes one, and resumes from it.

A run folder holds `run.json` (what kind of run, the resolved config, the loadwise
version), the command's results and its report. Files are written atomically
(`loadwise.files`), so a crash or Ctrl-C never leaves half a file behind.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadwise import __version__
from loadwise.errors import ConfigError
from loadwise.files import read_json, write_json
from loadwise.report.document import Report

RUN_FILE = "run.json"
STUDY_FILE = "study.db"


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
        raise ConfigError("out", f"{path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("out", f"cannot create the folder {path} ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError("out", f"the folder {path} is not writable")
    return path


@contextmanager
def undone_on_error(run_dir: Path, fresh: bool) -> Iterator[Path]:
    """While a new run is set up in `run_dir`, a ConfigError (a bad input found late: a
    storage that will not open) takes back what the run wrote, so the corrected command
    can use the same folder: the folder itself when `fresh` (this run created it), else
    its run.json."""
    try:
        yield run_dir
    except ConfigError:
        if fresh:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            (run_dir / RUN_FILE).unlink(missing_ok=True)
        raise


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


def study_storage(run_dir: str | Path) -> str:
    """The default Optuna RDB URL of a run: a SQLite file inside its folder, so the folder is the whole run."""
    return f"sqlite:///{(Path(run_dir) / STUDY_FILE).resolve()}"


def not_written(run_dir: str | Path, what: str, command: str) -> ConfigError:
    """The error for a run folder whose run stopped before `what` (the data a report needs) was written."""
    return ConfigError("run_dir", f"{run_dir}: the run stopped before {what} was written; re-run {command} to finish it")


def note_unfinished(report: Report, what: str, command: str) -> Report:
    """Say first in the report's Summary that the run did not finish, and make finishing it the next step."""
    text = f"The run stopped before it finished: {what}."
    if report.summary is None:
        report.summarize(text)
    else:
        report.summary.answer = f"{text} {report.summary.answer}"
    report.summary.next_step = f"`{command}` finishes it"
    return report
