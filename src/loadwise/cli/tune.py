"""`loadwise tune` and `loadwise validate`: robust tuning across weighted scenarios."""

from __future__ import annotations

from pathlib import Path

import typer

from loadwise.report.format import number


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("tune")(tune_command)
    app.command("validate")(validate_command)


def tune_command(
    system: str = typer.Option("submitqueue", "--system", help="Built-in system name, or a command spec file."),
    scenarios: str = typer.Option("sq-weighted5", "--scenarios", help="Preset (sq-weighted5, sq-stochastic, synthetic5, synthetic-stochastic; aliases seed5, seed-stochastic) or a YAML/TOML file."),
    trials: int = typer.Option(None, "--trials", min=1, help="Trials over all fidelity stages [default: 50; on --resume: as saved]."),
    fidelity: str = typer.Option("short", "--fidelity", help="short (all scenarios, quarter-length runs for trials 1–25), staged (trials 1–10 on the heaviest scenario, 11–25 on the two heaviest, 26+ on all; alias seed) or none."),
    aggregate: str = typer.Option("mean", "--aggregate", help="mean, worst, cvar:ALPHA or meanstd:KAPPA."),
    jobs: int = typer.Option(None, "--jobs", min=1, help="Parallel simulations (default: one per core)."),
    backend: str = typer.Option("local", "--backend", help="local (process pool) or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --backend ray)."),
    storage: str = typer.Option(None, "--storage", help="Optuna RDB URL, e.g. postgresql://user@host/db: processes "
                                "given the same URL and --study-name work on one study (default: study.db in the "
                                "run folder)."),
    study_name: str = typer.Option("loadwise", "--study-name", help="The study's name in the storage."),
    resume: Path = typer.Option(None, "--resume", help="Continue the tune in this run folder."),
    seed: int = typer.Option(0, "--seed", help="Study seed (all run seeds derive from it)."),
    out: Path = typer.Option(None, "--out", help="Run folder (default: runs/tune-<time>)."),
    objective: str = typer.Option(None, "--objective", help="Objective name (default: the system's)."),
    constraints: list[str] = typer.Option([], "--constraint", help="METRIC<=X or METRIC>=X; repeatable."),
    ci_tol: float = typer.Option(None, "--ci-tol", help="Replicate until the 95% CI half-width is below this."),
    early_fidelity: float = typer.Option(1.0, "--early-fidelity", help="Simulation length of the early stages."),
    timeout: float = typer.Option(None, "--timeout", help="Seconds per simulation before it counts as failed "
                                  "(on --resume: replaces the saved limit; failed runs run again)."),
) -> None:
    """Find knob settings that are best across weighted scenarios (progressive fidelity, racing, CRN)."""
    from loadwise.app.progress import console
    from loadwise.app.tune import tune

    try:
        result = tune(
            system, scenarios, trials, fidelity=fidelity, aggregate=aggregate, objective=objective,
            constraints=constraints, jobs=jobs, backend=backend, address=address, storage=storage, resume=resume,
            seed=seed, out=out, ci_tol="auto" if ci_tol is None else ci_tol, early_fidelity=early_fidelity,
            timeout=timeout, study_name=study_name,
        )
    except KeyboardInterrupt as exc:
        where = getattr(exc, "run_dir", None)
        hint = f"; continue with: loadwise tune --resume {where}" if where else ""
        console.print(f"[yellow]interrupted[/]{hint}")
        raise typer.Exit(130) from None
    typer.echo(str(result))


def validate_command(
    run_dir: Path = typer.Argument(None, help="A tune run folder (its top configs are validated)."),
    system: str = typer.Option(None, "--system", help="System, when not validating a run folder."),
    scenarios: str = typer.Option(None, "--scenarios", help="Scenario set, when not validating a run folder."),
    configs: list[str] = typer.Option([], "--config", help="Named config to include (e.g. published-defaults); repeatable."),
    top: int = typer.Option(3, "--top", min=0, help="How many of the run's best configs."),
    replicates: int = typer.Option(5, "--replicates", min=2, help="Fresh seeds per scenario."),
    baseline: str = typer.Option(None, "--baseline", help="Config the differences are paired against."),
    seed: int = typer.Option(None, "--seed", help="Study seed (default: the run's)."),
    jobs: int = typer.Option(None, "--jobs", min=1, help="Parallel simulations (default: one per core)."),
    backend: str = typer.Option("local", "--backend", help="local or ray."),
    address: str = typer.Option(None, "--address", help="Ray cluster address."),
    out: Path = typer.Option(None, "--out", help="Folder for validation.md/.html/.csv (default: the run folder)."),
) -> None:
    """Re-evaluate configs on fresh seeds: objective ± 95% CI, per scenario, paired difference to a baseline."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from loadwise.app.progress import console
    from loadwise.app.validate import validate

    result = validate(run_dir, system=system, scenarios=scenarios, configs=configs or None, top=top,
                      replicates=replicates, baseline=baseline, seed=seed, jobs=jobs, backend=backend,
                      address=address, out=out)
    headers = {"config": "config", "objective": "objective", "ci95": "±95%", "failed_runs": "failed",
               "diff_vs_baseline": f"Δ vs {result.baseline}", "diff_ci95": "±95%", "p_value": "p"}
    table = Table(title=f"validation ({result.replicates} fresh replicates per scenario)", box=box.SIMPLE_HEAD)
    for col in result.summary.columns:
        table.add_column(headers.get(col, str(col)), justify="left" if col == "config" else "right",
                         no_wrap=col == "config")
    for row in result.summary.itertuples(index=False):
        table.add_row(*[number(v, 4) if isinstance(v, float) else str(v) for v in row])
    Console().print(table)  # results go to standard output, messages to standard error
    console.print(f"report: {result.paths.get('html')}", highlight=False, soft_wrap=True)
