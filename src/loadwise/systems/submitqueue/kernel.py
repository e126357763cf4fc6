"""The compiled submit-queue model: one run, tick by tick, with no Python objects inside.

This is the "classic" model of `shared/spec/02-submit-queue.md` (the one behind the
seed's published figures) with its accounting made correct. Changes live in slot
arrays; the pending, verification and fixing queues are FIFO index buffers; a change's
effects (only those below 1.0, and only bad changes have any) live in a separate row
pool. Everything a metric needs is a counter or an integer histogram, so memory does
not grow with the number of changes simulated.

The state comes in named tuples of arrays, so that a phase takes the few groups it
works on instead of fifty arrays: `Params` (what the run is given), `Changes` (slots
and effect rows), `Queues` (the FIFO queues), `Tests` (the repository and its tests),
`Round` (the minibatch round's scratch and designs) and `Stats` (counters and
histograms). `simulate` builds each group once, and anew only when one of its arrays
grows; before each tick it makes room in the buffers and sizes the round (steps 3-5
of the spec's tick). `_tick` then runs the phases, one function per step: `_resubmit`
(1), `_verify` (2), `_round` (6-7: minibatches tested, then decoded), `_land` (8, with
the repairs), `_track` (9) and `_arrive` (the arrivals, under backpressure).

`_tick`, its phases and the per-tick buffer checks are inlined into `simulate`
(`inline="always"`, numba's own inlining): numba counts references to every array a
call passes, those in a tuple included, and on a quiet tick that costs more than the
work (a default run took 7 % longer with calls). For the same reason the per-change
loops call no helper that takes arrays.

Inputs and outputs are plain arrays (see the `I_*`, `F_*` and `C_*` indices) so that the
signature stays fixed and the compiled code is cached on disk (`cache=True`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from loadwise.systems.submitqueue.rng import below, keyed_uniform, seed_stream, splitmix64

# Changes per tick (2 hours) over one day, per unit of traffic; its mean (25) is the
# ideal throughput per unit of traffic.
ARRIVAL_PATTERN = np.array([5, 5, 5, 5, 60, 60, 60, 60, 10, 10, 10, 10], dtype=np.float64)
IDEAL_PER_TRAFFIC = 25.0
# Each test is affected by a change with this probability overall (spread over bad changes).
P_AFFECTED = 0.005
# Effect table: cumulative probability -> pass probability of an affected test.
EFFECT_CUM = np.array([0.50, 0.55, 0.59, 0.60, 0.64, 0.68, 1.0])
EFFECT_VALUE = np.array([1.0, 0.995, 0.98, 0.95, 0.80, 0.20, 0.0])
ALPHA = 0.05  # weight of a new observation in a test's failure average
REPAIR_CHANGES = 84.0  # a test with pass probability p survives n landings with p^(n/84)

# Change labels (ground truth)
CLEAN, PARTIAL, HARD = 0, 1, 2

# The one random stream: design columns, each restarted from (salt, n, column).
_S_DESIGN = 0
# Keys of the counter-based draws (array `dkeys`). Every outcome is keyed by the event it
# decides: a change's identity (an arrival: its tick and index; a resubmission: the
# identity of the change it fixes), that change's effects, a test of a change in one of
# its minibatches, a verification of a change, a test's repair or tracking run in a tick.
# Two configs run on one seed thus draw the same number for the same event, which keeps
# them paired (common random numbers) long after their queues stop being identical.
K_UID, K_EFFECTS, K_TESTS, K_VERIFY, K_REPAIR, K_TRACK = range(6)
_N_DKEYS = 6
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Integer parameters (array `ip`)
(I_RESOURCES, I_MAXBATCH, I_MAXK, I_KDIV, I_VERIFY_LATENCY, I_FIX_DELAY, I_VERIFY_MULT,
 I_NTESTS, I_BP1, I_BP2, I_BP3, I_WARMUP, I_TICKS, I_TRACE, I_INITIAL) = range(15)
N_IP = 15
# Float parameters (array `fp`)
F_FLAKETOL, F_TRAFFIC, F_CULPRIT, F_STABILITY = range(4)
N_FP = 4

# Counters over the measured window (array returned by `simulate`)
COUNTERS = (
    "minibatches", "minibatches_passed", "batch_slots", "batch_slots_used",
    "verifications", "verify_passes", "verify_failures", "landed", "wait_sum",
    "queue_sum", "max_queue_depth", "max_verify_queue", "culprits_created",
    "demotion_events", "active_tests", "demoted_tick_sum", "created", "resubmitted",
    "dropped", "landed_clean", "landed_partial", "landed_hard", "rejected_clean",
    "rejected_partial", "rejected_hard", "in_flight_start", "in_flight", "ttl_sum",
)
(C_MB, C_MB_PASS, C_SLOTS, C_SLOTS_USED, C_VERIF, C_VPASS, C_VFAIL, C_LANDED, C_WAIT_SUM,
 C_QUEUE_SUM, C_MAX_QUEUE, C_MAX_VQUEUE, C_CULPRITS, C_DEMOTIONS, C_ACTIVE, C_DEMOTED_SUM,
 C_CREATED, C_RESUB, C_DROPPED, C_LANDED_CLEAN, C_LANDED_PARTIAL, C_LANDED_HARD,
 C_REJ_CLEAN, C_REJ_PARTIAL, C_REJ_HARD, C_INFLIGHT_START, C_INFLIGHT, C_TTL_SUM) = range(28)
N_COUNTERS = 28

# Queue and test state carried from tick to tick (array `Queues.qs`)
Q_PH, Q_PT, Q_VH, Q_VT, Q_NVER, Q_FH, Q_FT, Q_NACTIVE, Q_TP = range(9)


class Params(NamedTuple):
    """What a run is given; no phase writes it."""

    ip: np.ndarray  # integer parameters (I_*)
    fp: np.ndarray  # float parameters (F_*)
    dkeys: np.ndarray  # keys of the counter-based draws (K_*)
    values: np.ndarray  # the effect table's values times test_stability, clipped to [0, 1]
    p_aff: float  # probability that a bad change affects a given test
    trace_ptr: np.ndarray  # replayed changes' effects (CSR, see simulate)
    trace_test: np.ndarray
    trace_value: np.ndarray


class Changes(NamedTuple):
    """Change slots and the effect-row pool, each with a stack of free indices.

    A change holds a slot from its submission until it lands or is rejected; only a
    change with effects holds a row, so rows (ntests wide) cost memory for bad changes
    alone.
    """

    s_tick: np.ndarray  # tick of this submission
    s_origin: np.ndarray  # tick of the first submission (before any fix cycle)
    s_label: np.ndarray  # CLEAN, PARTIAL or HARD
    s_row: np.ndarray  # effect row, or -1
    s_uid: np.ndarray  # identity, the key of the change's own draws
    free_slots: np.ndarray
    e_n: np.ndarray  # effects in each row
    e_t: np.ndarray  # (rows, ntests): tests affected
    e_v: np.ndarray  # (rows, ntests): their pass probabilities
    free_rows: np.ndarray
    nfree: np.ndarray  # [free slots, free rows]


class Queues(NamedTuple):
    """The FIFO queues, live between the heads and tails kept in `qs` (Q_*), and the
    changes landing in the current tick."""

    pq: np.ndarray  # pending: slots
    vq: np.ndarray  # verification: slots
    vd: np.ndarray  # verification: tick its run is done (for those started)
    fq_due: np.ndarray  # fixing: tick the fixed change comes back
    fq_origin: np.ndarray  # fixing: first submission tick of the rejected change
    fq_uid: np.ndarray  # fixing: identity of the rejected change
    qs: np.ndarray
    landed: np.ndarray  # slots of this tick's landed changes


class Tests(NamedTuple):
    """The repository and its tests, with per-test scratch."""

    p: np.ndarray  # each test's pass probability against the repository
    fail_avg: np.ndarray  # each test's failure average
    active: np.ndarray  # active tests, the first qs[Q_NACTIVE] entries
    dirty: np.ndarray  # scratch: active tests the repository itself may fail
    change_eff: np.ndarray  # scratch, 1.0 between uses: one change's effects by test
    failed_here: np.ndarray  # scratch, False between uses: tests failed in one minibatch


class Round(NamedTuple):
    """The minibatch round's scratch, sized once for the largest N, and the design
    columns, cached per N in `pool` (the only array here that grows)."""

    b_size: np.ndarray  # changes in each minibatch
    b_pass: np.ndarray
    b_all: np.ndarray  # did every change of the minibatch land?
    b_has: np.ndarray  # does any of its changes have effects (b_min, b_arg set then)?
    b_min: np.ndarray  # (N, ntests): the lowest effect of its changes on each test
    b_arg: np.ndarray  # (N, ntests): key of the change, in that minibatch, with that effect
    b_nfail: np.ndarray
    b_fail: np.ndarray  # (N, ntests): tests the minibatch failed
    decay: np.ndarray  # (1 - ALPHA)^z: z passed minibatches taken in at once
    pool: np.ndarray


class Stats(NamedTuple):
    """Everything a metric is made of, over the measured window."""

    counters: np.ndarray  # C_*
    wait_hist: np.ndarray  # ticks from submission to landing
    ttl_hist: np.ndarray  # ticks from first submission to landing


@njit(cache=True)
def quantize(v):
    """Round a batch count to a ~5 % geometric grid (exact below 20): 20->19, 100->98."""
    if v < 20:
        return v
    index = np.floor(np.log(v) / np.log(1.05) + 0.5)
    return int(1.05**index)


@njit(cache=True)
def column_weight(n, maxk, kdiv):
    """Minibatches per change for n minibatches: min(maxk, n // kdiv), >= 2 if n >= 2, quantized."""
    k = min(maxk, n // kdiv)
    if n >= 2 and k < 2:
        k = 2
    if k < 1:
        k = 1
    return quantize(k)


@njit(cache=True)
def fill_design(pool, offset, n, k, cols, salt, states):
    """Write `cols` columns of a random k-set design over n rows at pool[offset:].

    Column j's rows are the first k of a random permutation of the n rows drawn from
    (salt, n, j) alone (a partial Fisher–Yates shuffle, so each column is a uniform
    k-set). Column j therefore does not depend on how many columns are drawn (a wider
    regeneration repeats the first ones), and columns of two weights k < k' over the
    same n are nested: configs with another maxk or kdiv put each change into
    overlapping minibatches, which keeps their runs on one seed paired.
    """
    key = splitmix64(salt ^ (np.uint64(n) << np.uint64(32)))
    perm = np.arange(n)
    swaps = np.empty(k, np.int64)
    for c in range(cols):
        seed_stream(states, _S_DESIGN, splitmix64(key + np.uint64(c + 1) * _GOLDEN))
        base = offset + c * k
        for count in range(k):
            r = count + below(states, _S_DESIGN, n - count)
            swaps[count] = r
            t = perm[r]
            perm[r] = perm[count]
            perm[count] = t
            pool[base + count] = t
        for count in range(k - 1, -1, -1):  # undo, back to the identity
            r = swaps[count]
            t = perm[r]
            perm[r] = perm[count]
            perm[count] = t


@njit(cache=True)
def _grow(a, need):
    """`a` copied into an array of at least `need` rows (doubling)."""
    cap = max(need, 2 * a.shape[0])
    shape = (cap,) + a.shape[1:]  # noqa: RUF005 - numba builds this tuple; star-unpacking it does not
    b = np.empty(shape, a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, inline="always")
def _ensure_slots(need, ch):
    """`ch`, or a new `Changes` with more slots, so that at least `need` are free."""
    nfree = ch.nfree
    if nfree[0] >= need:
        return ch
    cap = ch.s_tick.shape[0]
    s_tick = _grow(ch.s_tick, cap + need)
    free_slots = _grow(ch.free_slots, s_tick.shape[0])
    for s in range(cap, s_tick.shape[0]):
        free_slots[nfree[0]] = s
        nfree[0] += 1
    return Changes(s_tick, _grow(ch.s_origin, cap + need), _grow(ch.s_label, cap + need),
                   _grow(ch.s_row, cap + need), _grow(ch.s_uid, cap + need), free_slots,
                   ch.e_n, ch.e_t, ch.e_v, ch.free_rows, nfree)


@njit(cache=True, inline="always")
def _ensure_rows(need, ch):
    """`ch`, or a new `Changes` with more effect rows, so that at least `need` are free."""
    nfree = ch.nfree
    if nfree[1] >= need:
        return ch
    cap = ch.e_n.shape[0]
    e_n = _grow(ch.e_n, cap + need)
    free_rows = _grow(ch.free_rows, e_n.shape[0])
    for r in range(cap, e_n.shape[0]):
        free_rows[nfree[1]] = r
        nfree[1] += 1
    return Changes(ch.s_tick, ch.s_origin, ch.s_label, ch.s_row, ch.s_uid, ch.free_slots,
                   e_n, _grow(ch.e_t, cap + need), _grow(ch.e_v, cap + need), free_rows, nfree)


@njit(cache=True)
def _compact(q, head, tail):
    """Move the live part q[head:tail] of a FIFO buffer to its start."""
    size = tail - head
    for i in range(size):
        q[i] = q[head + i]
    return size


@njit(cache=True, inline="always")
def _ensure_queues(new, limit, qu):
    """`qu`, or a new `Queues` with longer queues, so that a tick fits: `new` changes pending,
    `limit` of them turning suspect, and every change now verifying rejected. A queue's
    live part moves to its start first; the queue grows only if that is not enough."""
    qs = qu.qs
    pq, vq, vd, landed = qu.pq, qu.vq, qu.vd, qu.landed
    fq_due, fq_origin, fq_uid = qu.fq_due, qu.fq_origin, qu.fq_uid
    grown = False
    if qs[Q_PT] + new > pq.shape[0]:
        qs[Q_PT] = _compact(pq, qs[Q_PH], qs[Q_PT])
        qs[Q_PH] = 0
        if qs[Q_PT] + new > pq.shape[0]:
            pq = _grow(pq, qs[Q_PT] + new)
            grown = True
    if qs[Q_VT] + limit > vq.shape[0]:
        size = _compact(vq, qs[Q_VH], qs[Q_VT])
        _compact(vd, qs[Q_VH], qs[Q_VT])
        qs[Q_VT] = size
        qs[Q_VH] = 0
        if size + limit > vq.shape[0]:
            vq = _grow(vq, size + limit)
            vd = _grow(vd, size + limit)
            grown = True
    verifying = qs[Q_VT] - qs[Q_VH]
    if limit + verifying > landed.shape[0]:
        landed = _grow(landed, limit + verifying)
        grown = True
    if qs[Q_FT] + verifying > fq_due.shape[0]:
        size = _compact(fq_due, qs[Q_FH], qs[Q_FT])
        _compact(fq_origin, qs[Q_FH], qs[Q_FT])
        _compact(fq_uid, qs[Q_FH], qs[Q_FT])
        qs[Q_FT] = size
        qs[Q_FH] = 0
        if size + verifying > fq_due.shape[0]:
            fq_due = _grow(fq_due, size + verifying)
            fq_origin = _grow(fq_origin, size + verifying)
            fq_uid = _grow(fq_uid, size + verifying)
            grown = True
    if not grown:
        return qu
    return Queues(pq, vq, vd, fq_due, fq_origin, fq_uid, qs, landed)


@njit(cache=True)
def _ensure_pool(need, rd):
    """`rd`, or a new `Round` whose design pool holds at least `need` entries."""
    if need <= rd.pool.shape[0]:
        return rd
    return Round(rd.b_size, rd.b_pass, rd.b_all, rd.b_has, rd.b_min, rd.b_arg, rd.b_nfail,
                 rd.b_fail, rd.decay, _grow(rd.pool, need))


@njit(cache=True)
def _tick_key(dkey, tick):
    """The key of the draws about one tick (its arrivals, the repository's own failures,
    repairs, tracking runs)."""
    return splitmix64(dkey ^ (np.uint64(tick + 1) * _GOLDEN))


@njit(cache=True, inline="always")
def _new_changes(count, tick, uid_base, resubmit, pars, ch, qu):
    """Append `count` changes, submitted at `tick`, to the pending queue; returns how many
    are hard culprits.

    Arrival i gets the identity hash(uid_base + i), so the i-th change a tick brings is
    the same change in every config run on the seed (backpressure keeps a prefix). A
    resubmission's identity is a hash of the rejected change's (the fixing queue's, from
    its head), so a change keeps its draws however the configs' rejections are ordered in
    time; it keeps its first submission tick too. Effects (those below 1.0) are drawn
    from the model, keyed by the identity, or copied from the trace (its changes from
    qs[Q_TP] on); a replayed change comes back fixed, with no effects. Written as one
    loop without helper calls: numba's reference counting of array arguments would cost
    more than the work per change.
    """
    ip = pars.ip
    ntests = ip[I_NTESTS]
    use_trace = ip[I_TRACE] == 1
    culprit_prob = pars.fp[F_CULPRIT]
    effects_key = pars.dkeys[K_EFFECTS]
    values, p_aff = pars.values, pars.p_aff
    trace_ptr, trace_test, trace_value = pars.trace_ptr, pars.trace_test, pars.trace_value
    s_tick, s_origin, s_label, s_row, s_uid = ch.s_tick, ch.s_origin, ch.s_label, ch.s_row, ch.s_uid
    free_slots, free_rows, nfree = ch.free_slots, ch.free_rows, ch.nfree
    e_n, e_t, e_v = ch.e_n, ch.e_t, ch.e_v
    qs = qu.qs
    pq, origins, fq_uid = qu.pq, qu.fq_origin, qu.fq_uid
    pt = qs[Q_PT]
    first = qs[Q_FH]
    trace_first = qs[Q_TP]
    n_cum = EFFECT_CUM.shape[0]
    n_slots = nfree[0]
    n_rows = nfree[1]
    hard = 0
    for i in range(count):
        n_slots -= 1
        slot = free_slots[n_slots]
        s_tick[slot] = tick
        s_origin[slot] = origins[first + i] if resubmit else tick
        if resubmit:
            uid = splitmix64(fq_uid[first + i] ^ _GOLDEN)
        else:
            uid = splitmix64(uid_base + np.uint64(i))
        s_uid[slot] = uid
        row = -1
        n_eff = 0
        if use_trace:
            if not resubmit:
                change = trace_first + i
                for m in range(trace_ptr[change], trace_ptr[change + 1]):
                    if row < 0:
                        n_rows -= 1
                        row = free_rows[n_rows]
                    e_t[row, n_eff] = trace_test[m]
                    e_v[row, n_eff] = trace_value[m]
                    n_eff += 1
        elif keyed_uniform(effects_key ^ uid, ntests) < culprit_prob:
            hit_key = effects_key ^ uid  # is test t affected? (counter ntests: is it bad?)
            value_key = splitmix64(hit_key)  # how much
            for t in range(ntests):
                if keyed_uniform(hit_key, t) < p_aff:
                    u = keyed_uniform(value_key, t)
                    e = values[n_cum - 1]
                    for j in range(n_cum):
                        if u < EFFECT_CUM[j]:
                            e = values[j]
                            break
                    if e < 1.0:
                        if row < 0:
                            n_rows -= 1
                            row = free_rows[n_rows]
                        e_t[row, n_eff] = t
                        e_v[row, n_eff] = e
                        n_eff += 1
        label = CLEAN
        if row >= 0:
            e_n[row] = n_eff
            label = PARTIAL
            for m in range(n_eff):
                if e_v[row, m] <= 0.0:
                    label = HARD
            if label == HARD:
                hard += 1
        s_row[slot] = row
        s_label[slot] = label
        pq[pt + i] = slot
    nfree[0] = n_slots
    nfree[1] = n_rows
    qs[Q_PT] = pt + count
    return hard


@njit(cache=True, inline="always")
def _resubmit(tick, measuring, n_fixed, pars, ch, qu, st):
    """Step 1: the first `n_fixed` rejected changes, whose fix time has come, come back
    as brand-new changes."""
    _new_changes(n_fixed, tick, _tick_key(pars.dkeys[K_UID], tick), True, pars, ch, qu)
    qu.qs[Q_FH] += n_fixed
    if measuring:
        st.counters[C_RESUB] += n_fixed


@njit(cache=True, inline="always")
def _verify(tick, measuring, pars, ch, qu, te, st):
    """Step 2: suspects start verifying, first in first out, within capacity; a finished
    verification runs its change alone against the repository on the active tests. A
    pass lands the change (a victim of the minibatch round); a failure rejects it, to be
    fixed and resubmitted after fix_delay. Returns the number landed, at landed[0:]."""
    ip = pars.ip
    verify_key_base = pars.dkeys[K_VERIFY]
    s_origin, s_label, s_row, s_uid = ch.s_origin, ch.s_label, ch.s_row, ch.s_uid
    free_slots, free_rows, nfree = ch.free_slots, ch.free_rows, ch.nfree
    e_n, e_t, e_v = ch.e_n, ch.e_t, ch.e_v
    qs, vq, vd, landed = qu.qs, qu.vq, qu.vd, qu.landed
    fq_due, fq_origin, fq_uid = qu.fq_due, qu.fq_origin, qu.fq_uid
    p, active, change_eff = te.p, te.active, te.change_eff
    counters = st.counters
    vh = qs[Q_VH]
    vt = qs[Q_VT]
    nver = qs[Q_NVER]
    ft = qs[Q_FT]
    n_active = qs[Q_NACTIVE]
    n_land = 0
    verify_cap = ip[I_RESOURCES] * ip[I_VERIFY_MULT]
    while vh + nver < vt and nver < verify_cap:
        vd[vh + nver] = tick + ip[I_VERIFY_LATENCY]
        nver += 1
        if measuring:
            counters[C_VERIF] += 1
    while nver > 0 and vd[vh] <= tick:
        slot = vq[vh]
        vh += 1
        nver -= 1
        row = s_row[slot]
        if row >= 0:
            for m in range(e_n[row]):
                change_eff[e_t[row, m]] = e_v[row, m]
        passed = True
        verify_key = verify_key_base ^ s_uid[slot]
        for a in range(n_active):
            t = active[a]
            e = min(p[t], change_eff[t])
            if e < 1.0 and (e <= 0.0 or keyed_uniform(verify_key, t) >= e):
                passed = False
                break
        if row >= 0:
            for m in range(e_n[row]):
                change_eff[e_t[row, m]] = 1.0
        if passed:  # a victim of the minibatch round: it lands
            landed[n_land] = slot
            n_land += 1
            if measuring:
                counters[C_VPASS] += 1
        else:  # rejected: fixed and resubmitted after fix_delay
            fq_due[ft] = tick + ip[I_FIX_DELAY]
            fq_origin[ft] = s_origin[slot]
            fq_uid[ft] = s_uid[slot]
            ft += 1
            if measuring:
                counters[C_VFAIL] += 1
                counters[C_REJ_CLEAN + s_label[slot]] += 1
            if row >= 0:  # free its effect row and slot
                free_rows[nfree[1]] = row
                nfree[1] += 1
                s_row[slot] = -1
            free_slots[nfree[0]] = slot
            nfree[0] += 1
    qs[Q_VH] = vh
    qs[Q_NVER] = nver
    qs[Q_FT] = ft
    return n_land


@njit(cache=True, inline="always")
def _round(tick, measuring, n_land, limit, n, k, off, pars, ch, qu, te, rd, st):
    """Steps 6-7: the first `limit` pending changes are tested in `n` minibatches, change
    i in the k minibatches of design column i (at rd.pool[off:]); a non-empty minibatch
    passes when no active test fails. A change lands if any of its minibatches passed,
    appended to the `n_land` changes landed so far (the new count is returned); else it
    becomes a suspect and joins the verification queue."""
    tests_key = pars.dkeys[K_TESTS]
    repo_key = _tick_key(tests_key, tick)  # flakiness of the repository itself
    s_row, s_uid, e_n, e_t, e_v = ch.s_row, ch.s_uid, ch.e_n, ch.e_t, ch.e_v
    qs, pq, vq, landed = qu.qs, qu.pq, qu.vq, qu.landed
    p, active, dirty = te.p, te.active, te.dirty
    b_size, b_pass, b_all, b_has = rd.b_size, rd.b_pass, rd.b_all, rd.b_has
    b_min, b_arg, b_nfail, b_fail, pool = rd.b_min, rd.b_arg, rd.b_nfail, rd.b_fail, rd.pool
    counters = st.counters
    ph = qs[Q_PH]
    vt = qs[Q_VT]
    n_active = qs[Q_NACTIVE]
    for b in range(n):
        b_size[b] = 0
        b_has[b] = False
        b_all[b] = True
        b_nfail[b] = 0
    # b_min: the lowest effect of the minibatch's changes on each test; b_arg: which
    # change (and which of its k minibatches) that is, whose key decides the test
    for i in range(limit):
        slot = pq[ph + i]
        row = s_row[slot]
        base = off + i * k
        for j in range(k):
            b = pool[base + j]
            b_size[b] += 1
            if row >= 0:
                if not b_has[b]:
                    b_has[b] = True
                    b_min[b, :] = 1.0
                key = splitmix64(s_uid[slot] + np.uint64(j + 1) * _GOLDEN)
                for m in range(e_n[row]):
                    t = e_t[row, m]
                    v = e_v[row, m]
                    if v < b_min[b, t] or (v == b_min[b, t] and key < b_arg[b, t]):
                        b_min[b, t] = v
                        b_arg[b, t] = key

    nd = 0
    for a in range(n_active):
        t = active[a]
        if p[t] < 1.0:
            dirty[nd] = t
            nd += 1
    used = 0
    n_pass = 0
    for b in range(n):
        if b_size[b] == 0:
            b_pass[b] = True
            continue
        used += 1
        passed = True
        b_key = splitmix64(repo_key + np.uint64(b + 1) * _GOLDEN)
        if b_has[b]:
            for a in range(n_active):
                t = active[a]
                e = min(p[t], b_min[b, t])
                if e < 1.0:
                    if e <= 0.0:
                        b_fail[b, b_nfail[b]] = t
                        b_nfail[b] += 1
                        passed = False
                        break
                    key = tests_key ^ b_arg[b, t] if b_min[b, t] < p[t] else b_key
                    if keyed_uniform(key, t) >= e:
                        b_fail[b, b_nfail[b]] = t
                        b_nfail[b] += 1
                        passed = False
        else:
            for d in range(nd):
                t = dirty[d]
                if keyed_uniform(b_key, t) >= p[t]:
                    b_fail[b, b_nfail[b]] = t
                    b_nfail[b] += 1
                    passed = False
        b_pass[b] = passed
        if passed:
            n_pass += 1
    if measuring:
        counters[C_MB] += used
        counters[C_MB_PASS] += n_pass
        counters[C_SLOTS] += n
        counters[C_SLOTS_USED] += used

    # decode: a change lands if any of its minibatches passed
    for i in range(limit):
        slot = pq[ph + i]
        base = off + i * k
        cleared = False
        for j in range(k):
            if b_pass[pool[base + j]]:
                cleared = True
                break
        if cleared:
            landed[n_land] = slot
            n_land += 1
        else:
            vq[vt] = slot
            vt += 1
            for j in range(k):
                b_all[pool[base + j]] = False
    qs[Q_PH] = ph + limit
    qs[Q_VT] = vt
    return n_land


@njit(cache=True, inline="always")
def _land(tick, measuring, n_land, pars, ch, qu, te, st):
    """Step 8: this tick's `n_land` landed changes apply their effects to the repository,
    are counted and free their slots (one loop, no helper calls: see `_new_changes`);
    then the repairs, each test with probability 1 - p^(n_land / 84)."""
    s_tick, s_origin, s_label, s_row = ch.s_tick, ch.s_origin, ch.s_label, ch.s_row
    free_slots, free_rows, nfree = ch.free_slots, ch.free_rows, ch.nfree
    e_n, e_t, e_v = ch.e_n, ch.e_t, ch.e_v
    landed = qu.landed
    p = te.p
    counters, wait_hist, ttl_hist = st.counters, st.wait_hist, st.ttl_hist
    n_slots = nfree[0]
    n_rows = nfree[1]
    for i in range(n_land):
        slot = landed[i]
        row = s_row[slot]
        if row >= 0:
            for m in range(e_n[row]):
                t = e_t[row, m]
                if e_v[row, m] < p[t]:
                    p[t] = e_v[row, m]
            free_rows[n_rows] = row
            n_rows += 1
            s_row[slot] = -1
        if measuring:
            wait = tick - s_tick[slot]
            ttl = tick - s_origin[slot]
            counters[C_WAIT_SUM] += wait
            counters[C_TTL_SUM] += ttl
            wait_hist[wait] += 1
            ttl_hist[ttl] += 1
            counters[C_LANDED_CLEAN + s_label[slot]] += 1
        free_slots[n_slots] = slot
        n_slots += 1
    if measuring:
        counters[C_LANDED] += n_land
    nfree[0] = n_slots
    nfree[1] = n_rows

    x = n_land / REPAIR_CHANGES
    repair_key = _tick_key(pars.dkeys[K_REPAIR], tick)
    for t in range(pars.ip[I_NTESTS]):
        if p[t] < 1.0 and keyed_uniform(repair_key, t) > p[t] ** x:
            p[t] = 1.0


@njit(cache=True, inline="always")
def _track(tick, measuring, n_land, limit, n, pars, qu, te, rd, st):
    """Step 9, in a tick where something landed: the active tests' failure averages take
    in this round's `n` minibatches whose changes all landed, then every test (demoted
    ones too) is run once against the repository. A test stays or becomes active while
    its average is at most flaketol; demotions are counted.

    The minibatches count only in a tick where at most `limit` changes landed (the
    round's own landings plus verified victims), as in the published simulator: after a
    busy hour, when victims outnumber the round's new suspects, the minibatches are
    skipped, so fewer tests made flaky by landed partial culprits are demoted."""
    ntests = pars.ip[I_NTESTS]
    qs = qu.qs
    p, fail_avg, active, failed_here = te.p, te.fail_avg, te.active, te.failed_here
    b_size, b_pass, b_all = rd.b_size, rd.b_pass, rd.b_all
    b_nfail, b_fail, decay = rd.b_nfail, rd.b_fail, rd.decay
    n_active = qs[Q_NACTIVE]
    zeros = 0  # passed minibatches not yet folded into the averages
    n_counted = n if n_land <= limit else 0
    for b in range(n_counted):
        if b_size[b] == 0 or not b_all[b]:
            continue
        if b_pass[b]:
            zeros += 1
            continue
        f = decay[zeros]
        zeros = 0
        for a in range(n_active):
            fail_avg[active[a]] *= f
        for m in range(b_nfail[b]):
            failed_here[b_fail[b, m]] = True
        for a in range(n_active):
            t = active[a]
            obs = 1.0 if failed_here[t] else 0.0
            fail_avg[t] = ALPHA * obs + (1.0 - ALPHA) * fail_avg[t]
        for m in range(b_nfail[b]):
            failed_here[b_fail[b, m]] = False
    if zeros > 0:
        f = decay[zeros]
        for a in range(n_active):
            fail_avg[active[a]] *= f

    old_active = n_active
    n_active = 0
    track_key = _tick_key(pars.dkeys[K_TRACK], tick)
    for t in range(ntests):
        obs = 0.0
        if p[t] < 1.0 and keyed_uniform(track_key, t) >= p[t]:
            obs = 1.0
        fail_avg[t] = ALPHA * obs + (1.0 - ALPHA) * fail_avg[t]
        if fail_avg[t] <= pars.fp[F_FLAKETOL]:
            active[n_active] = t
            n_active += 1
    if measuring and n_active < old_active:
        st.counters[C_DEMOTIONS] += old_active - n_active
    qs[Q_NACTIVE] = n_active


@njit(cache=True, inline="always")
def _arrive(tick, measuring, n_arrive, pars, ch, qu, st):
    """The tick's `n_arrive` arrivals join the pending queue, throttled by backpressure on
    its length (halved from bp1 on, quartered from bp2, divided by 8 from bp3); the
    others are dropped."""
    ip = pars.ip
    qs = qu.qs
    counters = st.counters
    queued = qs[Q_PT] - qs[Q_PH]
    n_keep = n_arrive
    if queued >= ip[I_BP3]:
        n_keep = n_arrive // 8
    elif queued >= ip[I_BP2]:
        n_keep = n_arrive // 4
    elif queued >= ip[I_BP1]:
        n_keep = n_arrive // 2
    if measuring:
        counters[C_DROPPED] += n_arrive - n_keep
        counters[C_CREATED] += n_keep
    hard = _new_changes(n_keep, tick, _tick_key(pars.dkeys[K_UID], tick), False, pars, ch, qu)
    if measuring:
        counters[C_CULPRITS] += hard
    if ip[I_TRACE] == 1:
        qs[Q_TP] += n_arrive


@njit(cache=True, inline="always")
def _tick(tick, measuring, n_fixed, n_arrive, limit, n, k, off, pars, ch, qu, te, rd, st):
    """One tick of the model, its steps in order. The caller has made room in every
    buffer for this tick (so no array is rebound here, which keeps numba's reference
    counting out of the inner loops) and chosen the round's size: `limit` changes in `n`
    minibatches (0 without a round), `k` per change, design columns at rd.pool[off:]."""
    qs = qu.qs
    counters = st.counters
    _resubmit(tick, measuring, n_fixed, pars, ch, qu, st)
    n_land = _verify(tick, measuring, pars, ch, qu, te, st)
    if measuring:  # the queues as the round finds them
        counters[C_MAX_QUEUE] = max(counters[C_MAX_QUEUE], qs[Q_PT] - qs[Q_PH])
        counters[C_MAX_VQUEUE] = max(counters[C_MAX_VQUEUE], qs[Q_VT] - qs[Q_VH])
    if limit > 0:
        n_land = _round(tick, measuring, n_land, limit, n, k, off, pars, ch, qu, te, rd, st)
    if n_land > 0:
        _land(tick, measuring, n_land, pars, ch, qu, te, st)
        _track(tick, measuring, n_land, limit, n, pars, qu, te, rd, st)
    if measuring:
        counters[C_QUEUE_SUM] += qs[Q_PT] - qs[Q_PH]
        counters[C_DEMOTED_SUM] += pars.ip[I_NTESTS] - qs[Q_NACTIVE]
    _arrive(tick, measuring, n_arrive, pars, ch, qu, st)


@njit(cache=True)
def simulate(ip, fp, keys, trace_tick, trace_ptr, trace_test, trace_value):
    """Run the model once.

    ip/fp: integer and float parameters (I_*/F_* indices); keys: 2 uint64 keys (root
    of the counter-based draws, design salt). With
    ip[I_TRACE] == 1 the arrivals come from the trace arrays (change arrival ticks,
    sorted, and their effects in CSR form) instead of the synthetic daily pattern.
    Returns (counters, wait histogram, time-to-land histogram), over the measured window.

    This loop only sizes buffers and designs for each tick; `_tick` does the work.
    """
    resources = ip[I_RESOURCES]
    maxbatch = ip[I_MAXBATCH]
    maxk = ip[I_MAXK]
    kdiv = ip[I_KDIV]
    ntests = ip[I_NTESTS]
    warmup = ip[I_WARMUP]
    total = warmup + ip[I_TICKS]
    use_trace = ip[I_TRACE] == 1
    traffic = fp[F_TRAFFIC]
    culprit_prob = fp[F_CULPRIT]

    states = np.zeros((1, 4), np.uint64)  # the design stream
    salt = keys[1]
    dkeys = np.empty(_N_DKEYS, np.uint64)
    for i in range(_N_DKEYS):
        dkeys[i] = splitmix64(keys[0] + np.uint64(i + 1))
    pars = Params(
        ip=ip, fp=fp, dkeys=dkeys,
        values=np.minimum(np.maximum(EFFECT_VALUE * fp[F_STABILITY], 0.0), 1.0),
        p_aff=min(1.0, P_AFFECTED / culprit_prob) if culprit_prob > 0.0 else 0.0,
        trace_ptr=trace_ptr, trace_test=trace_test, trace_value=trace_value,
    )
    st = Stats(
        counters=np.zeros(N_COUNTERS, np.float64), wait_hist=np.zeros(total + 1, np.int64),
        ttl_hist=np.zeros(total + 1, np.int64),
    )
    ch = Changes(
        s_tick=np.zeros(1024, np.int64), s_origin=np.zeros(1024, np.int64),
        s_label=np.zeros(1024, np.int8), s_row=np.full(1024, -1, np.int64),
        s_uid=np.zeros(1024, np.uint64), free_slots=np.arange(1023, -1, -1).astype(np.int64),
        e_n=np.zeros(256, np.int64), e_t=np.zeros((256, ntests), np.int64),
        e_v=np.ones((256, ntests), np.float64), free_rows=np.arange(255, -1, -1).astype(np.int64),
        nfree=np.array([1024, 256], np.int64),
    )
    qs = np.zeros(9, np.int64)
    qs[Q_NACTIVE] = ntests
    qu = Queues(
        pq=np.zeros(4096, np.int64), vq=np.zeros(1024, np.int64), vd=np.zeros(1024, np.int64),
        fq_due=np.zeros(1024, np.int64), fq_origin=np.zeros(1024, np.int64),
        fq_uid=np.zeros(1024, np.uint64), qs=qs, landed=np.zeros(1024, np.int64),
    )
    te = Tests(
        p=np.ones(ntests, np.float64), fail_avg=np.zeros(ntests, np.float64),
        active=np.arange(ntests).astype(np.int64), dirty=np.zeros(ntests, np.int64),
        change_eff=np.ones(ntests, np.float64), failed_here=np.zeros(ntests, np.bool_),
    )
    n_max = max(quantize(maxbatch // 2), quantize(resources), 1)  # the largest possible N
    decay = np.empty(n_max + 1, np.float64)
    for z in range(n_max + 1):
        decay[z] = (1.0 - ALPHA) ** z
    rd = Round(
        b_size=np.zeros(n_max, np.int64), b_pass=np.zeros(n_max, np.bool_),
        b_all=np.zeros(n_max, np.bool_), b_has=np.zeros(n_max, np.bool_),
        b_min=np.ones((n_max, ntests), np.float64), b_arg=np.zeros((n_max, ntests), np.uint64),
        b_nfail=np.zeros(n_max, np.int64), b_fail=np.zeros((n_max, ntests), np.int32),
        decay=decay, pool=np.zeros(1 << 16, np.int32),
    )
    # where each N's design columns start in the pool, and how many (K is a function of N
    # within a run)
    d_off = np.full(n_max + 1, -1, np.int64)
    d_cols = np.zeros(n_max + 1, np.int64)
    pool_used = 0

    # changes already waiting at tick 0, their identities keyed as the tick before's arrivals
    n0 = ip[I_INITIAL]
    ch = _ensure_slots(n0, ch)
    ch = _ensure_rows(n0, ch)
    qu = _ensure_queues(n0, 0, qu)
    _new_changes(n0, 0, _tick_key(dkeys[K_UID], -1), False, pars, ch, qu)

    counters = st.counters
    carry = 0.0
    n_trace = trace_tick.shape[0]
    for tick in range(total):
        if tick == warmup:
            counters[:] = 0.0
            st.wait_hist[:] = 0
            st.ttl_hist[:] = 0
            counters[C_INFLIGHT_START] = (qs[Q_PT] - qs[Q_PH]) + (qs[Q_VT] - qs[Q_VH])

        # what this tick brings: resubmissions due, and arrivals before backpressure
        fh = qs[Q_FH]
        n_fixed = 0
        while fh + n_fixed < qs[Q_FT] and qu.fq_due[fh + n_fixed] <= tick:
            n_fixed += 1
        if use_trace:
            tp = qs[Q_TP]
            n_arrive = 0
            while tp + n_arrive < n_trace and trace_tick[tp + n_arrive] == tick:
                n_arrive += 1
        else:
            carry += traffic * ARRIVAL_PATTERN[tick % 12]
            n_arrive = int(carry)
            carry -= n_arrive

        # room for every change this tick can create or move
        new = n_fixed + n_arrive
        ch = _ensure_slots(new, ch)
        ch = _ensure_rows(new, ch)
        limit = min(maxbatch, qs[Q_PT] - qs[Q_PH] + n_fixed)
        qu = _ensure_queues(new, limit, qu)

        # the round's size and its design
        n = 0
        k = 0
        off = 0
        if limit > 0:
            n = limit // 2
            if n == 0:
                n = resources
            n = quantize(n)
            k = column_weight(n, maxk, kdiv)
            if d_off[n] < 0 or d_cols[n] < limit:
                cols = min(maxbatch, max(limit, 2 * n + n // 8 + 2))
                if d_off[n] >= 0:
                    cols = maxbatch
                rd = _ensure_pool(pool_used + cols * k, rd)
                fill_design(rd.pool, pool_used, n, k, cols, salt, states)
                d_off[n] = pool_used
                d_cols[n] = cols
                pool_used += cols * k
            off = d_off[n]

        _tick(tick, tick >= warmup, n_fixed, n_arrive, limit, n, k, off, pars, ch, qu, te, rd, st)

    counters[C_ACTIVE] = qs[Q_NACTIVE]
    counters[C_INFLIGHT] = (qs[Q_PT] - qs[Q_PH]) + (qs[Q_VT] - qs[Q_VH])
    return st.counters, st.wait_hist, st.ttl_hist
