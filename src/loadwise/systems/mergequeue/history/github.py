"""Readers for what GitHub records about a merge queue: workflow runs and pull requests.

Workflow runs are the JSON of `GET /repos/{owner}/{repo}/actions/runs?event=merge_group`
(REST API "List workflow runs for a repository"), as `gh api --paginate` saves it: one
file holding one page, several pages written one after another, or a JSON array of pages
(`--slurp`); or a folder of such files. Every run keeps the fields the fit needs:
`id, name, event, status, conclusion, created_at, run_started_at, updated_at,
run_attempt, head_branch, head_sha`; anything else in the record is ignored.

A merge group's branch is `gh-readonly-queue/{base}/pr-{number}-{sha}`: the pull
request whose entry the group was made for, and the commit the group was built on —
the target branch's head, or the head commit of the merge group ahead of it in the
queue. A run whose `{sha}` is another run's `head_sha` was built on top of that run,
so it holds that run's pull requests and one more; one whose `{sha}` is no run's
head was built on the branch itself and holds one pull request. `group_size` counts
them.

Pull requests are `GET /repos/{owner}/{repo}/pulls?state=closed` pages (`number`,
`created_at`, `merged_at`, `closed_at`).

Errors name the file, the page and the JSON path (`runs.json: page 2:
workflow_runs[17].created_at`) and say what was expected. Records are read into
numpy columns page by page, with one short Python step per record, so a million runs
read in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loadwise.errors import ConfigError

QUEUE_BRANCH = re.compile(r"gh-readonly-queue/(?P<base>.+)/pr-(?P<number>\d+)-(?P<sha>[0-9a-fA-F]{7,64})$")
# a run's conclusion as a code; anything not finished (queued, in progress) is OTHER and ignored by the fit
SUCCESS, FAILURE, CANCELLED, OTHER = 0, 1, 2, 3
_CONCLUSIONS = {"success": SUCCESS, "failure": FAILURE, "timed_out": FAILURE, "startup_failure": FAILURE,
                "cancelled": CANCELLED, "skipped": CANCELLED, "stale": CANCELLED}
_TIME_EXAMPLE = "an ISO 8601 UTC time like 2024-05-01T12:00:00Z"


@dataclass(frozen=True)
class WorkflowRuns:
    """Merge-queue workflow runs as columns (one row per run, sorted by creation time).

    Times are seconds since the Unix epoch; `pr` is the pull request number of the run's
    merge-group branch; `parent` the row of the run it was built on top of (-1: built
    on the branch); `group_size` how many pull requests the run held."""

    id: np.ndarray
    name: np.ndarray  # workflow name (object array of str)
    created: np.ndarray
    started: np.ndarray
    updated: np.ndarray
    attempt: np.ndarray
    conclusion: np.ndarray  # SUCCESS, FAILURE, CANCELLED or OTHER
    pr: np.ndarray
    parent: np.ndarray
    group_size: np.ndarray
    skipped: int  # runs of other events or branches, left out

    def __len__(self) -> int:
        return int(self.id.size)


@dataclass(frozen=True)
class PullRequests:
    """Closed pull requests as columns; `merged` is NaN for one closed without merging."""

    number: np.ndarray
    created: np.ndarray
    merged: np.ndarray
    closed: np.ndarray

    def __len__(self) -> int:
        return int(self.number.size)


def json_files(path: str | Path, field: str) -> list[Path]:
    """The JSON files of `path`: the file itself, or a folder's *.json files in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise ConfigError(field, f"{path}: the folder holds no .json files")
        return files
    if not path.is_file():
        raise ConfigError(field, f"{path}: no such file or folder")
    return [path]


