"""The merge-queue world as compiled state: pull requests, builds, the runner pool, the draws.

Every strategy acts on the same world through the primitives here: a pull request
arrives, is merged or evicted; a build of a set of pull requests is requested, waits
for a runner, runs and passes or fails, or is cancelled. Time is continuous (seconds).

Common random numbers come from keys, never from a stream position (the submit queue's
counter-based draws, `submitqueue.rng`): a pull request's identity is a hash of its
arrival index, and its badness and conflict partners are drawn from that identity; a
build's identity is the set of pull requests it holds (the order-free sum of their
identities, which are already well-mixed hashes) and how many builds of that same set
the run made before (the attempt), and its duration and flake draw come from that
identity. Two configs run on one seed therefore see the same pull requests and,
whenever they build the same set, the same duration and the same flake, however
differently their queues evolved.

A build fails when one of its pull requests is bad, conflicts with a pull request
merged since it was written (it is "broken"), or conflicts with another pull request in
the same build; otherwise it flakes with probability `p_flake`. It runs on one of
`runners` runners, first come first served, and fails at its deadline if it has not
reported by then (GitHub's check response timeout).

Arrays have fixed capacities chosen by the caller; a run that would exceed one stops
and says which (`S_OVERFLOW`), and the caller runs it again with room to spare (the run
is deterministic, so nothing changes but the capacity). The named tuple `World` holds
every array, so a strategy takes one argument. Related arrays are rows of one 2-D
array (`pr[P_STATE]`, `bi[B_TAG]`, ...): numba counts references to every array of a
tuple passed to a function, so a call costs about 17 ns per array, and a tuple of 55
arrays made each event cost microseconds. The strategy's own scratch is generic (`si`,
`sf`, rows `P_A`/`P_B` per pull request, list rows `L_A`–`L_G`); each strategy module
names the slots it uses.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from loadwise.systems.submitqueue.rng import keyed_uniform, splitmix64

INF = math.inf
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# pull-request states
ABSENT, QUEUED, MERGED, EVICTED = 0, 1, 2, 3
# build states
FREE, WAITING, RUNNING, DONE, CANCELLED = 0, 1, 2, 3, 4

# integer world parameters (array `ip`)
I_RUNNERS, I_PRS = range(2)
N_IP = 2
# float world parameters (array `fp`)
F_HORIZON, F_P_BAD, F_P_FLAKE, F_P_CONFLICT, F_MEDIAN_S, F_SIGMA, F_GROWTH = range(7)
N_FP = 7
# keys of the draws (array `keys`)
K_PR, K_BAD, K_CONFLICT, K_BUILD, K_DESIGN = range(5)
N_KEYS = 5
# capacities (array `caps`)
CAP_BUILDS, CAP_POOL, CAP_EDGES, CAP_TABLE, CAP_LIST = range(5)
N_CAPS = 5

# world scalars (array `sc`)
(S_QH, S_QN, S_QUEUED, S_DEAD_MAX, S_NEDGES, S_NFREE, S_POOL, S_FIFO_H, S_FIFO_T, S_STAMP,
 S_RUNNING, S_TABLE_USED, S_OVERFLOW) = range(13)
N_SC = 13
# what overflowed (S_OVERFLOW), so the caller knows which capacity to raise
OVER_BUILDS, OVER_POOL, OVER_EDGES, OVER_TABLE = 1, 2, 3, 4

# rows of `pr` (int64, one column per pull request, by arrival index)
(P_STATE,  # ABSENT, QUEUED, MERGED or EVICTED
 P_BAD,  # 1: breaks the branch's checks, alone or with anything
 P_BROKEN,  # 1: conflicts with a pull request merged since it was written
 P_LIVE,  # builds requested and not finished that hold it
 P_MARK,  # scratch: the stamp of the build being checked
 P_MEMBER,  # scratch: the pull requests of the build being requested (by position, not identity)
 P_EDGE,  # its first conflict edge, or -1
 P_QUEUE,  # the queue, in arrival order: row[sc[S_QH] : sc[S_QH] + sc[S_QN]] (see `queue`)
 P_A, P_B) = range(10)  # the strategy's
N_P = 10
# rows of `prt` (float64): when it arrived, when it left the queue (NaN while it has not)
T_ARRIVE, T_LEAVE = range(2)
# rows of `edges`: conflict edges, one linked list per pull request
E_NEXT, E_OTHER = range(2)
# rows of `bi` (int64, one column per build slot)
(B_STATUS, B_PASS, B_FLAKY, B_TIMED_OUT,
 B_TAG,  # what the strategy calls this build (a pull request, a range, a minibatch)
 B_OFF, B_LEN,  # its pull requests: pool[off : off + len]
 B_FREE,  # stack of free slots
 B_FIFO) = range(9)  # builds waiting for a runner, a ring buffer in request order
N_B = 9
# rows of `bt` (float64, one column per build slot)
B_REQUEST, B_START, B_END, B_DEADLINE, B_DURATION = range(5)
N_BT = 5
# rows of `table`: builds made so far of each set, by open addressing on the set's hash
H_KEY, H_COUNT = range(2)
# rows of `lists`: the strategy's
L_A, L_B, L_C, L_D, L_E, L_F, L_G = range(7)
N_L = 7

# counters over the run (array `counters`)
COUNTERS = (
    "arrived", "arrived_bad", "merged", "evicted", "evicted_innocent", "evicted_bad", "merged_bad", "builds",
    "builds_cancelled", "flaky_failures", "timed_out", "retries", "runner_seconds",
    "depth_area", "queue_depth_max", "verifications",
)
(C_ARRIVED, C_ARRIVED_BAD, C_MERGED, C_EVICTED, C_INNOCENT, C_EVICTED_BAD, C_MERGED_BAD, C_BUILDS,
 C_CANCELLED, C_FLAKY, C_TIMED_OUT, C_RETRIES, C_RUNNER_S, C_DEPTH_AREA, C_DEPTH_MAX,
 C_VERIFICATIONS) = range(16)
N_COUNTERS = 16

N_SI = 32  # strategy integer scalars
N_SF = 8  # strategy float scalars; SF_TIMER is the strategy's wake-up time
SF_TIMER = 0


class World(NamedTuple):
    """Everything a run holds; see the module docstring and the row names above."""

    ip: np.ndarray
    fp: np.ndarray
    keys: np.ndarray
    sc: np.ndarray
    counters: np.ndarray
    uid: np.ndarray  # each pull request's identity, the key of its draws
    pr: np.ndarray  # P_* rows
    prt: np.ndarray  # T_* rows
    edges: np.ndarray  # E_* rows
    bi: np.ndarray  # B_* rows
    bt: np.ndarray  # B_REQUEST.. rows
    runner: np.ndarray  # the build on each runner, or -1
    pool: np.ndarray  # the pull requests of live builds
    table: np.ndarray  # H_* rows (uint64)
    si: np.ndarray
    sf: np.ndarray
    lists: np.ndarray  # L_* rows
    dstate: np.ndarray  # the design stream of group testing (submitqueue.kernel.fill_design)


@njit
def new_world(ip, fp, keys, arrive, bad, caps):
    """A world before its first arrival; `bad` gives each pull request's badness (-1: draw it)."""
    n = arrive.shape[0]
    n_builds = caps[CAP_BUILDS]
    sc = np.zeros(N_SC, np.int64)
    sc[S_NFREE] = n_builds
    sc[S_DEAD_MAX] = -1
    uid = np.empty(n, np.uint64)
    pr = np.zeros((N_P, n), np.int64)
    pr[P_MARK] = -1
    pr[P_EDGE] = -1
    for i in range(n):
        uid[i] = splitmix64(keys[K_PR] ^ splitmix64(np.uint64(i + 1)))
        if bad[i] >= 0:
            pr[P_BAD, i] = bad[i]
        elif keyed_uniform(keys[K_BAD] ^ uid[i], 0) < fp[F_P_BAD]:
            pr[P_BAD, i] = 1
    prt = np.empty((2, n), np.float64)
    prt[T_ARRIVE] = arrive
    prt[T_LEAVE] = np.nan
    bi = np.zeros((N_B, n_builds), np.int64)
    bi[B_FREE] = np.arange(n_builds - 1, -1, -1)
    return World(
        ip=ip, fp=fp, keys=keys, sc=sc, counters=np.zeros(N_COUNTERS, np.float64), uid=uid, pr=pr, prt=prt,
        edges=np.empty((2, caps[CAP_EDGES]), np.int64), bi=bi, bt=np.zeros((N_BT, n_builds), np.float64),
        runner=np.full(ip[I_RUNNERS], -1, np.int64), pool=np.empty(caps[CAP_POOL], np.int64),
        table=np.zeros((2, caps[CAP_TABLE]), np.uint64), si=np.zeros(N_SI, np.int64), sf=np.full(N_SF, INF),
        lists=np.zeros((N_L, caps[CAP_LIST]), np.int64), dstate=np.zeros((1, 4), np.uint64),
    )


