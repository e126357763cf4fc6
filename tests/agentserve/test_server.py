"""The virtual-time server: exact against a direct simulation, FCFS/EDF order, KV use."""

from __future__ import annotations

import math

import numpy as np

from loadwise.systems.agentserve.server import Server


def _tpot(cap: int, base: float = 0.01, growth: float = 0.5) -> list[float]:
    return [0.0] + [base * (1 + growth * math.log(n)) for n in range(1, cap + 1)]


def _direct(submits: list[tuple[float, float, float]], tpot: list[float], cap: int, edf: bool) -> dict[int, float]:
    """Reference: every running request's remaining work updated at every event (O(batch))."""
    pending = sorted(range(len(submits)), key=lambda i: submits[i][0])
    t, running, waiting, done = 0.0, {}, [], {}
    while pending or running or waiting:
        n = len(running)
        t_finish = t + min(running.values()) * tpot[n] if running else math.inf
        t_arrive = submits[pending[0]][0] if pending else math.inf
        t_next = min(t_finish, t_arrive)
        if n:
            progress = (t_next - t) / tpot[n]
            for k in running:
                running[k] -= progress
        t = t_next
        if t_arrive <= t_finish:
            i = pending.pop(0)
            if len(running) < cap:
                running[i] = submits[i][1]
            else:
                waiting.append(i)
        else:
            k = min(running, key=running.get)
            del running[k]
            done[k] = t
            if waiting:
                waiting.sort(key=lambda j: (submits[j][2] if edf else submits[j][0], j))
                j = waiting.pop(0)
                running[j] = submits[j][1]
    return done


def _virtual(submits, tpot, cap, edf) -> tuple[dict[int, float], Server]:
    srv = Server(tpot, cap, kv_capacity=1e6, edf=edf, recent0=1.0)
    order = sorted(range(len(submits)), key=lambda i: submits[i][0])
    done = {}
    k = 0
    while k < len(order) or srv.next_finish < math.inf:
        if k < len(order) and submits[order[k]][0] <= srv.next_finish:
            i = order[k]
            srv.submit(submits[i][0], submits[i][1], 0.0, submits[i][2], i)
            k += 1
        else:
            payload, _, t = srv.finish()
            done[payload] = t
    return done, srv


def test_virtual_time_matches_direct_simulation():
    rng = np.random.default_rng(3)
    for edf in (False, True):
        arrivals = np.cumsum(rng.exponential(0.15, 300))
        submits = [(float(a), float(w), float(a + d)) for a, w, d in
                   zip(arrivals, rng.integers(20, 600, 300), rng.uniform(1, 60, 300))]
        tpot = _tpot(8)
        want = _direct(submits, tpot, 8, edf)
        got, srv = _virtual(submits, tpot, 8, edf)
        assert srv.completed == 300 and srv.n == 0 and not srv.waiting
        for i in want:
            assert abs(got[i] - want[i]) < 1e-6 * max(1.0, want[i])


def test_edf_never_starts_a_later_deadline_before_an_earlier_waiting_one():
    rng = np.random.default_rng(7)
    srv = Server(_tpot(2), 2, kv_capacity=1e6, edf=True, recent0=1.0)
    deadlines = {}
    t = 0.0
    started_order = []
    for i in range(40):  # overload: 40 requests at once on 2 slots
        d = float(rng.uniform(0, 100))
        deadlines[i] = d
        srv.submit(t, 50.0, 0.0, d, i)
    while srv.next_finish < math.inf:
        waiting_before = sorted(srv.waiting_keys())
        srv.finish()
        if waiting_before:
            # the request that just started is the earliest deadline among those waiting
            started = [k for k in waiting_before if k not in srv.waiting_keys()]
            assert started == [waiting_before[0]]
            started_order.append(started[0])
    assert started_order == sorted(started_order)


def test_fcfs_starts_in_submission_order():
    srv = Server(_tpot(1), 1, kv_capacity=1e6, edf=False, recent0=1.0)
    for i, d in enumerate([50.0, 10.0, 30.0, 20.0]):
        srv.submit(float(i) * 1e-3, 10.0, 0.0, d, i)
    finished = []
    while srv.next_finish < math.inf:
        finished.append(srv.finish()[0])
    assert finished == [0, 1, 2, 3]


def test_per_token_time_grows_with_batch_and_kv_use_tracks_tokens_held():
    tpot = _tpot(4, base=0.01, growth=1.0)
    alone = Server(tpot, 4, kv_capacity=1000.0, edf=False, recent0=1.0)
    alone.submit(0.0, 100.0, 0.0, 0.0, "a")
    assert abs(alone.next_finish - 100 * 0.01) < 1e-12
    shared = Server(tpot, 4, kv_capacity=1000.0, edf=False, recent0=1.0)
    for k in range(4):
        shared.submit(0.0, 100.0, 50.0, 0.0, k)
    assert abs(shared.next_finish - 100 * tpot[4]) < 1e-12
    shared.advance(0.5 * 100 * tpot[4])
    # 4 prompts of 50 tokens + 4 x 50 tokens produced, of 1000
    assert abs(shared.kv_use() - 0.4) < 1e-9
