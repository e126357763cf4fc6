"""`loadwise report RUN_DIR`: write any run folder's report again from the data it holds.

Every verb writes its report through its own `render(run_dir)`, from the files it kept in
the run folder, so writing it again here (after an upgrade, or for a run interrupted
before its report) is the same code. A run folder's kind is in its `run.json`; run
folders inside it (a demo's steps, a merge-queue comparison's strategy tunes) are
written first, so a combined report links to fresh ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from loadwise.app import (
    audit,
    calibrate,
    demo,
    evaluate_router,
    loadtest,
    mergequeue,
    sweep,
    train_router,
    tune,
    validate,
)
from loadwise.app.rundir import RUN_FILE, read_run_info
from loadwise.errors import ConfigError

Renderer = Callable[[str | Path], dict[str, Path]]

RENDERERS: dict[str, Renderer] = {
    "tune": tune.render,
    "validate": validate.render,
    sweep.RUN_KIND: sweep.render,
    calibrate.RUN_KIND: calibrate.render,
    train_router.RUN_KIND: train_router.render,
    evaluate_router.RUN_KIND: evaluate_router.render,
    audit.RUN_KIND: audit.render,
    mergequeue.RUN_KIND: mergequeue.render,
    loadtest.RUN_KIND: loadtest.render,
    "demo": demo.render,
}


def render_report(run_dir: str | Path) -> dict[str, Path]:
    """Write the report of the run folder `run_dir` (and of the run folders inside it) from its data.

    Returns the report's paths ("html", "markdown"). Not a folder, no `run.json`, a kind
    this version does not know, or data the run never wrote is a ConfigError naming
    `run_dir`.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError("run_dir", f"{run_dir} is not a folder")
    if not (folder / RUN_FILE).is_file():
        raise ConfigError("run_dir", f"{run_dir} is not a loadwise run folder (no {RUN_FILE})")
    kind = read_run_info(folder).get("kind")
    if kind not in RENDERERS:
        raise ConfigError("run_dir", f"{run_dir} is a {kind!r} run, which has no report; "
                                     f"reports are written for {', '.join(RENDERERS)}")
    for inner in sorted(folder.glob(f"*/**/{RUN_FILE}"), key=lambda p: -len(p.parts)):
        inner_kind = read_run_info(inner.parent).get("kind")
        if inner_kind in RENDERERS:
            with contextlib.suppress(ConfigError):  # an inner run that never wrote its data keeps its old report
                RENDERERS[inner_kind](inner.parent)
    paths = RENDERERS[kind](folder)
    if kind == "tune" and (folder / validate.VALIDATION_FILE).is_file():
        validate.render(folder)  # `loadwise validate RUN_DIR` wrote its own report beside the tune's
    return paths
