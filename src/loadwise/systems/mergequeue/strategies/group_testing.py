"""`group-testing`: the seed's sparse random k-set designs, decoded on builds of this world."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from loadwise.params import Param
from loadwise.systems.mergequeue.engine import (
    B_TAG,
    C_RETRIES,
    C_VERIFICATIONS,
    INF,
    K_DESIGN,
    L_A,
    L_B,
    L_C,
    L_D,
    L_E,
    L_F,
    L_G,
    MERGED,
    P_A,
    P_B,
    P_MEMBER,
    P_STATE,
    evict,
    merge,
    passed,
    queue,
    request,
)
from loadwise.systems.mergequeue.strategies.base import Strategy
from loadwise.systems.submitqueue.kernel import ALPHA, column_weight, fill_design, quantize

GROUP_TESTING = 4

# ki / kf
_RESOURCES, _MAXBATCH, _MAXK, _KDIV = range(4)
_FLAKETOL = 0
# si
_LEN, _N, _K, _NEXT, _DONE, _INFLIGHT, _SUS_H, _SUS_T = range(8)
_AVG = 1  # sf: the failure average of minibatches whose pull requests all merged (sf[0] is the timer)
# P_A: where a pull request is; P_B: 1 once a failed verification of it was run again
_WAITING, _IN_ROUND, _SUSPECT = 0, 1, 2
# lists: L_A the round's pull requests, L_B minibatch builds, L_C minibatch results (-1
# pending), L_D suspects (a ring), L_E the design (column i: the k minibatches of round
# position i), L_F/L_G each minibatch's pull requests (offsets, members)


class GroupTesting(Strategy):
    """The seed's submit queue (`shared/spec/02-submit-queue.md`, steps 3–7 and 9) on this
    world's builds. A round takes up to `maxbatch` waiting pull requests and builds them
    in N = q(max(1, L // 2)) minibatches (q: the seed's 5 % geometric quantization), each
    pull request in K = min(`maxk`, N // `kdiv`) of them (at least 2 when N ≥ 2, then
    quantized) chosen by the seed's random k-set design (`submitqueue.kernel.fill_design`,
    nested over K, so configs stay paired). When every minibatch has reported, a pull
    request whose minibatches include a passing one merges — pull requests merged in one
    round were never built together, so two that conflict escape — and the others become
    suspects, each built alone on the branch (the seed's verification): pass, merge;
    fail, evict. At most `resources` of its builds run at once (the seed's resources, now
    a share of this world's runners), verifications first.

    `flaketol`: the seed demotes a test whose failure average exceeds it. This world has
    builds, not tests, so nothing can be demoted; the strategy keeps the seed's average
    (α = 0.05) over the minibatches whose pull requests all merged — their failures were
    flakes — and while it exceeds `flaketol` a failed verification is run once more before
    its pull request is evicted. The seed started every tick's round; here a round starts
    as soon as the previous one has been decoded, and a lone pull request gets N = 1
    minibatch (the seed would use N = resources).
    """

    name = "group-testing"
    code = GROUP_TESTING
    knobs = (
        Param("resources", int, 16, low=1, high=1000, search=(2, 64), log=True,
              help="most builds (minibatches and verifications) running at once"),
        Param("maxbatch", int, 64, low=1, high=4096, search=(8, 512), log=True,
              help="most waiting pull requests taken into one round"),
        Param("maxk", int, 12, low=1, high=64, search=(4, 24), help="most minibatches each pull request is placed in"),
        Param("kdiv", int, 5, low=1, high=100, search=(2, 10), help="minibatches per pull request is at most N // kdiv"),
        Param("flaketol", float, 0.0767, low=0.0, high=1.0, search=(0.01, 0.25),
              help="a failed verification is run once more while the minibatch flake average exceeds this"),
    )

    def pack(self, config: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        ki = np.array([config["resources"], config["maxbatch"], config["maxk"], config["kdiv"]], np.int64)
        return ki, np.array([config["flaketol"]])

    def list_size(self, config: Mapping[str, Any]) -> int:
        return config["maxbatch"] * config["maxk"] + 1


@njit
def group_init(w):
    w.pr[P_A] = _WAITING
    w.pr[P_B] = 0
    w.sf[_AVG] = 0.0


@njit
def _start_round(w, ki, t):
    """Take the waiting pull requests (up to maxbatch) into a round and lay out its design."""
    si, ls, where = w.si, w.lists, w.pr[P_A]
    size = 0
    for x in queue(w):
        if where[x] == _WAITING:
            ls[L_A, size] = x
            where[x] = _IN_ROUND
            size += 1
            if size == ki[_MAXBATCH]:
                break
    if size == 0:
        return
    n = quantize(max(1, size // 2))
    k = column_weight(n, ki[_MAXK], ki[_KDIV])
    design, offsets, members, cursor = ls[L_E], ls[L_F], ls[L_G], ls[L_B]
    fill_design(design, 0, n, k, size, w.keys[K_DESIGN], w.dstate)
    offsets[: n + 1] = 0
    for c in range(size * k):
        offsets[design[c] + 1] += 1
    for mb in range(n):
        offsets[mb + 1] += offsets[mb]
    cursor[:n] = offsets[:n]
    for i in range(size):
        for j in range(k):
            mb = design[i * k + j]
            members[cursor[mb]] = ls[L_A, i]
            cursor[mb] += 1
    done = 0
    for mb in range(n):
        ls[L_B, mb] = -1
        ls[L_C, mb] = -1
        if offsets[mb + 1] == offsets[mb]:  # an empty minibatch: nothing to build
            ls[L_C, mb] = 1
            done += 1
    si[_LEN] = size
    si[_N] = n
    si[_K] = k
    si[_NEXT] = 0
    si[_DONE] = done


@njit
def group_act(w, ki, t):
    si, ls = w.si, w.lists
    cap = ls.shape[1]
    members = w.pr[P_MEMBER]
    while si[_INFLIGHT] < ki[_RESOURCES] and si[_SUS_H] < si[_SUS_T]:
        x = ls[L_D, si[_SUS_H] % cap]
        si[_SUS_H] += 1
        members[0] = x
        if request(w, 1, t, -(x + 1), INF) < 0:
            return
        si[_INFLIGHT] += 1
        w.counters[C_VERIFICATIONS] += 1
    if si[_LEN] == 0:
        _start_round(w, ki, t)
        if si[_LEN] > 0 and si[_DONE] == si[_N]:
            _decode(w, t)
            return
    while si[_LEN] > 0 and si[_INFLIGHT] < ki[_RESOURCES] and si[_NEXT] < si[_N]:
        mb = si[_NEXT]
        si[_NEXT] += 1
        lo, hi = ls[L_F, mb], ls[L_F, mb + 1]
        if hi == lo:
            continue
        for m in range(hi - lo):
            members[m] = ls[L_G, lo + m]
        b = request(w, hi - lo, t, mb, INF)
        if b < 0:
            return
        ls[L_B, mb] = b
        si[_INFLIGHT] += 1


@njit
def _suspect(w, x):
    si = w.si
    w.lists[L_D, si[_SUS_T] % w.lists.shape[1]] = x
    si[_SUS_T] += 1
    w.pr[P_A, x] = _SUSPECT


@njit
def _decode(w, t):
    """Every minibatch reported: merge each pull request with a passing minibatch, make the
    others suspects, and fold the all-merged minibatches into the flake average."""
    si, ls = w.si, w.lists
    size, n, k = si[_LEN], si[_N], si[_K]
    result = ls[L_C]
    for i in range(size):
        x = ls[L_A, i]
        cleared = False
        for j in range(k):
            if result[ls[L_E, i * k + j]] == 1:
                cleared = True
                break
        if cleared:
            merge(w, x, t)
            w.pr[P_A, x] = _WAITING
        else:
            _suspect(w, x)
    avg = w.sf[_AVG]
    state = w.pr[P_STATE]
    for mb in range(n):
        lo, hi = ls[L_F, mb], ls[L_F, mb + 1]
        if hi == lo:
            continue
        all_merged = True
        for m in range(lo, hi):
            if state[ls[L_G, m]] != MERGED:
                all_merged = False
                break
        if all_merged:
            avg = ALPHA * (0.0 if result[mb] == 1 else 1.0) + (1.0 - ALPHA) * avg
    w.sf[_AVG] = avg
    si[_LEN] = 0


@njit
def group_done(w, kf, b, t):
    si = w.si
    si[_INFLIGHT] -= 1
    tag = w.bi[B_TAG, b]
    if tag < 0:  # a verification
        x = -tag - 1
        if passed(w, b):
            merge(w, x, t)
            w.pr[P_A, x] = _WAITING
        elif w.sf[_AVG] > kf[_FLAKETOL] and w.pr[P_B, x] == 0:
            w.pr[P_B, x] = 1
            w.counters[C_RETRIES] += 1
            _suspect(w, x)
        else:
            evict(w, x, t)
        return
    w.lists[L_B, tag] = -1
    w.lists[L_C, tag] = 1 if passed(w, b) else 0
    si[_DONE] += 1
    if si[_DONE] == si[_N]:
        _decode(w, t)