def json_pages(path: Path) -> Iterator[tuple[str, Any]]:
    """Each JSON document of a file (pages written one after another, or a `--slurp` array of
    pages), labelled `file: page N` for errors."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read the file as UTF-8 text ({exc})") from None
    start, number = 0, 0
    while start < len(text):
        while start < len(text) and text[start].isspace():
            start += 1
        if start >= len(text):
            break
        doc, end = _next_document(text, start, path)
        if isinstance(doc, list) and all(isinstance(d, dict) for d in doc) and doc and number == 0 \
                and end == len(text) and not _looks_like_records(doc):
            for page in doc:  # gh api --paginate --slurp: an array of pages
                number += 1
                yield f"{path}: page {number}", page
        else:
            number += 1
            yield f"{path}: page {number}", doc
        start = end
    if number == 0:
        raise ConfigError(str(path), "empty file; expected JSON pages of the GitHub REST API")


_BOUNDARY = re.compile(r"[}\]]\s*[{\[]")


def _next_document(text: str, start: int, path: Path) -> tuple[Any, int]:
    """The JSON document starting at `start` and where it ends. Pages are cut where one closes
    and the next opens (tried in order, so a brace pair inside a string costs one failed
    parse), which keeps reading linear in the file's size."""
    for match in _BOUNDARY.finditer(text, start):
        end = match.start() + 1
        try:
            return orjson.loads(text[start:end]), end
        except orjson.JSONDecodeError:
            continue
    try:
        return orjson.loads(text[start:]), len(text)
    except orjson.JSONDecodeError as exc:
        line = text.count("\n", 0, start + exc.pos) + 1
        raise ConfigError(f"{path}:{line}", f"not valid JSON ({exc.msg})") from None


def _looks_like_records(doc: list[dict[str, Any]]) -> bool:
    """A pulls page is an array of records (they have `number`); a slurped file is an array of pages."""
    return "number" in doc[0] or "id" in doc[0]


def _times(values: list[Any], where: str, path: str, optional: bool = False) -> np.ndarray:
    """ISO 8601 UTC strings -> float seconds since the epoch (NaN for null when `optional`)."""
    try:
        if optional:
            out = np.full(len(values), np.nan)
            have = [i for i, v in enumerate(values) if v is not None]
            out[have] = _times([values[i] for i in have], where, path)
            return out
        return np.array([v[:19] for v in values], dtype="datetime64[s]").astype(np.int64).astype(float)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            if v is None and optional:
                continue
            try:
                if not isinstance(v, str) or len(v) < 19 or v[10] != "T":
                    raise ValueError(v)
                np.datetime64(v[:19], "s")
            except (TypeError, ValueError):
                raise ConfigError(f"{where}[{i}].{path}", f"expected {_TIME_EXAMPLE}, got {v!r}") from None
        raise


def _column(records: list[dict[str, Any]], key: str, where: str, kind: type | tuple[type, ...],
            nullable: bool = False) -> list[Any]:
    try:
        values = [r[key] for r in records]
    except (KeyError, TypeError):
        i = next(i for i, r in enumerate(records) if not isinstance(r, dict) or key not in r)
        what = f"missing field {key!r}" if isinstance(records[i], dict) else "expected a JSON object"
        raise ConfigError(f"{where}[{i}]", what) from None
    bad = [i for i, v in enumerate(values) if not (isinstance(v, kind) or (nullable and v is None))
           or isinstance(v, bool)]
    if bad:
        expected = {int: "an integer", str: "a string"}.get(kind, "a value") if isinstance(kind, type) else "a value"
        raise ConfigError(f"{where}[{bad[0]}].{key}",
                          f"expected {expected}{' or null' if nullable else ''}, got {values[bad[0]]!r}")
    return values


