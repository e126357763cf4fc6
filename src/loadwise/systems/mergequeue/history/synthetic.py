"""A synthetic repository's merge-queue history with known parameters, in GitHub's format.

It plays GitHub's merge queue (speculative, ALLGREEN) forward and records what GitHub
would: one `merge_group` workflow run per merge group and the closed pull requests.

- Pull requests join the queue as in the simulator (`arrivals.poisson_arrivals`: the
  hour-of-week `profile` times `prs_per_day`), from Monday 2024-01-01 00:00 UTC.
- Each is bad with probability `p_bad`. A build fails when any pull request it holds is
  bad, or flakes with probability `p_flake`; it lasts a lognormal time (median
  `duration_median_min`, log-spread `duration_sigma`).
- At most `max_entries_to_build` merge groups are built at once, each on top of the one
  ahead (branch `gh-readonly-queue/main/pr-{number}-{sha of the commit below}`). When the
  front group passes it merges, with the passed groups right behind it, at most
  `max_entries_to_merge` pull requests together. A failed build is re-run once, the
  moment it fails, with probability `p_rerun` (as an automatic retry does); when the
  front group fails for good its pull request leaves the queue (closed), the builds
  behind it are cancelled and their pull requests queued again on the new base.

`synthetic_history` returns the pages; `write_synthetic_history` (and
`benchmarks/mq_history_synthetic.py`) write them as `gh api --paginate` would.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadwise.systems.mergequeue.arrivals import poisson_arrivals

EPOCH = np.datetime64("2024-01-01T00:00:00", "s")  # a Monday
PAGE_SIZE = 100  # the REST API's largest page


@dataclass(frozen=True)
class SyntheticRepo:
    """The known truth behind a synthetic history."""

    days: float = 28.0
    prs_per_day: float = 200.0
    profile: str = "office-hours"
    p_bad: float = 0.05
    p_flake: float = 0.03
    duration_median_min: float = 15.0
    duration_sigma: float = 0.4
    max_entries_to_build: int = 5
    max_entries_to_merge: int = 5
    p_rerun: float = 0.5
    seed: int = 0


@dataclass
class _Run:
    row: int
    pr: int
    broken: bool
    done: float
    passed: bool
    starts: list[float]  # when each attempt started


def _iso(seconds: float) -> str:
    return str(EPOCH + np.timedelta64(int(seconds), "s")) + "Z"


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def synthetic_history(repo: SyntheticRepo) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(workflow runs, closed pull requests) of `repo` (see the module doc)."""
    arrivals = poisson_arrivals(repo.prs_per_day, repo.profile, repo.days, repo.seed).times
    rng = np.random.default_rng(np.random.SeedSequence(repo.seed, spawn_key=(7,)))
    bad = rng.random(arrivals.size) < repo.p_bad
    horizon = repo.days * 86400.0
    mu = np.log(repo.duration_median_min * 60.0)
    runs: list[dict[str, Any]] = []
    pulls: dict[int, dict[str, Any]] = {}
    pending: deque[int] = deque()
    stack: list[_Run] = []
    base = _sha("base", repo.seed)
    nxt, t = 0, 0.0

    def build(pr: int, now: float) -> None:
        below = runs[stack[-1].row]["head_sha"] if stack else base
        broken = bool(bad[pr]) or (bool(stack) and stack[-1].broken)
        starts = [now]
        while True:
            duration = float(np.exp(mu + repo.duration_sigma * rng.standard_normal()))
            passed = not broken and rng.random() >= repo.p_flake
            if passed or len(starts) == 2 or rng.random() >= repo.p_rerun:
                break
            starts.append(starts[-1] + duration)
        start, attempt = starts[-1], len(starts)
        row = len(runs)
        runs.append({"id": 10_000_000 + row, "name": "CI", "event": "merge_group", "status": "completed",
                     "conclusion": "success" if passed else "failure", "created_at": _iso(now),
                     "run_started_at": _iso(start), "updated_at": _iso(start + duration), "run_attempt": attempt,
                     "head_branch": f"gh-readonly-queue/main/pr-{pr + 1}-{below}",
                     "head_sha": _sha("group", repo.seed, row)})
        stack.append(_Run(row, pr, broken, start + duration, passed, starts))

    while True:
        while stack and stack[0].done <= t:
            head = stack[0]
            if head.passed:
                group = 1
                while group < min(len(stack), repo.max_entries_to_merge) and stack[group].passed \
                        and stack[group].done <= t:
                    group += 1
                for entry in stack[:group]:
                    pulls[entry.pr]["merged_at"] = pulls[entry.pr]["closed_at"] = _iso(t)
                base = runs[stack[group - 1].row]["head_sha"]
                del stack[:group]
            else:
                pulls[head.pr]["closed_at"] = _iso(t)
                for entry in reversed(stack[1:]):
                    if entry.done > t:
                        _cancel(runs[entry.row], entry, t)
                    pending.appendleft(entry.pr)
                stack.clear()
        while len(stack) < repo.max_entries_to_build and pending:
            build(pending.popleft(), t)
        events = [stack[0].done] if stack else []
        if nxt < arrivals.size:
            events.append(float(arrivals[nxt]))
        if not events or min(events) >= horizon:
            break
        t = min(events)
        while nxt < arrivals.size and arrivals[nxt] <= t:
            pulls[nxt] = {"number": nxt + 1, "state": "closed", "created_at": _iso(arrivals[nxt]),
                          "closed_at": None, "merged_at": None}
            pending.append(nxt)
            nxt += 1
    for entry in stack:  # still building at the end of the history
        if entry.done > horizon:
            _cancel(runs[entry.row], entry, horizon)
            runs[entry.row].update(status="in_progress", conclusion=None)
    closed = [p for p in pulls.values() if p["closed_at"] is not None]
    return runs, closed


def _cancel(record: dict[str, Any], entry: _Run, t: float) -> None:
    """A run stopped at `t`: the attempt it was in, cancelled."""
    attempt = sum(1 for s in entry.starts if s <= t)
    record.update(conclusion="cancelled", updated_at=_iso(t), run_attempt=attempt,
                  run_started_at=_iso(entry.starts[attempt - 1]))


def pages(records: list[dict[str, Any]], runs: bool) -> list[Any]:
    """Records as REST API pages, newest first as GitHub lists them."""
    newest = records[::-1]
    chunks = [newest[i:i + PAGE_SIZE] for i in range(0, len(newest), PAGE_SIZE)]
    return [{"total_count": len(records), "workflow_runs": c} for c in chunks] if runs else chunks


def write_synthetic_history(repo: SyntheticRepo, folder: str | Path) -> dict[str, Path]:
    """Write `runs.json` and `pulls.json` (pages one after another, as `gh api --paginate`
    saves them) and `truth.yaml` (the parameters; not JSON, so that the folder reads as a history) into `folder`."""
    import json

    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    runs, pulls = synthetic_history(repo)
    paths = {"runs": folder / "runs.json", "pulls": folder / "pulls.json", "truth": folder / "truth.yaml"}
    paths["runs"].write_text("".join(json.dumps(p, separators=(",", ":")) + "\n" for p in pages(runs, True)))
    paths["pulls"].write_text("".join(json.dumps(p, separators=(",", ":")) + "\n" for p in pages(pulls, False)))
    paths["truth"].write_text(yaml.safe_dump(asdict(repo), sort_keys=False))
    return paths
