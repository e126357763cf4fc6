"""One run of the compiled model from checked parameters: pack arrays, run, name results.

A run's arrivals follow the daily pattern or replay a trace (`TraceArrivals`, read from
a build history by trace.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from loadwise.systems.base import Metrics
from loadwise.systems.submitqueue import kernel as k
from loadwise.systems.submitqueue.metrics import build_metrics
from loadwise.systems.submitqueue.params import TICK_HOURS
from loadwise.systems.submitqueue.rng import stream_keys


@dataclass(frozen=True)
class TraceArrivals:
    """Arrivals replayed from a build history: one entry per change, sorted by tick.

    `effect_ptr` indexes the changes' effects (CSR): change i affects tests
    `effect_test[effect_ptr[i]:effect_ptr[i+1]]` with pass probabilities `effect_value[...]`
    (only effects below 1.0 are kept).
    """

    tick: np.ndarray
    effect_ptr: np.ndarray
    effect_test: np.ndarray
    effect_value: np.ndarray
    ntests: int
    ticks: int  # ticks the trace spans: last arrival tick + 1
    marked_bad: int  # changes with is_bad=true


_NO_TRACE = TraceArrivals(
    tick=np.zeros(0, np.int64), effect_ptr=np.zeros(1, np.int64),
    effect_test=np.zeros(0, np.int64), effect_value=np.zeros(0, np.float64), ntests=0, ticks=0,
    marked_bad=0,
)


def run_model(
    knobs: dict[str, Any],
    scenario: dict[str, Any],
    seed: int,
    *,
    warmup_ticks: int,
    ticks: int,
    trace: TraceArrivals | None = None,
    tick_hours: float = TICK_HOURS,
) -> Metrics:
    """Simulate once. `knobs`/`scenario` are already checked (see params.py);
    with a trace, arrivals and tests come from it and traffic is ignored."""
    arrivals = trace or _NO_TRACE
    ntests = trace.ntests if trace else scenario["ntests"]
    ip = np.zeros(k.N_IP, np.int64)
    ip[k.I_RESOURCES] = knobs["resources"]
    ip[k.I_MAXBATCH] = knobs["maxbatch"]
    ip[k.I_MAXK] = knobs["maxk"]
    ip[k.I_KDIV] = knobs["kdiv"]
    ip[k.I_VERIFY_LATENCY] = knobs["verify_latency"]
    ip[k.I_FIX_DELAY] = knobs["fix_delay"]
    ip[k.I_VERIFY_MULT] = knobs["verify_resource_mult"]
    ip[k.I_NTESTS] = ntests
    ip[k.I_BP1] = scenario["bp1"]
    ip[k.I_BP2] = scenario["bp2"]
    ip[k.I_BP3] = scenario["bp3"]
    ip[k.I_WARMUP] = warmup_ticks
    ip[k.I_TICKS] = ticks
    ip[k.I_TRACE] = 1 if trace else 0
    # changes already waiting at tick 0: the last tick's arrivals of the daily pattern
    ip[k.I_INITIAL] = 0 if trace else int(scenario["traffic"] * k.ARRIVAL_PATTERN[-1] + 0.5)
    fp = np.zeros(k.N_FP, np.float64)
    fp[k.F_FLAKETOL] = knobs["flaketol"]
    fp[k.F_TRAFFIC] = scenario["traffic"]
    fp[k.F_CULPRIT] = scenario["culprit_prob"]
    fp[k.F_STABILITY] = scenario["test_stability"]

    counters, wait_hist, ttl_hist = k.simulate(
        ip, fp, stream_keys(seed, 2), arrivals.tick, arrivals.effect_ptr,
        arrivals.effect_test, arrivals.effect_value,
    )
    if trace:
        ideal = trace.tick.shape[0] / ticks
    else:
        ideal = k.IDEAL_PER_TRAFFIC * scenario["traffic"]
    return build_metrics(
        dict(zip(k.COUNTERS, counters.tolist())), wait_hist, ttl_hist,
        ideal_per_tick=ideal, measured_ticks=ticks, tick_hours=tick_hours,
        resources=knobs["resources"], ntests=ntests,
    )
