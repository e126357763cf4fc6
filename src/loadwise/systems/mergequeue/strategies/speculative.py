"""`speculative`: GitHub's merge queue, each pull request built on top of those ahead of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from loadwise.params import Param
from loadwise.systems.mergequeue.strategies.base import Strategy
from loadwise.systems.mergequeue.strategies.chain import build_done, chain_init, fill, merge_ready

SPECULATIVE = 2
GROUPINGS = ("ALLGREEN", "HEADGREEN")

# ki / kf
_BUILD, _MIN_MERGE, _MAX_MERGE, _HEAD_GREEN = range(4)
_WAIT_S, _TIMEOUT_S = range(2)
_NO_WINDOW = 1 << 40


class Speculative(Strategy):
    """GitHub's merge queue (and Mergify's parallel speculative checks with batches of one,
    Aviator's parallel mode, Trunk's parallel queue). Each queued pull request gets its
    own build, a merge group holding the branch and every pull request ahead of it; at
    most `max_entries_to_build` builds run at once. When a build fails the pull request
    is removed and the builds behind it are made again without it. Merges take groups
    from the front of at most `max_entries_to_merge` pull requests, waiting for
    `min_entries_to_merge` of them until the front one has been queued for
    `min_entries_to_merge_wait_minutes` ("merge limits do not combine merge_group
    builds"). `grouping_strategy` ALLGREEN merges only pull requests whose own build
    passed; HEADGREEN merges a group once its last pull request's build passed (it held
    all of them), so a flaky failure ahead of a passing build is forgiven. A build that
    has not reported `check_response_timeout_minutes` after it was requested (waiting for
    a runner included) counts as failed.

    Knob names, ranges and defaults are the `merge_queue` rule parameters of GitHub's
    repository rulesets (REST API "Repository rules"; docs "Managing a merge queue":
    build concurrency 1–100, merge limits 1–100, wait time, "Only merge non-failing pull
    requests", status check timeout), so a tuned config is written back as that rule's
    `parameters`.
    """

    name = "speculative"
    code = SPECULATIVE
    knobs = (
        Param("max_entries_to_build", int, 5, low=1, high=100, search=(1, 50), log=True,
              help="most merge-group builds running at once (GitHub: build concurrency)"),
        Param("min_entries_to_merge", int, 1, low=1, high=100, search=(1, 20), log=True,
              help="fewest pull requests merged together, until the wait time runs out (at most "
                   "max_entries_to_merge)"),
        Param("max_entries_to_merge", int, 5, low=1, high=100, search=(1, 50), log=True,
              help="most pull requests merged together; under HEADGREEN also how far a passing build may vouch"),
        Param("min_entries_to_merge_wait_minutes", int, 5, low=0, high=360, search=(0, 60),
              help="minutes after the front pull request joined the queue before a smaller group merges"),
        Param("grouping_strategy", str, "ALLGREEN", choices=GROUPINGS, search=GROUPINGS,
              help="ALLGREEN: every pull request's own build must pass; HEADGREEN: the group's last build"),
        Param("check_response_timeout_minutes", int, 60, low=1, high=360, search=(10, 360), log=True,
              help="a build that has not reported this long after it was requested counts as failed"),
    )

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {**config, "min_entries_to_merge": min(config["min_entries_to_merge"], config["max_entries_to_merge"])}

    def pack(self, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        c = self.effective(config)
        ki = np.array([c["max_entries_to_build"], c["min_entries_to_merge"], c["max_entries_to_merge"],
                       GROUPINGS.index(c["grouping_strategy"])], np.int64)
        kf = np.array([60.0 * c["min_entries_to_merge_wait_minutes"], 60.0 * c["check_response_timeout_minutes"]])
        return ki, kf


@njit
def speculative_init(w):
    chain_init(w)


@njit
def speculative_act(w, ki, kf, t):
    merge_ready(w, t, ki[_MIN_MERGE], ki[_MAX_MERGE], kf[_WAIT_S], ki[_HEAD_GREEN] == 1)
    fill(w, t, ki[_BUILD], _NO_WINDOW, kf[_TIMEOUT_S], ki[_HEAD_GREEN] == 1)


@njit
def speculative_done(w, ki, b, t):
    build_done(w, b, t, ki[_HEAD_GREEN] == 1, ki[_MAX_MERGE])