# pull requests and the queue


@njit
def queue(w):
    """The queued pull requests in arrival order (a view: valid until the next merge,
    eviction or arrival).

    Merged and evicted pull requests are dropped here, lazily. Identities grow with
    arrival, so the queue is sorted and every pull request that left is at or before
    the position of the latest-arrived one that left (`S_DEAD_MAX`); only that front
    part is compacted, towards the back, which costs little since pull requests leave
    near the front of the queue.
    """
    sc = w.sc
    head, n = sc[S_QH], sc[S_QN]
    row = w.pr[P_QUEUE]
    view = row[head:head + n]
    dead = sc[S_DEAD_MAX]
    if dead < 0:
        return view
    state = w.pr[P_STATE]
    last = np.searchsorted(view, dead)
    j = last
    for k in range(last, -1, -1):
        if state[view[k]] == QUEUED:
            view[j] = view[k]
            j -= 1
    sc[S_QH] = head + j + 1
    sc[S_QN] = n - (j + 1)
    sc[S_DEAD_MAX] = -1
    return row[sc[S_QH]:sc[S_QH] + sc[S_QN]]


@njit
def _add_edge(w, a, b):
    sc = w.sc
    e = sc[S_NEDGES]
    if e >= w.edges.shape[1]:
        sc[S_OVERFLOW] = OVER_EDGES
        return
    w.edges[E_OTHER, e] = b
    w.edges[E_NEXT, e] = w.pr[P_EDGE, a]
    w.pr[P_EDGE, a] = e
    sc[S_NEDGES] = e + 1


