"""`loadwise serve ...`: the agentserve simulator (sweeps over load, calibration from telemetry)."""

from __future__ import annotations

from pathlib import Path

import typer

from loadwise.report.format import number

app = typer.Typer(help="Simulate multi-agent LLM serving: rate x budget sweeps, calibration, the emulator.",
                  no_args_is_help=True)


@app.command("sweep")
def sweep_cmd(
    rates: str = typer.Option("20,30,50,100,150,200", "--rates", help="Arrival rates, requests/min, comma-separated."),
    budgets: str = typer.Option("10,50,200,600,1800", "--budgets", help="Latency budgets, s, comma-separated."),
    router: str = typer.Option("greedy", "--router", help="fixed:MODEL:STRATEGY, random, static-mix, least-loaded, "
                               "quality-first, greedy or clairvoyant."),
    workflows: int = typer.Option(1000, "--workflows", help="Workflows per cell."),
    seed: int = typer.Option(0, "--seed", help="Seed (shared by all cells: common random numbers)."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default runs/serve-sweep-<time>); "
                                       "an existing one resumes."),
    pattern: str = typer.Option("poisson", "--pattern", help="poisson, microburst, sustained or replay."),
    discipline: str = typer.Option("fcfs", "--discipline", help="Queue order at each server: fcfs or edf."),
    profiles: Path | None = typer.Option(None, "--profiles", help="Model profile file (default: shipped)."),
    replay: Path | None = typer.Option(None, "--replay", help="Arrival times to replay (implies --pattern replay)."),
) -> None:
    """Simulate one router over a rate x budget grid; write telemetry, a table and a report."""
    from loadwise.app.progress import console
    from loadwise.app.sweep import sweep
    from loadwise.cli.options import number_list

    result = sweep(number_list(rates, "rates") or (), number_list(budgets, "budgets") or (), router, workflows,
                   seed, out, jobs, pattern, discipline, profiles, replay)
    shown = result.table[["rate", "budget", "mean_latency", "p95_latency", "violation_rate", "accuracy", "goodput",
                          "mean_queue", "idle_share"]]
    console.print(shown.to_string(index=False, float_format=number), highlight=False)
    console.print(f"run folder: {result.run_dir}  (report: {result.report['html']})", highlight=False)


@app.command("calibrate")
def calibrate_cmd(
    telemetry_file: Path = typer.Argument(..., help="Role-step telemetry: a loadwise run folder, Parquet, or the "
                                          "reference system's CSV."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default runs/serve-calibrate-<time>)."),
    base: Path | None = typer.Option(None, "--profiles", help="Profile file whose unfitted fields are kept "
                                        "(default: shipped)."),
) -> None:
    """Fit service-time and accuracy parameters from telemetry; write profiles.yaml and a fit report."""
    from loadwise.app.calibrate import calibrate
    from loadwise.app.progress import console

    fit, run_dir = calibrate(telemetry_file, out=out, base=base)
    console.print(fit.summary.to_string(index=False, float_format=lambda v: number(v, 4)), highlight=False)
    console.print(f"profile: {run_dir / 'profiles.yaml'}  report: {run_dir / 'report.html'}", highlight=False)


@app.command("emulate")
def emulate_cmd(
    port: int = typer.Option(8100, "--port", help="Port of the first model; the others follow (0: free ports)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    profiles: Path | None = typer.Option(None, "--profiles", help="Model profile file (default: shipped)."),
    speedup: float = typer.Option(1.0, "--speedup", help="Run the servers this many times faster than their "
                                  "profiles."),
    models: str = typer.Option(None, "--models", help="Comma-separated models to serve (names or sizes; default "
                               "all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of draws for requests that bring none."),
    discipline: str = typer.Option("fcfs", "--discipline", help="Waiting-line order: fcfs (vLLM's) or edf (by the "
                                   "workflow's deadline, which a loadwise gateway forwards)."),
) -> None:
    """Serve every profiled model as a vLLM-like OpenAI endpoint on CPU (Ctrl-C stops it gracefully)."""
    import json
    import sys

    from loadwise.app.serve_gateway import emulate

    def announce(message: dict) -> None:
        typer.echo(json.dumps(message))
        sys.stdout.flush()

    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    emulate(port, host, profiles, speedup, chosen, seed, discipline, on_ready=announce)
