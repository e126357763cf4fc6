"""A history given as files: which reader each file needs, JUnit reports, and the seed's CSV.

`read_history` takes any mix of paths and sorts them by what they hold: GitHub workflow
runs (JSON pages with `workflow_runs`), pull requests (JSON arrays of pull requests),
JUnit XML reports (`.xml` files, or a folder of them) and the seed's build-history CSV
(`.csv`, read by the submit queue's trace reader). A folder is read by its files' kind.

JUnit: a test that failed and then passed on retry in one report is a flaky test. Both
ways tools write it are read: Maven Surefire's `<flakyFailure>`/`<flakyError>` inside a
passing `<testcase>` (Surefire docs, "Rerun failing tests"), and a `<testcase>` repeated
in one report, failing before it passes (pytest-rerunfailures, Gradle's retry plugin).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadwise.errors import ConfigError
from loadwise.systems.mergequeue.history.github import (
    PullRequests,
    WorkflowRuns,
    json_files,
    json_pages,
    read_pull_requests,
    read_workflow_runs,
)
from loadwise.systems.submitqueue.trace import Change, read_changes


@dataclass(frozen=True)
class JUnitFlakes:
    """Per report (one CI run's tests): whether any test passed only on retry; per test, how
    many reports it flaked in."""

    reports: int
    flaky_reports: int
    tests: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class History:
    """Everything read from a history's files (any part may be missing)."""

    runs: WorkflowRuns | None = None
    pulls: PullRequests | None = None
    changes: dict[int, Change] | None = None
    junit: JUnitFlakes | None = None


def read_junit(paths: list[Path]) -> JUnitFlakes:
    """Flaky tests in JUnit XML reports (see the module doc)."""
    per_test: dict[str, int] = {}
    flaky_reports = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise ConfigError(str(path), f"not a readable JUnit XML report ({exc})") from None
        if root.tag not in ("testsuites", "testsuite"):
            raise ConfigError(str(path), f"expected a <testsuites> or <testsuite> root element, got <{root.tag}>")
        failed: set[str] = set()
        flaky: set[str] = set()
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            broken = case.find("failure") is not None or case.find("error") is not None
            if case.find("flakyFailure") is not None or case.find("flakyError") is not None:
                flaky.add(name)
            elif broken:
                failed.add(name)
            elif name in failed:
                flaky.add(name)
        for name in flaky:
            per_test[name] = per_test.get(name, 0) + 1
        flaky_reports += bool(flaky)
    return JUnitFlakes(len(paths), flaky_reports, dict(sorted(per_test.items(), key=lambda kv: -kv[1])))


def _kind(path: Path) -> str:
    """runs, pulls, junit or csv, from the file's name or first JSON page."""
    if path.suffix == ".csv":
        return "csv"
    if path.suffix == ".xml":
        return "junit"
    for _label, page in json_pages(path):
        if isinstance(page, dict) and "workflow_runs" in page:
            return "runs"
        if isinstance(page, list):
            if page and isinstance(page[0], dict) and "workflow_runs" in page[0]:
                return "runs"
            return "pulls"
        break
    raise ConfigError(str(path), "expected GitHub workflow runs ({\"workflow_runs\": [...]}), pull requests "
                                 "([{\"number\": ...}]), JUnit XML (.xml) or the build-history CSV (.csv)")


def read_history(paths: list[str | Path], field: str = "history") -> History:
    """Read every path by what it holds (see the module doc)."""
    if not paths:
        raise ConfigError(field, "give at least one history file or folder")
    found: dict[str, list[Path]] = {"runs": [], "pulls": [], "junit": [], "csv": []}
    for given in map(Path, paths):
        if given.is_dir():
            xml = sorted(given.glob("*.xml"))
            files = xml + sorted(given.glob("*.csv")) or json_files(given, field)
        elif given.is_file():
            files = [given]
        else:
            raise ConfigError(field, f"{given}: no such file or folder")
        for file in files:
            found[_kind(file)].append(file)
    changes: dict[int, Change] = {}
    for file in found["csv"]:
        changes.update(read_changes(file))
    return History(
        runs=read_workflow_runs(*found["runs"], field=field) if found["runs"] else None,
        pulls=read_pull_requests(*found["pulls"], field=field) if found["pulls"] else None,
        changes=changes or None,
        junit=read_junit(found["junit"]) if found["junit"] else None,
    )


def change_columns(changes: dict[int, Change]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(creation times in seconds since the epoch, is_bad, any flaky target) per change."""
    rows = list(changes.values())
    created = np.array([c.created_ms / 1000.0 for c in rows])
    bad = np.array([c.is_bad for c in rows], bool)
    flaky = np.array([any(0 < e < 1 for e in c.effects.values()) for c in rows], bool)
    order = np.argsort(created, kind="stable")
    return created[order], bad[order], flaky[order]
