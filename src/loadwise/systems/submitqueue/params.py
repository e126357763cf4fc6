"""The submit queue's knobs and scenario parameters, with valid and searched ranges.

Defaults are the published simulator's defaults; `search` ranges are the seed's search
space (`shared/spec/02-submit-queue.md`). The implicit knobs (verification latency and
capacity, fix delay) are valid to set but not searched unless a user asks for them.
"""

from __future__ import annotations

from loadwise.params import Param

KNOBS: tuple[Param, ...] = (
    Param("resources", int, 74, low=1, high=10_000, search=(16, 128), log=True,
          help="parallel resources; verification capacity is resources x verify_resource_mult"),
    Param("maxbatch", int, 684, low=1, high=16_384, search=(512, 4096), log=True,
          help="most pending changes taken into one minibatch round"),
    Param("maxk", int, 12, low=1, high=64, search=(4, 24),
          help="most minibatches each change is placed in"),
    Param("kdiv", int, 5, low=1, high=100, search=(2, 10),
          help="minibatches per change is at most N // kdiv"),
    Param("flaketol", float, 0.0767, low=0.0, high=1.0, search=(0.01, 0.25),
          help="a test whose failure average exceeds this is demoted"),
    Param("verify_latency", int, 6, low=1, high=1_000,
          help="ticks a suspect's solo verification takes (seed's optional range 1-10)"),
    Param("fix_delay", int, 108, low=0, high=100_000,
          help="ticks before a rejected change is resubmitted (seed's optional range 20-120)"),
    Param("verify_resource_mult", int, 19, low=1, high=1_000,
          help="verifications per resource (seed's optional range 8-32)"),
)

SCENARIO_PARAMS: tuple[Param, ...] = (
    Param("traffic", float, 8.0, low=0.01, high=1_000.0,
          help="load multiplier: 25 x traffic changes per 2-hour tick on average"),
    Param("culprit_prob", float, 0.03, low=0.0, high=1.0,
          help="probability that a new change is bad"),
    Param("test_stability", float, 1.0, low=0.0, high=1.0,
          help="multiplies every effect of a bad change (lower: flakier)"),
    Param("ntests", int, 32, low=1, high=256, help="number of tests"),
    Param("bp1", int, 200, low=0, high=10**9, help="pending count that halves arrivals"),
    Param("bp2", int, 400, low=0, high=10**9, help="pending count that quarters arrivals"),
    Param("bp3", int, 800, low=0, high=10**9, help="pending count that divides arrivals by 8"),
    Param("warmup_ticks", int, 252, low=0, high=1_000_000,
          help="ticks simulated before statistics start (3 weeks)"),
    Param("ticks", int, 5040, low=1, high=1_000_000, help="measured ticks (60 weeks)"),
)

# Keys a scenario mapping may carry that are not model parameters (a scenario set's
# name and weight); they are ignored by `run`.
SCENARIO_BOOKKEEPING = frozenset({"name", "weight"})

# A low-fidelity run measures at least this many ticks (two weeks), so that every
# hour of the daily pattern is seen many times.
MIN_MEASURED_TICKS = 168

TICK_HOURS = 2.0
