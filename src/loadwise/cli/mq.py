"""`loadwise mq ...`: run one merge-queue strategy, or tune and compare all of them.

Flags are read as text and turned into numbers where they are numbers; the verbs
(`loadwise.app.mergequeue`) check them against the strategy's knobs and the world's
parameters, so a bad value gives one line naming the flag and what it allows. World
flags override `--world FILE.yaml`, which overrides the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loadwise.cli.options import number_or_text
from loadwise.errors import ConfigError
from loadwise.report.format import number
from loadwise.systems.mergequeue.strategies import STRATEGY_NAMES
from loadwise.systems.mergequeue.world import WORLD_PARAMS

app = typer.Typer(help="Merge queues: serial, batch-bisect, speculative, adaptive-window, group-testing.",
                  no_args_is_help=True)

_WORLD = {p.name: p for p in WORLD_PARAMS}


def _world_option(name: str) -> Any:
    p = _WORLD[name]
    metavar = {int: "N", float: "X", str: "TEXT"}[p.type]
    return typer.Option(None, "--" + name.replace("_", "-"), metavar=metavar, show_default=False,
                        help=f"{p.help} ({p.describe()}; default {p.default})")


def knob_settings(items: list[str]) -> dict[str, Any]:
    """`--set KNOB=VALUE` flags -> {knob: value}; the strategy checks names and values."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError("knobs", f"expected KNOB=VALUE, got {item!r}")
        out[name.strip()] = number_or_text(value.strip())
    return out


