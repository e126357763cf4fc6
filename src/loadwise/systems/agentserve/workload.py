"""Workloads: arrival times, MATH-like items and the common random numbers of every call.

All draws of a run come from its seed alone, never from routing decisions, so every
router faces the same arrivals, items and per-call draws (common random numbers), and
the clairvoyant oracle can know them in advance. Two cells with the same seed see the
same items and the same unit-rate arrival process, scaled to their rate.

Items: subject and level are drawn independently from the MATH test set's marginal
distributions (the joint table is not shipped); an item is its (subject, level).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from loadwise.errors import ConfigError
from loadwise.files import read_user_text
from loadwise.systems.agentserve.profiles import MATH_LEVEL_WEIGHTS
from loadwise.systems.agentserve.routing import MAX_CALLS, SUBJECTS

PATTERNS = ("poisson", "microburst", "sustained", "replay")
# MATH test set (Hendrycks et al., 2021): problems per subject, in SUBJECTS order (5,000 total)
MATH_SUBJECT_COUNTS = (1187, 474, 479, 903, 540, 871, 546)
MATH_SUBJECT_WEIGHTS = np.asarray(MATH_SUBJECT_COUNTS, dtype=float) / sum(MATH_SUBJECT_COUNTS)
assert len(MATH_SUBJECT_COUNTS) == len(SUBJECTS)

BURST_PERIOD = 20.0   # microburst: every 20 s ...
BURST_LENGTH = 3.0    # ... 3 s at ...
BURST_FACTOR = 10.0   # ... 10 x the base rate; the base rate keeps the mean equal to `rate`


@dataclass(frozen=True)
class Workload:
    """Everything random about a run, drawn up front. Row i is workflow i (arrival order)."""

    arrival: np.ndarray    # float (N,) seconds, non-decreasing
    subject: np.ndarray    # int (N,)
    level: np.ndarray      # int (N,) 1..5
    item_id: np.ndarray    # int (N,) index of the item in the run's item stream
    u_plan: np.ndarray     # float (N,) for randomized planners
    u_correct: np.ndarray  # float (N, MAX_CALLS) correctness uniform per call slot
    z_length: np.ndarray   # float (N, MAX_CALLS) standard-normal quantile of the output length
    u_route: np.ndarray    # float (N, MAX_CALLS) for randomized routers

    def __len__(self) -> int:
        return len(self.arrival)


def arrival_times(unit: np.ndarray, rate: float, pattern: str) -> np.ndarray:
    """Map a unit-rate Poisson process (cumulative sums of Exp(1)) to `pattern` at `rate`/min.

    poisson: homogeneous. microburst: BURST_FACTOR x the base rate during the first
    BURST_LENGTH s of every BURST_PERIOD s, mean rate `rate`. sustained: evenly spaced
    arrivals at `rate` (steady load with no burstiness; `unit` only fixes the count).
    """
    per_s = rate / 60.0
    if pattern == "poisson":
        return unit / per_s
    if pattern == "sustained":
        return np.arange(1, len(unit) + 1) / per_s
    if pattern == "microburst":
        mass = BURST_FACTOR * BURST_LENGTH + (BURST_PERIOD - BURST_LENGTH)  # per period, in base-rate s
        base = per_s * BURST_PERIOD / mass
        period_mass = base * mass
        k = np.floor(unit / period_mass)
        rest = unit - k * period_mass
        burst_mass = base * BURST_FACTOR * BURST_LENGTH
        inside = rest < burst_mass
        t = np.where(inside, rest / (base * BURST_FACTOR), BURST_LENGTH + (rest - burst_mass) / base)
        return k * BURST_PERIOD + t
    raise ConfigError("pattern", f"unknown arrival pattern {pattern!r}; allowed: {', '.join(PATTERNS)}")


def draw_workload(n: int, rate: float, pattern: str, seed: int, replay: np.ndarray | None = None) -> Workload:
    """The random inputs of a run of `n` workflows (pattern 'replay' takes times from `replay`)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    unit = np.cumsum(rng.exponential(1.0, size=n))
    subject = rng.choice(len(SUBJECTS), size=n, p=MATH_SUBJECT_WEIGHTS)
    level = rng.choice(5, size=n, p=MATH_LEVEL_WEIGHTS) + 1
    u_plan = rng.random(n)
    u_correct = rng.random((n, MAX_CALLS))
    z_length = ndtri(rng.random((n, MAX_CALLS)))
    u_route = rng.random((n, MAX_CALLS))
    if pattern == "replay":
        if replay is None or len(replay) < n:
            have = 0 if replay is None else len(replay)
            raise ConfigError("replay", f"needs at least {n} arrival times, the file has {have}")
        arrival = np.asarray(replay[:n], dtype=float)
    else:
        if not (np.isfinite(rate) and rate > 0):
            raise ConfigError("rate", f"must be a positive number of requests per minute, got {rate!r}")
        arrival = arrival_times(unit, rate, pattern)
    return Workload(arrival, subject, level, np.arange(n), u_plan, u_correct, z_length, u_route)


def load_arrivals(path: str | Path) -> np.ndarray:
    """Arrival times (s) from a file: one number per line, or a CSV with an `arrival_time` column.

    Times are sorted and shifted so the first arrival is at 0.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "arrival file not found")
    lines = [ln.strip() for ln in read_user_text(path).splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(str(path), "arrival file is empty")
    values: list[float] = []
    if any(c.isalpha() for c in lines[0]):
        rows = list(csv.DictReader(lines))
        if not rows or "arrival_time" not in rows[0]:
            raise ConfigError(f"{path}: arrival_time", "a CSV arrival file needs an arrival_time column")
        cells = [(i + 2, r["arrival_time"]) for i, r in enumerate(rows)]
    else:
        cells = [(i + 1, ln) for i, ln in enumerate(lines)]
    for line_no, text in cells:
        try:
            values.append(float(text))
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: line {line_no}", f"not a number: {text!r}") from None
    times = np.sort(np.asarray(values))
    if not np.all(np.isfinite(times)):
        raise ConfigError(str(path), "arrival times must be finite")
    return times - times[0]
