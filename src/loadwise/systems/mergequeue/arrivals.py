"""When pull requests join the queue: drawn from the hour-of-week profile, or replayed.

Arrivals are a non-homogeneous Poisson process with a piecewise-constant rate: in hour
h of the run the rate is prs_per_day × traffic / 24 × profile[h mod 168], so each hour
brings a Poisson number of pull requests at uniform times within it. They depend on
the seed and the world only, never on the strategy, which is the first half of common
random numbers (the kernel keys everything else by identity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadwise.errors import ConfigError
from loadwise.files import read_user_text
from loadwise.systems.mergequeue.world import hourly_profile

HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Arrivals:
    """Arrival times in seconds from Monday 00:00 (sorted), and each pull request's known
    badness: 1 bad, 0 good, -1 to be drawn with p_bad."""

    times: np.ndarray
    bad: np.ndarray

    def __post_init__(self) -> None:
        if self.times.shape != self.bad.shape:
            raise ValueError("one badness per arrival")

    def until(self, horizon: float) -> Arrivals:
        """The arrivals before `horizon` seconds."""
        n = int(np.searchsorted(self.times, horizon, side="right"))
        return Arrivals(self.times[:n], self.bad[:n])


def poisson_arrivals(prs_per_day: float, profile: str, days: float, seed: int) -> Arrivals:
    """Arrivals over `days` at `prs_per_day` shaped by the hour-of-week `profile`."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    weights = hourly_profile(profile)
    hours = math.ceil(days * 24)
    rates = prs_per_day / 24.0 * weights[np.arange(hours) % 168]
    counts = rng.poisson(rates)
    starts = np.repeat(np.arange(hours, dtype=float) * HOUR, counts)
    times = np.sort(starts + rng.uniform(0.0, HOUR, size=starts.size))
    return Arrivals(times, np.full(times.size, -1, np.int8)).until(days * DAY)


def load_arrivals(path: str | Path) -> Arrivals:
    """Arrival times from a text file: one per line, seconds from Monday 00:00, optionally
    followed by `,1` (known bad) or `,0` (known good); `#` starts a comment."""
    path = Path(path)
    lines = read_user_text(path, "arrivals").splitlines()
    times: list[float] = []
    bad: list[int] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            value = float(fields[0])
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0) or len(fields) > 2 or \
                (len(fields) == 2 and fields[1] not in ("0", "1")):
            raise ConfigError("arrivals", f"{path}:{number}: expected seconds >= 0, optionally ',0' or ',1'; "
                                          f"got {raw.strip()[:40]!r}")
        times.append(value)
        bad.append(int(fields[1]) if len(fields) == 2 else -1)
    if not times:
        raise ConfigError("arrivals", f"{path}: no arrival times")
    order = np.argsort(np.array(times), kind="stable")
    return Arrivals(np.array(times)[order], np.array(bad, np.int8)[order])
