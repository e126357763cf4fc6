"""The world every strategy runs in, as scenario parameters: load, failures, CI, runners.

The defaults describe a mid-size repository; README ("Merge queues") says where each
number comes from. A world file (`world.yaml`, or TOML) is a flat mapping of these
parameters, so a fit of a repository's own history can be written as one and any
parameter left out keeps its default:

    prs_per_day: 150
    profile: office-hours        # or flat, or 24 / 168 comma-separated hourly weights
    p_bad: 0.05
    p_flake: 0.03
    duration_median_min: 15
    duration_sigma: 0.4
    runners: 20
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from loadwise.errors import ConfigError
from loadwise.params import Param, resolve

# Named hour-of-week profiles: 168 hourly weights from Monday 00:00, normalized to mean 1.
_WEEKDAY = (0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 0.5, 1.5, 3.0, 3.0, 3.0,
            2.0, 3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.2)
_WEEKEND = (0.2,) * 8 + (0.3,) * 12 + (0.2,) * 4
PROFILES: dict[str, tuple[float, ...]] = {
    "office-hours": _WEEKDAY * 5 + _WEEKEND * 2,
    "flat": (1.0,) * 168,
}

WORLD_PARAMS: tuple[Param, ...] = (
    Param("prs_per_day", float, 150.0, low=0.01, high=1e6,
          help="pull requests queued per day, averaged over the week"),
    Param("traffic", float, 1.0, low=0.01, high=1000.0, help="multiplies prs_per_day (a peak, a quiet week)"),
    Param("profile", str, "office-hours",
          help="hour-of-week arrival profile: office-hours, flat, or 24 (every day) or 168 (Monday 00:00 on) "
               "comma-separated weights"),
    Param("arrivals", str, "",
          help="file of arrival times to replay instead (seconds from Monday 00:00, one per line, optionally "
               "',1' for a pull request known bad or ',0' for one known good)"),
    Param("p_bad", float, 0.05, low=0.0, high=1.0,
          help="probability that a pull request breaks the branch's checks, alone or with anything"),
    Param("p_conflict", float, 0.0, low=0.0, high=1.0,
          help="probability that two pull requests queued at the same time break the checks together"),
    Param("p_flake", float, 0.03, low=0.0, high=1.0, help="probability that a build fails for no reason in it"),
    Param("duration_median_min", float, 15.0, low=0.01, high=10_000.0, help="median CI build duration, minutes"),
    Param("duration_sigma", float, 0.4, low=0.0, high=5.0,
          help="spread of build durations (the sigma of their logarithm: lognormal)"),
    Param("duration_growth", float, 0.0, low=0.0, high=10.0,
          help="relative growth of a build's duration per pull request beyond the first it holds"),
    Param("runners", int, 20, low=1, high=100_000, help="CI runners: builds that can run at once"),
    Param("days", float, 7.0, low=1 / 24, high=366.0, help="days simulated, from Monday 00:00 with an empty queue"),
)

# The four weighted worlds of a repository's year (the `mq-weighted4` preset): an ordinary
# week, a peak week (twice the pull requests: a release or quarter end), a flaky-test storm
# (five times the flakes) and a bad week (three times the bad pull requests, and pairs that
# break together). Weights and multipliers are assumptions, to be replaced by a fit of the
# repository's own history.
WEIGHTED_WORLDS: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("normal", 0.55, {}),
    ("peak", 0.20, {"traffic": 2.0}),
    ("flaky-storm", 0.15, {"p_flake": 0.15}),
    ("bad-week", 0.10, {"p_bad": 0.15, "p_conflict": 0.005}),
)

# Keys a scenario mapping may carry that are not world parameters (a scenario set's name and weight).
SCENARIO_BOOKKEEPING = frozenset({"name", "weight"})
MIN_DAYS = 1.0  # a low-fidelity run still simulates a day (or the full length when shorter)


def check_world(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """World parameters with defaults filled in, each checked; the profile too."""
    values = resolve(WORLD_PARAMS, {k: v for k, v in scenario.items() if k not in SCENARIO_BOOKKEEPING})
    hourly_profile(values["profile"])
    return values


def hourly_profile(spec: str) -> np.ndarray:
    """168 hourly weights with mean 1 from a profile name or a list of 24 or 168 weights."""
    if spec in PROFILES:
        weights = np.array(PROFILES[spec], dtype=float)
    else:
        parts = [p.strip() for p in spec.split(",")]
        try:
            weights = np.array([float(p) for p in parts], dtype=float)
        except ValueError:
            weights = np.array([])
        if weights.size not in (24, 168) or not np.all(np.isfinite(weights)) or np.any(weights < 0) \
                or weights.sum() <= 0:
            raise ConfigError("profile", f"expected one of {', '.join(PROFILES)}, or 24 or 168 comma-separated "
                                         f"non-negative weights (not all 0), got {spec[:60]!r}")
        if weights.size == 24:
            weights = np.tile(weights, 7)
    return weights / weights.mean()


def measured_days(days: float, fidelity: float) -> float:
    """Days simulated at `fidelity` in (0, 1]: scaled, but at least a day (or all of them when fewer)."""
    if isinstance(fidelity, bool) or not isinstance(fidelity, (int, float)) or not 0 < fidelity <= 1:
        raise ConfigError("fidelity", f"expected a number in (0, 1], got {fidelity!r}")
    return max(min(days, MIN_DAYS), days * fidelity)


def load_world_file(path: str | Path) -> dict[str, Any]:
    """The world parameters a world file sets (checked; the rest keep their defaults)."""
    from loadwise.systems.command import load_spec_file

    data = load_spec_file(Path(path))
    resolve(WORLD_PARAMS, data, f"{path}: ")
    if "profile" in data:
        try:
            hourly_profile(data["profile"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.field}", exc.problem) from None
    return dict(data)

