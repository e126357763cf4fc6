"""`loadwise audit`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("audit")(audit)


def audit(
    telemetry: Path = typer.Argument(..., help="Run folder, steps/workflows.parquet, the reference CSV, or any CSV with --map."),
    rates_target: str = typer.Option(None, "--rates-target", help="Grid rates (req/min), e.g. 50,100,150,200; default: taken from the data."),
    budgets_target: str = typer.Option(None, "--budgets-target", help="Grid budgets (s), e.g. 10,50,200,600,1800; default: from the data."),
    regimes: str = typer.Option(None, "--regimes", help="Upper queue-depth bounds, e.g. idle=3,light=6,moderate=15,heavy=30 (last regime: saturated)."),
    mapping: list[str] = typer.Option(None, "--map", help="CSV column to telemetry field, COLUMN=FIELD; repeatable."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level of the tests."),
    violation_limit: float = typer.Option(0.05, "--violation-limit", help="Limit ε of P(latency > budget) for the constraint check."),
    epoch_seconds: float = typer.Option(None, "--epoch-seconds", help="Measured wall-clock per epoch, used when the telemetry has no dispatch times."),
    verify: bool = typer.Option(False, "--verify", help="Simulate the recommended rates with the agentserve simulator."),
    router: str = typer.Option("static-mix", "--router", help="Router for --verify (agentserve router name)."),
    profiles: Path = typer.Option(None, "--profiles", help="Model-profile file for --verify (default: the shipped one)."),
    verify_workflows: int = typer.Option(200, "--verify-workflows", help="Workflows per (rate, budget) cell for --verify."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --verify simulation."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: runs/audit-<time>)."),
) -> None:
    """Audit a rate × budget grid from telemetry: regimes, tiers, policy, what to add and what it costs."""
    from loadwise.app.audit import audit as run
    from loadwise.app.audit import write
    from loadwise.app.progress import console

    result = run(telemetry, None, rates_target=_numbers(rates_target, "--rates-target"),
                 budgets_target=_numbers(budgets_target, "--budgets-target"), regimes=regimes,
                 mapping=_mapping(mapping), alpha=alpha, violation_limit=violation_limit, epoch_seconds=epoch_seconds,
                 verify=verify, router=router, verify_workflows=verify_workflows, profiles=profiles, seed=seed,
                 show_progress=True)
    write(result, out)
    s = result.findings["summary"]
    for line in (s["q1_rates"], s["q2_tiers"], s["q3_cost"]):
        console.print(f"• {line}", highlight=False, soft_wrap=True)
    console.print(f"report: {result.paths['html']}  (also {result.paths['markdown'].name}, {result.paths['json'].name})", highlight=False)


def _numbers(text: str | None, flag: str) -> list[float] | None:
    from loadwise.errors import ConfigError

    if not text:
        return None
    try:
        return [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(flag, f"expected comma-separated numbers, got {text!r}") from None


def _mapping(items: list[str] | None) -> dict[str, str] | None:
    from loadwise.errors import ConfigError

    if not items:
        return None
    out = {}
    for item in items:
        for part in item.split(","):
            column, sep, field = part.partition("=")
            if not sep or not column.strip() or not field.strip():
                raise ConfigError("--map", f"expected COLUMN=FIELD, got {part!r}")
            out[column.strip()] = field.strip()
    return out
