"""`batch-bisect`: build waiting pull requests together; on failure, split until the culprits are found.

One batch at a time, built on top of the branch, as bors-ng does ("bors r+" batches
everything waiting; a failed batch is bisected) and as Mergify's and Trunk's batches
do when checks run one batch at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from loadwise.params import Param
from loadwise.systems.mergequeue.engine import (
    B_TAG,
    C_RETRIES,
    INF,
    L_A,
    L_B,
    L_C,
    L_D,
    L_E,
    P_MEMBER,
    SF_TIMER,
    T_ARRIVE,
    evict,
    merge,
    passed,
    queue,
    request,
)
from loadwise.systems.mergequeue.strategies.base import Strategy

BATCH_BISECT = 1
BISECTIONS = ("sequential", "parallel", "off")

# ki / kf
_SIZE, _MIN, _RETRIES, _MODE = range(4)
_WAIT_S = 0
# si
_LEN, _NRANGES, _ACTIVE = range(3)
# lists: L_A the batch's pull requests; per range (a part of the batch, lo:hi), L_B lo,
# L_C hi (-1 once resolved), L_D its build (-1 for none), L_E the retries it has had
# modes
_SEQUENTIAL, _PARALLEL, _OFF = range(3)


class BatchBisect(Strategy):
    """Take up to `batch_size` waiting pull requests, once `min_batch` wait or the oldest
    has waited `max_wait_minutes`, and build them together on the branch. A pass merges
    them all; a failed build is run again up to `max_retries` times, then split in two
    halves (the culprit search), down to single pull requests, which are evicted when
    they fail. `bisection` is `sequential` (bors-ng: each half back at the front of the
    queue, tested in turn on top of what merged before it), `parallel` (both halves at
    once on the same branch, as Mergify tests a failed batch's parts at once; halves that
    pass merge without being tested together, so two that conflict escape) or `off`
    (Mergify's `batch_max_failure_resolution_attempts: 0`: a failed batch leaves whole).

    Sources: bors-ng documentation ("bors r+", batching, bisection on failure; the
    `max_batch_size` setting); Mergify documentation, "Merge Queue Batches" (`batch_size`,
    which may be a {min, max} range, `batch_max_wait_time`, "When a Batch Fails",
    `batch_max_failure_resolution_attempts`); Trunk Merge Queue documentation,
    "Batching" (target batch size, maximum wait time).
    """

    name = "batch-bisect"
    code = BATCH_BISECT
    knobs = (
        Param("batch_size", int, 8, low=1, high=100, search=(2, 64), log=True,
              help="most pull requests in one batch (bors-ng max_batch_size, Mergify batch_size, Trunk target "
                   "batch size)"),
        Param("min_batch", int, 1, low=1, high=100, search=(1, 16), log=True,
              help="a batch starts once this many pull requests wait (at most batch_size; Mergify's batch_size "
                   "minimum)"),
        Param("max_wait_minutes", float, 5.0, low=0.0, high=1440.0, search=(0.0, 60.0),
              help="... or once the oldest waiting pull request has waited this long (Mergify batch_max_wait_time, "
                   "Trunk maximum wait time)"),
        Param("max_retries", int, 0, low=0, high=10, search=(0, 2),
              help="times a failed build is run again before it is split (absorbs flaky failures)"),
        Param("bisection", str, "sequential", choices=BISECTIONS, search=BISECTIONS,
              help="how a failed batch is split: sequential halves (bors-ng), parallel halves, or off (the "
                   "whole batch is evicted)"),
    )

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return {**config, "min_batch": min(config["min_batch"], config["batch_size"])}

    def pack(self, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        c = self.effective(config)
        ki = np.array([c["batch_size"], c["min_batch"], c["max_retries"], BISECTIONS.index(c["bisection"])], np.int64)
        return ki, np.array([60.0 * c["max_wait_minutes"]])

    def list_size(self, config: Mapping[str, Any]) -> int:
        return 2 * config["batch_size"]  # ranges: at most 2B - 1 halves per batch


@njit
def _new_range(w, lo, hi):
    r = w.si[_NRANGES]
    ls = w.lists
    ls[L_B, r] = lo
    ls[L_C, r] = hi
    ls[L_D, r] = -1
    ls[L_E, r] = 0
    w.si[_NRANGES] = r + 1
    w.si[_ACTIVE] += 1


@njit
def _end_range(w, r):
    """Range r is resolved (merged or evicted); the batch is over with its last range."""
    w.lists[L_C, r] = -1
    w.si[_ACTIVE] -= 1
    if w.si[_ACTIVE] == 0:
        w.si[_LEN] = 0
        w.si[_NRANGES] = 0


@njit
def _split_range(w, r):
    """Range r failed: its halves replace it (the batch goes on)."""
    lo, hi = w.lists[L_B, r], w.lists[L_C, r]
    mid = (lo + hi) // 2
    w.lists[L_C, r] = -1
    w.si[_ACTIVE] -= 1
    _new_range(w, lo, mid)
    _new_range(w, mid, hi)


@njit
def _build_range(w, r, t):
    ls = w.lists
    lo = ls[L_B, r]
    n = ls[L_C, r] - lo
    for m in range(n):
        w.pr[P_MEMBER, m] = ls[L_A, lo + m]
    ls[L_D, r] = request(w, n, t, r, INF)


@njit
def batch_act(w, ki, kf, t):
    si, ls = w.si, w.lists
    if si[_LEN] > 0:  # a batch is being tested or bisected
        front = -1
        for r in range(si[_NRANGES]):
            if ls[L_C, r] < 0:
                continue
            if ki[_MODE] == _PARALLEL:
                if ls[L_D, r] < 0:
                    _build_range(w, r, t)
            elif front < 0 or ls[L_B, r] < ls[L_B, front]:
                front = r
        if front >= 0 and ls[L_D, front] < 0:  # sequential: the frontmost part, once the one before it is done
            _build_range(w, front, t)
        w.sf[SF_TIMER] = INF
        return
    q = queue(w)
    waiting = q.size
    if waiting == 0:
        w.sf[SF_TIMER] = INF
        return
    due = w.prt[T_ARRIVE, q[0]] + kf[_WAIT_S]
    if waiting < ki[_MIN] and t < due:
        w.sf[SF_TIMER] = due
        return
    w.sf[SF_TIMER] = INF
    n = min(ki[_SIZE], waiting)
    for m in range(n):
        ls[L_A, m] = q[m]
    si[_LEN] = n
    _new_range(w, 0, n)
    _build_range(w, 0, t)


@njit
def batch_done(w, ki, b, t):
    ls = w.lists
    r = w.bi[B_TAG, b]
    ls[L_D, r] = -1
    lo, hi = ls[L_B, r], ls[L_C, r]
    if passed(w, b):
        for m in range(lo, hi):
            merge(w, ls[L_A, m], t)
        _end_range(w, r)
    elif ls[L_E, r] < ki[_RETRIES]:
        ls[L_E, r] += 1  # built again by the next act; a rebuild of the same set draws anew
        w.counters[C_RETRIES] += 1
    elif hi - lo == 1 or ki[_MODE] == _OFF:
        for m in range(lo, hi):
            evict(w, ls[L_A, m], t)
        _end_range(w, r)
    else:
        _split_range(w, r)
