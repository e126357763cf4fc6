"""One run of the compiled world from checked inputs: pack arrays, run, name results.

The kernel's arrays have fixed capacities (live builds, their pull requests, conflict
pairs, the table of sets built); a run that outgrows one is repeated with four times
the room, which changes nothing else since the run is a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from loadwise.errors import RunFailed
from loadwise.systems.base import Metrics
from loadwise.systems.mergequeue import engine as e
from loadwise.systems.mergequeue.arrivals import DAY, Arrivals
from loadwise.systems.mergequeue.metrics import build_metrics
from loadwise.systems.mergequeue.strategies import Strategy
from loadwise.systems.submitqueue.rng import stream_keys

_GROWTH = 4
_ATTEMPTS = 8


def run_world(strategy: Strategy, config: Mapping[str, Any], world: Mapping[str, Any], seed: int,
              arrivals: Arrivals, days: float) -> Metrics:
    """Simulate `strategy` with checked knobs `config` in the checked `world` for `days`,
    on `arrivals` (already cut at the horizon)."""
    from loadwise.systems.mergequeue.kernel import simulate

    horizon = days * DAY
    n = arrivals.times.size
    ki, kf = strategy.pack(config)
    ip = np.zeros(e.N_IP, np.int64)
    ip[e.I_RUNNERS] = world["runners"]
    ip[e.I_PRS] = n
    fp = np.zeros(e.N_FP, np.float64)
    fp[e.F_HORIZON] = horizon
    fp[e.F_P_BAD] = world["p_bad"]
    fp[e.F_P_FLAKE] = world["p_flake"]
    fp[e.F_P_CONFLICT] = world["p_conflict"]
    fp[e.F_MEDIAN_S] = 60.0 * world["duration_median_min"]
    fp[e.F_SIGMA] = world["duration_sigma"]
    fp[e.F_GROWTH] = world["duration_growth"]
    keys = stream_keys(seed, e.N_KEYS)
    caps = np.zeros(e.N_CAPS, np.int64)
    caps[e.CAP_BUILDS] = 2048
    caps[e.CAP_POOL] = 1 << 15
    caps[e.CAP_EDGES] = 4 * n + 1024
    # the sets built over the run: rebuild storms of a saturated speculative queue make ~10 per pull request
    caps[e.CAP_TABLE] = 1 << max(14, int(np.ceil(np.log2(32 * n + 4096))))
    caps[e.CAP_LIST] = n + strategy.list_size(config) + 64
    over = {e.OVER_BUILDS: e.CAP_BUILDS, e.OVER_POOL: e.CAP_POOL, e.OVER_EDGES: e.CAP_EDGES,
            e.OVER_TABLE: e.CAP_TABLE}
    for _ in range(_ATTEMPTS):
        counters, state, leave, live, overflow = simulate(
            strategy.code, ki, kf, ip, fp, keys, arrivals.times, arrivals.bad, caps)
        if overflow == 0:
            return build_metrics(counters, arrivals.times, state, leave, live, horizon, world["runners"])
        caps[over[int(overflow)]] *= _GROWTH
    raise RunFailed(f"the run outgrew its arrays {_ATTEMPTS} times (capacities {caps.tolist()})")
