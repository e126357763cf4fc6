"""The compiled event loop of the merge-queue world: one run of one strategy.

Events are arrivals, builds reporting (at their end, or at their deadline while still
waiting for a runner) and the strategy's own timer (a batch's or a merge group's wait
running out). After each event the strategy acts (asks for builds, merges, evicts) and
waiting builds start on free runners. The queue depth (queued pull requests, in a build
or not) is integrated over time.

Inputs and outputs are plain arrays so the compiled code is cached on disk; the
strategy is a switch over the five codes of `strategies`. Only `simulate` is cached,
and under a name that carries a hash of every source file it compiles (numba names a
cache file after the function and checks only that function's own file), so an edit
to any of them compiles afresh instead of loading stale code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit

import loadwise.systems.submitqueue.kernel as _design
import loadwise.systems.submitqueue.rng as _rng
from loadwise.systems.mergequeue.engine import (
    C_DEPTH_AREA,
    F_HORIZON,
    INF,
    P_LIVE,
    P_STATE,
    S_OVERFLOW,
    S_QUEUED,
    SF_TIMER,
    T_LEAVE,
    arrive,
    dispatch,
    expire_waiting,
    finish,
    new_world,
    next_deadline,
    next_finish,
    release,
    runner_seconds_at,
)
from loadwise.systems.mergequeue.strategies.adaptive_window import (
    ADAPTIVE_WINDOW,
    adaptive_act,
    adaptive_done,
    adaptive_init,
)
from loadwise.systems.mergequeue.strategies.batch_bisect import BATCH_BISECT, batch_act, batch_done
from loadwise.systems.mergequeue.strategies.group_testing import GROUP_TESTING, group_act, group_done, group_init
from loadwise.systems.mergequeue.strategies.serial import SERIAL, serial_act, serial_done, serial_init
from loadwise.systems.mergequeue.strategies.speculative import (
    SPECULATIVE,
    speculative_act,
    speculative_done,
    speculative_init,
)


@njit
def _init(code, w, ki):
    if code == SERIAL:
        serial_init(w)
    elif code == SPECULATIVE:
        speculative_init(w)
    elif code == ADAPTIVE_WINDOW:
        adaptive_init(w, ki)
    elif code == GROUP_TESTING:
        group_init(w)


@njit
def _act(code, w, ki, kf, t):
    if code == SERIAL:
        serial_act(w, t)
    elif code == BATCH_BISECT:
        batch_act(w, ki, kf, t)
    elif code == SPECULATIVE:
        speculative_act(w, ki, kf, t)
    elif code == ADAPTIVE_WINDOW:
        adaptive_act(w, ki, t)
    else:
        group_act(w, ki, t)


@njit
def _done(code, w, ki, kf, b, t):
    if code == SERIAL:
        serial_done(w, b, t)
    elif code == BATCH_BISECT:
        batch_done(w, ki, b, t)
    elif code == SPECULATIVE:
        speculative_done(w, ki, b, t)
    elif code == ADAPTIVE_WINDOW:
        adaptive_done(w, ki, b, t)
    else:
        group_done(w, kf, b, t)


def _source_hash() -> str:
    here = Path(__file__).parent
    files = [here / "engine.py", Path(__file__), *sorted((here / "strategies").glob("*.py")),
             Path(_design.__file__), Path(_rng.__file__)]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _simulate(code, ki, kf, ip, fp, keys, arrivals, bad, caps):
    """Run strategy `code` with knobs (ki, kf) in the world (ip, fp, keys) on the sorted
    arrival times; `bad[i]` is 1 or 0 to fix a pull request's badness, -1 to draw it.

    Returns (counters, state, leave, live, overflow): the run's counters (engine.COUNTERS),
    each pull request's final state, the time it left the queue (NaN if it did not),
    how many live builds hold it, and which capacity ran out (0 if none, else the run
    stopped early and must be repeated with more room).
    """
    w = new_world(ip, fp, keys, arrivals, bad, caps)
    _init(code, w, ki)
    horizon = fp[F_HORIZON]
    n = arrivals.shape[0]
    c = w.counters
    sc = w.sc
    t = 0.0
    a = 0
    while sc[S_OVERFLOW] == 0:
        t_arrival = arrivals[a] if a < n else INF
        t_finish, b_finish = next_finish(w)
        t_deadline, b_deadline = next_deadline(w)
        t_timer = w.sf[SF_TIMER]
        now = min(t_arrival, t_finish, t_deadline, t_timer)
        if now > horizon:
            break
        c[C_DEPTH_AREA] += sc[S_QUEUED] * (now - t)
        t = now
        if t_finish == now:
            finish(w, b_finish, now)
            _done(code, w, ki, kf, b_finish, now)
            release(w, b_finish)
        elif t_deadline == now:
            expire_waiting(w, b_deadline, now)
            _done(code, w, ki, kf, b_deadline, now)
            release(w, b_deadline)
        elif t_arrival == now:
            arrive(w, a, now)
            a += 1
        else:
            w.sf[SF_TIMER] = INF
        _act(code, w, ki, kf, now)
        dispatch(w, now)
    if sc[S_OVERFLOW] == 0:
        c[C_DEPTH_AREA] += sc[S_QUEUED] * (horizon - t)
        runner_seconds_at(w, horizon)
    return c, w.pr[P_STATE], w.prt[T_LEAVE], w.pr[P_LIVE], sc[S_OVERFLOW]


_simulate.__qualname__ = f"simulate_{_source_hash()}"
simulate = njit(cache=True)(_simulate)
