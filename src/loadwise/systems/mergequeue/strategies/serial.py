"""`serial`: test each pull request alone on top of the branch, one at a time.

The baseline every merge queue improves on, and the queue whose waiting time is known
exactly: with Poisson arrivals it is an M/G/1 queue whose service time is one build,
so its mean time in queue is the Pollaczek–Khinchine value and its saturated
throughput is one merge per mean build duration (the model's tests check both).
"""

from __future__ import annotations

from numba import njit

from loadwise.systems.mergequeue.engine import B_TAG, INF, P_MEMBER, evict, merge, passed, queue, request
from loadwise.systems.mergequeue.strategies.base import Strategy

SERIAL = 0
_BUILD = 0  # si: the build in flight, or -1


class Serial(Strategy):
    """The front pull request is built on the branch; it merges if the build passes and is
    evicted if it fails. No knobs: what a repository gets from "Require branches to be up
    to date before merging" in GitHub's branch protection, with a bot doing the merging."""

    name = "serial"
    code = SERIAL


@njit
def serial_init(w):
    w.si[_BUILD] = -1


@njit
def serial_act(w, t):
    si = w.si
    if si[_BUILD] >= 0:
        return
    q = queue(w)
    if q.size == 0:
        return
    front = q[0]
    w.pr[P_MEMBER, 0] = front
    si[_BUILD] = request(w, 1, t, front, INF)


@njit
def serial_done(w, b, t):
    front = w.bi[B_TAG, b]
    if passed(w, b):
        merge(w, front, t)
    else:
        evict(w, front, t)
    w.si[_BUILD] = -1