@njit
def arrive(w, i, t):
    """Pull request `i` joins the queue; it may conflict with each pull request queued now.

    Partners are drawn from i's identity alone (geometric skips back over the earlier
    arrivals, each a partner with probability p_conflict), so every config sees the
    same pairs; a pair matters only while both are queued, since a pull request written
    after another merged already contains it.
    """
    sc = w.sc
    state = w.pr[P_STATE]
    q = queue(w)
    p = w.fp[F_P_CONFLICT]
    if p > 0.0 and q.size > 0:
        oldest = q[0]
        key = w.keys[K_CONFLICT] ^ w.uid[i]
        log_keep = math.log1p(-p) if p < 1.0 else -INF
        j = i
        draw = 0
        while True:
            u = keyed_uniform(key, draw)
            draw += 1
            skip = 0 if p >= 1.0 else math.floor(math.log1p(-u) / log_keep)
            j -= 1 + skip
            if j < oldest:
                break
            if state[j] == QUEUED:
                _add_edge(w, i, j)
                _add_edge(w, j, i)
    state[i] = QUEUED
    w.pr[P_QUEUE, sc[S_QH] + sc[S_QN]] = i
    sc[S_QN] += 1
    sc[S_QUEUED] += 1
    c = w.counters
    c[C_ARRIVED] += 1
    c[C_ARRIVED_BAD] += w.pr[P_BAD, i]
    if sc[S_QUEUED] > c[C_DEPTH_MAX]:
        c[C_DEPTH_MAX] = sc[S_QUEUED]