@app.command("run")
def run(
    strategy: str = typer.Option("speculative", "--strategy", metavar="NAME",
                                 help=f"one of {', '.join(STRATEGY_NAMES)}"),
    knobs: list[str] = typer.Option([], "--set", metavar="KNOB=VALUE",
                                    help="set one of the strategy's knobs; repeatable"),
    world: Path = typer.Option(None, "--world", metavar="FILE.yaml",
                               help="world file: a mapping of world parameters (flags below override it)"),
    prs_per_day: str = _world_option("prs_per_day"),
    traffic: str = _world_option("traffic"),
    profile: str = _world_option("profile"),
    arrivals: str = _world_option("arrivals"),
    p_bad: str = _world_option("p_bad"),
    p_conflict: str = _world_option("p_conflict"),
    p_flake: str = _world_option("p_flake"),
    duration_median_min: str = _world_option("duration_median_min"),
    duration_sigma: str = _world_option("duration_sigma"),
    duration_growth: str = _world_option("duration_growth"),
    runners: str = _world_option("runners"),
    days: str = _world_option("days"),
    seed: str = typer.Option("0", "--seed", metavar="N", help="random seed (integer >= 0)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Simulate one merge-queue strategy once and print its metrics and cost."""
    from loadwise.app.mergequeue import mq_run

    flags = {"prs_per_day": prs_per_day, "traffic": traffic, "profile": profile, "arrivals": arrivals,
             "p_bad": p_bad, "p_conflict": p_conflict, "p_flake": p_flake,
             "duration_median_min": duration_median_min, "duration_sigma": duration_sigma,
             "duration_growth": duration_growth, "runners": runners, "days": days}
    params = {name: text if _WORLD[name].type is str else number_or_text(text)
              for name, text in flags.items() if text is not None}
    result = mq_run(strategy, knob_settings(knobs), world, params, number_or_text(seed))
    if as_json:
        import json

        typer.echo(json.dumps({"strategy": result.strategy, "config": result.config, "world": result.world,
                               "seed": result.seed, **result.metrics, "objective_default": result.cost,
                               "cost_terms": result.cost_terms}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"merge queue, {result.strategy}, seed {result.seed}", header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [*result.metrics.items(), ("objective_default", result.cost),
            *((f"cost: {k}", v) for k, v in result.cost_terms.items())]
    for name, value in rows:
        table.add_row(name, number(value, 4))
    Console().print(table)


@app.command("compare")
def compare(
    scenarios: str = typer.Option("mq-weighted4", "--scenarios", metavar="FILE|PRESET",
                                  help="scenario set: a preset (mq-weighted4) or a YAML/TOML file of worlds"),
    trials: int = typer.Option(40, "--trials", metavar="N", help="tuning trials per strategy"),
    out: Path = typer.Option(None, "--out", metavar="DIR",
                             help="run folder (default: runs/mq-compare-<time>); an existing one resumes"),
    strategies: str = typer.Option(",".join(STRATEGY_NAMES), "--strategies", metavar="NAMES",
                                   help="comma-separated strategies to compare"),
    replicates: int = typer.Option(10, "--replicates", metavar="N", help="fresh seeds per scenario in validation"),
    fidelity: str = typer.Option("short", "--fidelity", help="tuning schedule: short, staged or none"),
    seed: int = typer.Option(0, "--seed", metavar="N", help="study seed (every run seed derives from it)"),
    jobs: int = typer.Option(None, "--jobs", metavar="N", help="parallel simulations (default: one per core)"),
) -> None:
    """Tune every strategy on the same scenarios and budget; compare them on common fresh seeds."""
    from loadwise.app.mergequeue import mq_compare
    from loadwise.app.progress import console

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    result = mq_compare(scenarios, trials, strategies=names, fidelity=fidelity, replicates=replicates, seed=seed,
                        jobs=jobs, out=out)
    console.print(str(result), highlight=False, soft_wrap=True)


@app.command("fit")
def fit(
    history: list[Path] = typer.Argument(..., metavar="HISTORY...",
                                         help="GitHub workflow runs / pull requests JSON (files or folders of "
                                              "`gh api --paginate` pages), JUnit XML folders, the build-history CSV"),
    as_json: bool = typer.Option(False, "--json", help="print the fit as one JSON object"),
    out: Path = typer.Option(None, "--out", metavar="DIR", help="write world.yaml, fit.json and the report here"),
) -> None:
    """Fit a repository's merge-queue world from its CI history, each figure with a 95 % CI."""
    from loadwise.app.mqhistory import mq_fit

    result = mq_fit(history, out)
    if as_json:
        import json

        typer.echo(json.dumps(result.fit.as_dict()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"merge-queue history, {result.fit.days:.1f} days", header_style="bold")
    for column in ("figure", "value", "95 % CI", "n"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, e in result.fit.estimates.items():
        table.add_row(name, f"{e.value:,.4g}", f"{e.ci_low:,.4g} – {e.ci_high:,.4g}", f"{e.n:,}")
    Console().print(table)
    if result.paths:
        typer.echo(f"world: {result.paths['world']}\nreport: {result.paths.get('html', '-')}")


@app.command("recommend")
def recommend(
    history: list[Path] = typer.Argument(..., metavar="HISTORY...", help="the history, as for `mq fit`"),
    product: str = typer.Option("github", "--product", metavar="NAME", help="github, mergify or zuul"),
    current: Path = typer.Option(None, "--current", metavar="FILE.yaml",
                                 help="the settings run today, as knob: value (default: read off the history)"),
    trials: int = typer.Option(30, "--trials", metavar="N", help="tuning trials"),
    replicates: int = typer.Option(5, "--replicates", metavar="N", help="fresh seeds per scenario in validation"),
    seed: int = typer.Option(0, "--seed", metavar="N", help="study seed"),
    jobs: int = typer.Option(None, "--jobs", metavar="N", help="parallel simulations (default: one per core)"),
    out: Path = typer.Option(None, "--out", metavar="DIR", help="run folder (default: runs/mq-recommend-<time>)"),
) -> None:
    """Recommend merge-queue settings, in the product's own format, from a repository's CI history."""
    from loadwise.app.mqhistory import mq_recommend
    from loadwise.app.progress import console

    result = mq_recommend(history, product, current=current, trials=trials, replicates=replicates, seed=seed,
                          jobs=jobs, out=out)
    console.print(str(result), highlight=False, soft_wrap=True)
