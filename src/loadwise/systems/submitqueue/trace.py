"""Trace replay: drive the submit queue with a build-history CSV instead of the pattern.

The CSV has one row per (change, target):
`change_number,target,creation_time_millis,success,flake,timestamp,hour,is_bad`.
A change arrives in the one-hour tick of its creation time (counted from the earliest
change); each target is a test; a failed target is a hard break (pass probability 0),
a flaky pass is an effect of 0.5, anything else 1.0. A rejected change comes back
fixed (with no effects) after `fix_delay` ticks. Malformed rows are reported with
their line number, never silently zeroed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadwise.errors import ConfigError
from loadwise.files import read_user_text
from loadwise.systems.base import Metrics
from loadwise.systems.submitqueue.params import SCENARIO_PARAMS
from loadwise.systems.submitqueue.simulation import TraceArrivals, run_model
from loadwise.systems.submitqueue.system import check_knobs, check_scenario, check_seed

COLUMNS = ("change_number", "target", "creation_time_millis", "success", "flake", "timestamp", "hour", "is_bad")
MS_PER_TICK = 3_600_000
TRACE_TICK_HOURS = 1.0
FLAKY_EFFECT = 0.5
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


@dataclass
class Change:
    """One change of a build history: the line it first appears on, its creation time, its
    is_bad mark and the effect of each target it ran (0 broken, 0.5 flaky pass, 1 pass)."""

    line: int
    created_ms: int
    is_bad: bool
    effects: dict[str, float]


def _integer(text: str, where: str, column: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(where, f"column {column}: expected an integer, got {text!r}") from None


def _boolean(text: str, where: str, column: str) -> bool:
    value = _BOOLEANS.get(text.strip().lower())
    if value is None:
        raise ConfigError(where, f"column {column}: expected true or false, got {text!r}")
    return value


def read_changes(path: str | Path) -> dict[int, Change]:
    """The changes of a build-history CSV by number, each checked; errors name the file and line."""
    path = Path(path)
    text = read_user_text(path)
    changes: dict[int, Change] = {}
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ConfigError(str(path), f"empty file; expected a header line: {','.join(COLUMNS)}")
        names = [h.strip() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise ConfigError(f"{path}:1", f"missing column {missing[0]!r}; expected columns: {','.join(COLUMNS)}")
        col = {c: names.index(c) for c in COLUMNS}
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or all(not field.strip() for field in row):
                continue
            if len(row) != len(names):
                raise ConfigError(where, f"expected {len(names)} fields, got {len(row)}")
            number = _integer(row[col["change_number"]], where, "change_number")
            target = row[col["target"]].strip()
            if not target:
                raise ConfigError(where, "column target: empty")
            created = _integer(row[col["creation_time_millis"]], where, "creation_time_millis")
            if created < 0:
                raise ConfigError(where, f"column creation_time_millis: expected >= 0, got {created}")
            success = _boolean(row[col["success"]], where, "success")
            flake = _boolean(row[col["flake"]], where, "flake")
            _integer(row[col["timestamp"]], where, "timestamp")
            hour = _integer(row[col["hour"]], where, "hour")
            if not 0 <= hour <= 23:
                raise ConfigError(where, f"column hour: expected 0-23, got {hour}")
            is_bad = _boolean(row[col["is_bad"]], where, "is_bad")
            change = changes.get(number)
            if change is None:
                change = changes[number] = Change(reader.line_num, created, is_bad, {})
            elif change.created_ms != created or change.is_bad != is_bad:
                raise ConfigError(where, f"change {number}: creation_time_millis/is_bad differ from line {change.line}")
            if target in change.effects:
                raise ConfigError(where, f"change {number}: target {target!r} appears twice")
            change.effects[target] = 0.0 if not success else (FLAKY_EFFECT if flake else 1.0)
    if not changes:
        raise ConfigError(str(path), "no data rows")
    return changes


def load_trace(path: str | Path) -> TraceArrivals:
    """Read and check a build-history CSV; errors name the file and line."""
    changes = read_changes(path)
    targets = sorted({t for c in changes.values() for t in c.effects})
    test_id = {t: i for i, t in enumerate(targets)}
    order = sorted(changes, key=lambda n: (changes[n].created_ms, n))
    start_ms = changes[order[0]].created_ms
    ticks = np.array([(changes[n].created_ms - start_ms) // MS_PER_TICK for n in order], np.int64)
    ptr = [0]
    tests: list[int] = []
    values: list[float] = []
    for n in order:
        for target, effect in sorted(changes[n].effects.items()):
            if effect < 1.0:
                tests.append(test_id[target])
                values.append(effect)
        ptr.append(len(tests))
    return TraceArrivals(
        tick=ticks,
        effect_ptr=np.array(ptr, np.int64),
        effect_test=np.array(tests, np.int64),
        effect_value=np.array(values, np.float64),
        ntests=len(targets),
        ticks=int(ticks[-1]) + 1,
        marked_bad=sum(c.is_bad for c in changes.values()),
    )


def replay_csv(path: str | Path, config: Mapping[str, Any] | None = None, seed: int = 0) -> Metrics:
    """Replay a build history through the submit queue with the given knobs.

    Runs one tick past the last arrival so that every change gets a minibatch round;
    changes still verifying or waiting then are counted `in_flight`.
    """
    knobs = check_knobs(config or {})
    trace = load_trace(path)
    scenario = check_scenario({p.name: p.default for p in SCENARIO_PARAMS})
    metrics = run_model(
        knobs, scenario, check_seed(seed), warmup_ticks=0, ticks=trace.ticks + 1,
        trace=trace, tick_hours=TRACE_TICK_HOURS,
    )
    metrics.update({
        "trace_changes": float(trace.tick.shape[0]),
        "trace_targets": float(trace.ntests),
        "trace_hours": float(trace.ticks),
        "trace_marked_bad": float(trace.marked_bad),
    })
    return metrics