@njit
def merge(w, i, t):
    """Pull request `i` lands on the branch. It escapes if it is bad or broken; its
    queued conflict partners are broken from now on."""
    pr = w.pr
    if pr[P_STATE, i] != QUEUED:
        raise AssertionError("merge of a pull request that is not queued")
    pr[P_STATE, i] = MERGED
    w.prt[T_LEAVE, i] = t
    w.sc[S_QUEUED] -= 1
    w.sc[S_DEAD_MAX] = max(w.sc[S_DEAD_MAX], i)
    c = w.counters
    c[C_MERGED] += 1
    if pr[P_BAD, i] == 1 or pr[P_BROKEN, i] == 1:
        c[C_MERGED_BAD] += 1
    e = pr[P_EDGE, i]
    while e >= 0:
        other = w.edges[E_OTHER, e]
        if pr[P_STATE, other] == QUEUED:
            pr[P_BROKEN, other] = 1
        e = w.edges[E_NEXT, e]


@njit
def evict(w, i, t):
    """Pull request `i` is removed from the queue. It was innocent if it is not bad and
    conflicts with nothing merged or queued: on top of the branch and the queue it
    would have passed."""
    pr = w.pr
    if pr[P_STATE, i] != QUEUED:
        raise AssertionError("eviction of a pull request that is not queued")
    innocent = pr[P_BAD, i] == 0
    e = pr[P_EDGE, i]
    while e >= 0 and innocent:
        s = pr[P_STATE, w.edges[E_OTHER, e]]
        if s in (QUEUED, MERGED):
            innocent = False
        e = w.edges[E_NEXT, e]
    pr[P_STATE, i] = EVICTED
    w.prt[T_LEAVE, i] = t
    w.sc[S_QUEUED] -= 1
    w.sc[S_DEAD_MAX] = max(w.sc[S_DEAD_MAX], i)
    c = w.counters
    c[C_EVICTED] += 1
    if innocent:
        c[C_INNOCENT] += 1
    if pr[P_BAD, i] == 1:
        c[C_EVICTED_BAD] += 1


# builds


@njit
def _attempt(w, h):
    """How many builds of the set with hash `h` came before this one (and count this one)."""
    keys, counts = w.table[H_KEY], w.table[H_COUNT]
    mask = keys.shape[0] - 1
    k = h | np.uint64(1)  # 0 marks an empty slot
    s = np.int64(splitmix64(k) & np.uint64(mask))
    while keys[s] != 0 and keys[s] != k:
        s = (s + 1) & mask
    if keys[s] == 0:
        if 2 * (w.sc[S_TABLE_USED] + 1) > keys.shape[0]:
            w.sc[S_OVERFLOW] = OVER_TABLE
            return 0
        keys[s] = k
        w.sc[S_TABLE_USED] += 1
    counts[s] += np.uint64(1)
    return np.int64(counts[s]) - 1


@njit
def _compact_pool(w):
    """Move the pull requests of every build still in a slot to the start of the pool."""
    bi = w.bi
    order = np.argsort(np.where(bi[B_STATUS] != FREE, bi[B_OFF], np.int64(1) << 62))
    used = 0
    for b in order:
        if bi[B_STATUS, b] == FREE:
            break
        n = bi[B_LEN, b]
        off = bi[B_OFF, b]
        for m in range(n):
            w.pool[used + m] = w.pool[off + m]
        bi[B_OFF, b] = used
        used += n
    w.sc[S_POOL] = used


