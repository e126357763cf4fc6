"""`loadwise sq ...`: run the submit-queue simulator once, or replay a build history.

Flags are read as text and turned into numbers where they are numbers; the verbs
(`loadwise.app.simulate`) check them against the system's parameter definitions, so a
bad value gives one line naming the flag and what it allows. Flags left out take the
model's defaults (or the `--scenario` values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loadwise.cli.options import number_or_text
from loadwise.report.format import number
from loadwise.systems.submitqueue.params import KNOBS, SCENARIO_PARAMS

app = typer.Typer(help="The CI submit-queue simulator.", no_args_is_help=True)

_PARAMS = {p.name: p for p in (*KNOBS, *SCENARIO_PARAMS)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option(name: str) -> Any:
    p = _PARAMS[name]
    metavar = "N" if p.type is int else "X"
    return typer.Option(None, _flag(name), metavar=metavar, show_default=False,
                        help=f"{p.help} ({p.describe()}; default {p.default})")


def _values(flags: dict[str, str | None]) -> dict[str, Any]:
    return {name: number_or_text(text) for name, text in flags.items() if text is not None}


def _print(result: dict[str, Any], metrics: dict[str, float], as_json: bool, title: str) -> None:
    import json
    import math

    from rich.console import Console
    from rich.table import Table

    from loadwise.systems.submitqueue.metrics import (
        CLASSIC_METRICS,
        GROUND_TRUTH_METRICS,
    )

    if as_json:
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in result.items()}
        typer.echo(json.dumps(clean))
        return
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("kind")
    groups = (("classic", CLASSIC_METRICS), ("ground truth", GROUND_TRUTH_METRICS),
              ("run", [k for k in metrics if k not in CLASSIC_METRICS and k not in GROUND_TRUTH_METRICS]),
              ("objective", [k for k in result if k.startswith("objective_")]))
    for kind, names in groups:
        for name in names:
            value = result[name]
            text = number(value, 4)
            table.add_row(name, text, kind)
    Console().print(table)


_RESOURCES = _option("resources")
_MAXBATCH = _option("maxbatch")
_MAXK = _option("maxk")
_KDIV = _option("kdiv")
_FLAKETOL = _option("flaketol")
_VERIFY_LATENCY = _option("verify_latency")
_FIX_DELAY = _option("fix_delay")
_VERIFY_MULT = _option("verify_resource_mult")
_SEED = typer.Option("0", "--seed", metavar="N", help="random seed (integer >= 0)")
_JSON = typer.Option(False, "--json", help="print one JSON object instead of a table")


@app.command("run")
def run(
    resources: str | None = _RESOURCES,
    maxbatch: str | None = _MAXBATCH,
    maxk: str | None = _MAXK,
    kdiv: str | None = _KDIV,
    flaketol: str | None = _FLAKETOL,
    verify_latency: str | None = _VERIFY_LATENCY,
    fix_delay: str | None = _FIX_DELAY,
    verify_resource_mult: str | None = _VERIFY_MULT,
    traffic: str | None = _option("traffic"),
    culprit_prob: str | None = _option("culprit_prob"),
    test_stability: str | None = _option("test_stability"),
    ntests: str | None = _option("ntests"),
    bp1: str | None = _option("bp1"),
    bp2: str | None = _option("bp2"),
    bp3: str | None = _option("bp3"),
    scenario: str | None = typer.Option(
        None, "--scenario", metavar="NAME",
        help="one of the five weighted load scenarios: normal, spike, low, flaky or crisis (flags given override it)"),
    seed: str = _SEED,
    warmup_ticks: str | None = _option("warmup_ticks"),
    ticks: str | None = _option("ticks"),
    as_json: bool = _JSON,
) -> None:
    """Simulate the submit queue once and print its metrics."""
    from loadwise.app.simulate import simulate

    knob_flags = {"resources": resources, "maxbatch": maxbatch, "maxk": maxk, "kdiv": kdiv,
                  "flaketol": flaketol, "verify_latency": verify_latency, "fix_delay": fix_delay,
                  "verify_resource_mult": verify_resource_mult}
    scenario_flags = {"traffic": traffic, "culprit_prob": culprit_prob, "test_stability": test_stability,
                      "ntests": ntests, "bp1": bp1, "bp2": bp2, "bp3": bp3,
                      "warmup_ticks": warmup_ticks, "ticks": ticks}
    sim = simulate(_values(knob_flags), scenario, _values(scenario_flags), number_or_text(seed))
    objectives = {f"objective_{name}": value for name, value in sim.objectives.items()}
    if as_json:
        result = {"config": sim.config, "scenario": {"name": sim.scenario, **sim.params}, "seed": sim.seed,
                  **sim.metrics, **objectives}
        _print(result, sim.metrics, True, "")
    else:
        _print({**sim.metrics, **objectives}, sim.metrics, False,
               f"submit queue, scenario {sim.scenario or 'custom'}, seed {sim.seed}")


@app.command("replay")
def replay(
    file: Path = typer.Argument(..., metavar="FILE.csv", help="build history: change_number,target,"
                                "creation_time_millis,success,flake,timestamp,hour,is_bad"),
    resources: str | None = _RESOURCES,
    maxbatch: str | None = _MAXBATCH,
    maxk: str | None = _MAXK,
    kdiv: str | None = _KDIV,
    flaketol: str | None = _FLAKETOL,
    verify_latency: str | None = _VERIFY_LATENCY,
    fix_delay: str | None = _FIX_DELAY,
    verify_resource_mult: str | None = _VERIFY_MULT,
    seed: str = _SEED,
    as_json: bool = _JSON,
) -> None:
    """Drive the submit queue with a build-history CSV (one-hour ticks) and print its metrics."""
    from loadwise.app.simulate import replay as replay_history

    knob_flags = {"resources": resources, "maxbatch": maxbatch, "maxk": maxk, "kdiv": kdiv,
                  "flaketol": flaketol, "verify_latency": verify_latency, "fix_delay": fix_delay,
                  "verify_resource_mult": verify_resource_mult}
    played = replay_history(file, _values(knob_flags), number_or_text(seed))
    if as_json:
        _print({"config": played.config, "file": str(played.file), "seed": played.seed, **played.metrics},
               played.metrics, True, "")
    else:
        _print(dict(played.metrics), played.metrics, False, f"replay of {played.file}, seed {played.seed}")
