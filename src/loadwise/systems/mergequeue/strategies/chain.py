"""The speculative chain that `speculative` and `adaptive-window` share (compiled).

Each queued pull request that gets a build is built on top of the branch and every
pull request queued ahead of it (GitHub's merge groups, Zuul's dependent pipeline), so
its build holds the whole queue up to it. Builds are given in queue order, so the pull
requests with a build or a result are always a prefix of the queue. When a pull request
is evicted, the builds behind it held it: they are cancelled and their results
forgotten, and the pull requests behind are built again without it (GitHub: "the merge
queue recreates the temporary branch"; Zuul: nearest non-failing item).

Per pull request, row `P_A` is its live build (-1 for none) and `P_B` its result;
`si[LIVE]` counts live chain builds. The strategy decides how many builds may run (`fill`) and
when passed pull requests merge (`merge_ready`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from loadwise.systems.mergequeue.engine import (
    B_TAG,
    INF,
    P_A,
    P_B,
    P_MEMBER,
    SF_TIMER,
    T_ARRIVE,
    cancel,
    evict,
    merge,
    passed,
    queue,
    request,
)

NONE, PASSED, FAILED = 0, 1, 2
LIVE = 0  # si: live chain builds


@njit
def chain_init(w):
    w.pr[P_A] = -1
    w.pr[P_B] = NONE
    w.si[LIVE] = 0


@njit
def fill(w, t, max_live, head_window, timeout, head_green):
    """Give builds, in queue order, to queued pull requests that have neither a build nor a
    result: at most `max_live` chain builds at once (GitHub's build concurrency), and only
    within the first `head_window` pull requests (Zuul's actionable window). A build holds
    the pull requests ahead of it; under all green it leaves out those whose build failed
    (it is built on the nearest non-failing one ahead), under head green it keeps them (a
    later pass may vouch for them)."""
    q = queue(w)
    pa, pb, members = w.pr[P_A], w.pr[P_B], w.pr[P_MEMBER]
    for p in range(min(q.size, head_window)):
        x = q[p]
        if pa[x] >= 0 or pb[x] != NONE:
            continue
        if w.si[LIVE] >= max_live:
            return
        n = 0
        for m in range(p + 1):
            if head_green or pb[q[m]] != FAILED:
                members[n] = q[m]
                n += 1
        b = request(w, n, t, x, timeout)
        if b < 0:
            return
        pa[x] = b
        w.si[LIVE] += 1


@njit
def _drop_build(w, x, t):
    b = w.pr[P_A, x]
    if b >= 0:
        cancel(w, b, t)
        w.pr[P_A, x] = -1
        w.si[LIVE] -= 1


@njit
def _reset_behind(w, q, p, t):
    """Every build behind position p of queue view q held its pull request: drop them and their results."""
    for k in range(p + 1, q.size):
        _drop_build(w, q[k], t)
        w.pr[P_B, q[k]] = NONE


@njit
def build_done(w, b, t, head_green, reach):
    """Record build b's result and evict what it proves broken; returns how many pull
    requests were evicted.

    A failure is blamed on its pull request only once every pull request ahead of it
    has passed: until then the failure may be theirs (Zuul's nearest non-failing item;
    a pull request ahead that fails later is evicted and the ones behind it are built
    again). All green (GitHub's ALLGREEN, Zuul): the builds behind a failure are made
    again without it at once, and it is evicted when blamed. Head green (HEADGREEN): it
    stays in the builds behind it, and when blamed it is evicted only if no build behind
    it, within `reach` of the front (the largest group that can merge), has passed or can
    still pass; a failing build behind it confirms it.
    """
    pa, pb = w.pr[P_A], w.pr[P_B]
    x = w.bi[B_TAG, b]
    pa[x] = -1
    w.si[LIVE] -= 1
    if passed(w, b):
        pb[x] = PASSED
    else:
        pb[x] = FAILED
        if not head_green:
            q = queue(w)
            _reset_behind(w, q, np.searchsorted(q, x), t)
    evicted = 0
    while True:
        q = queue(w)
        qn = q.size
        f = -1
        for p in range(qn):
            if pb[q[p]] != PASSED:
                if pb[q[p]] == FAILED:
                    f = p
                break
        if f < 0:  # no failure, or one behind a pull request still building
            return evicted
        if head_green:
            vouched = confirmed = pending = False
            for k in range(f + 1, qn):
                r = pb[q[k]]
                if r == PASSED and k < reach:
                    vouched = True
                elif r == FAILED:
                    confirmed = True
                elif pa[q[k]] >= 0 and k < reach:
                    pending = True
            if vouched or (pending and not confirmed):
                return evicted
            _reset_behind(w, q, f, t)
        pb[q[f]] = NONE
        evict(w, q[f], t)
        evicted += 1


@njit
def merge_ready(w, t, min_merge, max_merge, wait_s, head_green):
    """Merge groups from the front while one is ready; returns how many pull requests merged.

    A group is at most `max_merge` pull requests from the front: all passed (all green),
    or up to the last passed one (head green: its build held all of them). It merges
    when it has `min_merge` pull requests, or once the front one has waited `wait_s`
    since it joined the queue (GitHub's merge limits and their wait time); otherwise the
    strategy's timer is set to that moment. Builds still running for a merged pull
    request are cancelled: a passed build behind them already covered them.
    """
    merged = 0
    pb = w.pr[P_B]
    w.sf[SF_TIMER] = INF
    while True:
        q = queue(w)
        top = min(q.size, max_merge)
        g = 0
        if head_green:
            for p in range(top):
                if pb[q[p]] == PASSED:
                    g = p + 1
        else:
            while g < top and pb[q[g]] == PASSED:
                g += 1
        if g == 0:
            return merged
        due = w.prt[T_ARRIVE, q[0]] + wait_s
        if g < min_merge and t < due:
            w.sf[SF_TIMER] = due
            return merged
        for p in range(g):
            x = q[p]
            _drop_build(w, x, t)
            pb[x] = NONE
            merge(w, x, t)
        merged += g