@njit
def request(w, n, t, tag, timeout):
    """Ask for a build of the `n` pull requests in pr[P_MEMBER, :n] on top of the branch;
    it waits for a runner. Returns its slot (-1 when a capacity ran out)."""
    sc, pr, bi, bt = w.sc, w.pr, w.bi, w.bt
    if sc[S_NFREE] == 0:
        sc[S_OVERFLOW] = OVER_BUILDS
        return -1
    if sc[S_POOL] + n > w.pool.shape[0]:
        _compact_pool(w)
        if sc[S_POOL] + n > w.pool.shape[0]:
            sc[S_OVERFLOW] = OVER_POOL
            return -1
    sc[S_NFREE] -= 1
    b = bi[B_FREE, sc[S_NFREE]]
    off = sc[S_POOL]
    sc[S_POOL] += n
    sc[S_STAMP] += 1
    stamp = sc[S_STAMP]
    members = pr[P_MEMBER]
    fails = False
    h = np.uint64(0)
    for m in range(n):
        x = members[m]
        w.pool[off + m] = x
        h += w.uid[x]
        if pr[P_BAD, x] == 1 or pr[P_BROKEN, x] == 1:
            fails = True
        pr[P_MARK, x] = stamp
        pr[P_LIVE, x] += 1
    if not fails and sc[S_NEDGES] > 0:
        for m in range(n):
            e = pr[P_EDGE, members[m]]
            while e >= 0:
                if pr[P_MARK, w.edges[E_OTHER, e]] == stamp:
                    fails = True
                e = w.edges[E_NEXT, e]
    attempt = _attempt(w, h)
    key = splitmix64(h ^ w.keys[K_BUILD]) ^ splitmix64(np.uint64(attempt + 1) * _GOLDEN)
    u1 = keyed_uniform(key, 0)
    u2 = keyed_uniform(key, 1)
    z = math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)
    fp = w.fp
    bt[B_DURATION, b] = fp[F_MEDIAN_S] * math.exp(fp[F_SIGMA] * z) * (1.0 + fp[F_GROWTH] * (n - 1))
    flake = keyed_uniform(key, 2) < fp[F_P_FLAKE]
    bi[B_FLAKY, b] = 1 if flake and not fails else 0
    bi[B_PASS, b] = 1 if not fails and not flake else 0
    bi[B_TIMED_OUT, b] = 0
    bi[B_STATUS, b] = WAITING
    bi[B_TAG, b] = tag
    bi[B_OFF, b] = off
    bi[B_LEN, b] = n
    bt[B_REQUEST, b] = t
    bt[B_DEADLINE, b] = t + timeout
    bi[B_FIFO, sc[S_FIFO_T] % bi.shape[1]] = b
    sc[S_FIFO_T] += 1
    return b


@njit
def _release_members(w, b):
    off = w.bi[B_OFF, b]
    live = w.pr[P_LIVE]
    for m in range(w.bi[B_LEN, b]):
        live[w.pool[off + m]] -= 1


@njit
def _free_slot(w, b):
    w.bi[B_STATUS, b] = FREE
    w.bi[B_FREE, w.sc[S_NFREE]] = b
    w.sc[S_NFREE] += 1


@njit
def _stop_runner(w, b, t):
    """Take running build `b` off its runner at time t, counting the runner time used."""
    for r in range(w.runner.shape[0]):
        if w.runner[r] == b:
            w.runner[r] = -1
            break
    w.sc[S_RUNNING] -= 1
    w.counters[C_RUNNER_S] += t - w.bt[B_START, b]


@njit
def cancel(w, b, t):
    """Drop build `b`, running or waiting: its result is no longer wanted."""
    status = w.bi[B_STATUS, b]
    _release_members(w, b)
    if status == RUNNING:
        _stop_runner(w, b, t)
        w.counters[C_CANCELLED] += 1
        _free_slot(w, b)
    elif status == WAITING:
        w.bi[B_STATUS, b] = CANCELLED  # its slot is freed when the runner queue reaches it
        w.bi[B_LEN, b] = 0  # its pull requests leave the pool at the next compaction


