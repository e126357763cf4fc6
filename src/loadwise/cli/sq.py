"""`loadwise sq ...`: run the submit-queue simulator once, or replay a build history.

Flags are read as text and checked against the system's parameter definitions, so a
bad value gives one line naming the flag and what it allows; flags left out take the
model's defaults (or the `--scenario` preset's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loadwise.errors import ConfigError
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


def _number(text: str) -> Any:
    """A flag's text as int or float when it is one (the parameter check reports the rest)."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _values(flags: dict[str, str | None]) -> dict[str, Any]:
    return {name: _number(text) for name, text in flags.items() if text is not None}


def _seed(text: str) -> int:
    value = _number(text)
    if not isinstance(value, int) or value < 0:
        raise ConfigError("--seed", f"expected an integer >= 0, got {text!r}")
    return value


def _as_flag_error(exc: ConfigError) -> ConfigError:
    return ConfigError(_flag(exc.field) if exc.field in _PARAMS else exc.field, exc.problem)


def _print(result: dict[str, Any], metrics: dict[str, float], as_json: bool, title: str) -> None:
    import json
    import math

    from rich.console import Console
    from rich.table import Table

    from loadwise.systems.submitqueue.metrics import CLASSIC_METRICS, GROUND_TRUTH_METRICS

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
            text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.4g}"
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
        help="the seed's scenario preset: normal, spike, low, flaky or crisis (flags given override it)"),
    seed: str = _SEED,
    warmup_ticks: str | None = _option("warmup_ticks"),
    ticks: str | None = _option("ticks"),
    as_json: bool = _JSON,
) -> None:
    """Simulate the submit queue once and print its metrics."""
    from loadwise.systems.submitqueue import SubmitQueue, check_knobs, check_scenario, seed_scenario

    knob_flags = {"resources": resources, "maxbatch": maxbatch, "maxk": maxk, "kdiv": kdiv,
                  "flaketol": flaketol, "verify_latency": verify_latency, "fix_delay": fix_delay,
                  "verify_resource_mult": verify_resource_mult}
    scenario_flags = {"traffic": traffic, "culprit_prob": culprit_prob, "test_stability": test_stability,
                      "ntests": ntests, "bp1": bp1, "bp2": bp2, "bp3": bp3,
                      "warmup_ticks": warmup_ticks, "ticks": ticks}
    preset = seed_scenario(scenario, "--scenario").params() if scenario is not None else {}
    try:
        knobs = check_knobs(_values(knob_flags))
        params = check_scenario({**preset, **_values(scenario_flags)})
    except ConfigError as exc:
        raise _as_flag_error(exc) from None
    run_seed = _seed(seed)
    system = SubmitQueue()
    metrics = system.run(knobs, params, run_seed)
    result: dict[str, Any] = {"config": knobs, "scenario": {"name": scenario, **params}, "seed": run_seed, **metrics}
    for name, objective in system.objectives.items():
        result[f"objective_{name}"] = objective(metrics)
    if as_json:
        _print(result, metrics, True, "")
    else:
        _print({k: v for k, v in result.items() if k not in ("config", "scenario", "seed")}, metrics, False,
               f"submit queue, scenario {scenario or 'custom'}, seed {run_seed}")


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
    from loadwise.systems.submitqueue import check_knobs, replay_csv

    knob_flags = {"resources": resources, "maxbatch": maxbatch, "maxk": maxk, "kdiv": kdiv,
                  "flaketol": flaketol, "verify_latency": verify_latency, "fix_delay": fix_delay,
                  "verify_resource_mult": verify_resource_mult}
    try:
        knobs = check_knobs(_values(knob_flags))
    except ConfigError as exc:
        raise _as_flag_error(exc) from None
    run_seed = _seed(seed)
    metrics = replay_csv(file, knobs, seed=run_seed)
    result: dict[str, Any] = {"config": knobs, "file": str(file), "seed": run_seed, **metrics}
    if as_json:
        _print(result, metrics, True, "")
    else:
        _print(dict(metrics), metrics, False, f"replay of {file}, seed {run_seed}")