def read_workflow_runs(*paths: str | Path, field: str = "history") -> WorkflowRuns:
    """Merge-queue workflow runs from files or folders of `actions/runs` pages (see module doc)."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("id", "created", "started", "updated", "attempt",
                                                          "conclusion", "pr", "base", "head", "name")}
    skipped = 0
    for given in paths:
        for file in json_files(given, field):
            for label, page in json_pages(file):
                if not isinstance(page, dict) or not isinstance(page.get("workflow_runs"), list):
                    raise ConfigError(label, "expected an object with a workflow_runs array "
                                             "(GET /repos/{owner}/{repo}/actions/runs)")
                records = page["workflow_runs"]
                if not records:
                    continue
                where = f"{label}: workflow_runs"
                branches = _column(records, "head_branch", where, str, nullable=True)
                events = _column(records, "event", where, str)
                matches = [QUEUE_BRANCH.match(b) if b is not None else None for b in branches]
                keep = [i for i, (m, e) in enumerate(zip(matches, events)) if m is not None and e == "merge_group"]
                skipped += len(records) - len(keep)
                if not keep:
                    continue
                if len(keep) < len(records):
                    records = [records[i] for i in keep]
                    matches = [matches[i] for i in keep]
                cols["id"].append(np.array(_column(records, "id", where, int), np.int64))
                cols["name"].append(np.array(_column(records, "name", where, str, nullable=True), object))
                conclusions = _column(records, "conclusion", where, str, nullable=True)
                cols["conclusion"].append(np.array([_CONCLUSIONS.get(c, OTHER) for c in conclusions], np.int8))
                cols["attempt"].append(np.array(_column(records, "run_attempt", where, int), np.int64))
                cols["created"].append(_times(_column(records, "created_at", where, str), where, "created_at"))
                cols["started"].append(_times(_column(records, "run_started_at", where, str, nullable=True), where,
                                              "run_started_at", optional=True))
                cols["updated"].append(_times(_column(records, "updated_at", where, str), where, "updated_at"))
                cols["head"].append(np.array(_column(records, "head_sha", where, str), object))
                cols["pr"].append(np.array([int(m["number"]) for m in matches], np.int64))
                cols["base"].append(np.array([m["sha"] for m in matches], object))
    if not cols["id"]:
        raise ConfigError(field, f"no merge-queue workflow runs (event merge_group on gh-readonly-queue/... "
                                 f"branches) in {', '.join(map(str, paths))}; {skipped} other runs")
    data = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((data["id"], data["created"]))  # run ids grow with creation: ties in order
    data = {k: v[order] for k, v in data.items()}
    # a run with the same id read twice (overlapping pages) counts once
    _, first = np.unique(data["id"], return_index=True)
    if first.size < data["id"].size:
        first.sort()
        data = {k: v[first] for k, v in data.items()}
    parent, size = _stacks(data["base"], data["head"])
    started = np.where(np.isnan(data["started"]), data["created"], data["started"])
    return WorkflowRuns(data["id"], data["name"], data["created"], started, data["updated"], data["attempt"],
                        data["conclusion"], data["pr"], parent, size, skipped)


def _stacks(base: np.ndarray, head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each run's parent (the run whose head commit it was built on, -1 for the branch) and
    group size, runs being in creation order. Several workflows of one merge group share
    its head commit; the parent is the first of them."""
    head_row: dict[str, int] = {}
    parent = np.full(base.size, -1, np.int64)
    size = np.ones(base.size, np.int64)
    for i, (b, h) in enumerate(zip(base.tolist(), head.tolist())):
        p = head_row.get(b)
        if p is not None:
            parent[i] = p
            size[i] = size[p] + 1
        head_row.setdefault(h, i)
    return parent, size


def read_pull_requests(*paths: str | Path, field: str = "pulls") -> PullRequests:
    """Closed pull requests from files or folders of `pulls?state=closed` pages."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("number", "created", "merged", "closed")}
    for given in paths:
        for file in json_files(given, field):
            for label, page in json_pages(file):
                if not isinstance(page, list):
                    raise ConfigError(label, "expected an array of pull requests (GET /repos/{owner}/{repo}/pulls)")
                if not page:
                    continue
                where = label + ": "
                cols["number"].append(np.array(_column(page, "number", where, int), np.int64))
                cols["created"].append(_times(_column(page, "created_at", where, str), where, "created_at"))
                cols["merged"].append(_times(_column(page, "merged_at", where, str, nullable=True), where,
                                             "merged_at", optional=True))
                cols["closed"].append(_times(_column(page, "closed_at", where, str, nullable=True), where,
                                             "closed_at", optional=True))
    if not cols["number"]:
        raise ConfigError(field, f"no pull requests in {', '.join(map(str, paths))}")
    data = {k: np.concatenate(v) for k, v in cols.items()}
    _, first = np.unique(data["number"], return_index=True)
    first = first[np.argsort(data["created"][first], kind="stable")]
    return PullRequests(*(data[k][first] for k in ("number", "created", "merged", "closed")))