@njit
def finish(w, b, t):
    """Build `b` reports at time t (its end, or its deadline): the runner is free, and
    the outcome is counted. The caller frees the slot once the strategy has read it."""
    bi = w.bi
    if bi[B_STATUS, b] == RUNNING:
        _stop_runner(w, b, t)
    _release_members(w, b)
    bi[B_STATUS, b] = DONE
    c = w.counters
    if bi[B_TIMED_OUT, b] == 1:
        bi[B_PASS, b] = 0
        c[C_TIMED_OUT] += 1
    elif bi[B_FLAKY, b] == 1:
        c[C_FLAKY] += 1


@njit
def passed(w, b):
    """Did finished build `b` pass?"""
    return w.bi[B_PASS, b] == 1


@njit
def release(w, b):
    """Free the slot of a finished build (after the strategy has read its outcome)."""
    _free_slot(w, b)


@njit
def _pop_cancelled(w):
    """Drop cancelled builds from the head of the runner queue."""
    sc, bi = w.sc, w.bi
    cap = bi.shape[1]
    while sc[S_FIFO_H] < sc[S_FIFO_T]:
        b = bi[B_FIFO, sc[S_FIFO_H] % cap]
        if bi[B_STATUS, b] != CANCELLED:
            return
        sc[S_FIFO_H] += 1
        _free_slot(w, b)


@njit
def dispatch(w, t):
    """Start waiting builds, first come first served, while runners are free. A build
    that cannot report before its deadline ends there, timed out."""
    sc, bi, bt = w.sc, w.bi, w.bt
    cap = bi.shape[1]
    while sc[S_RUNNING] < w.runner.shape[0]:
        _pop_cancelled(w)
        if sc[S_FIFO_H] >= sc[S_FIFO_T]:
            return
        b = bi[B_FIFO, sc[S_FIFO_H] % cap]
        sc[S_FIFO_H] += 1
        bi[B_STATUS, b] = RUNNING
        bt[B_START, b] = t
        end = t + bt[B_DURATION, b]
        if end > bt[B_DEADLINE, b]:
            end = bt[B_DEADLINE, b]
            bi[B_TIMED_OUT, b] = 1
        bt[B_END, b] = end
        for r in range(w.runner.shape[0]):
            if w.runner[r] < 0:
                w.runner[r] = b
                break
        sc[S_RUNNING] += 1
        w.counters[C_BUILDS] += 1


@njit
def next_finish(w):
    """(time, build) of the running build that reports first; (inf, -1) if none runs."""
    best = INF
    which = -1
    end = w.bt[B_END]
    for r in range(w.runner.shape[0]):
        b = w.runner[r]
        if b >= 0 and end[b] < best:
            best = end[b]
            which = b
    return best, which


@njit
def next_deadline(w):
    """(time, build) of the waiting build whose deadline comes first; (inf, -1) if none.

    Deadlines are request time plus one timeout, and the runner queue is in request
    order, so the first live entry has the earliest one."""
    _pop_cancelled(w)
    sc = w.sc
    if sc[S_FIFO_H] >= sc[S_FIFO_T]:
        return INF, -1
    b = w.bi[B_FIFO, sc[S_FIFO_H] % w.bi.shape[1]]
    return w.bt[B_DEADLINE, b], b


@njit
def expire_waiting(w, b, t):
    """Waiting build `b` (at the head of the runner queue) reached its deadline unstarted."""
    w.sc[S_FIFO_H] += 1
    w.bi[B_TIMED_OUT, b] = 1
    finish(w, b, t)


@njit
def runner_seconds_at(w, t):
    """Close the run at time t: running builds count their runner time so far."""
    for r in range(w.runner.shape[0]):
        b = w.runner[r]
        if b >= 0:
            w.counters[C_RUNNER_S] += t - w.bt[B_START, b]
