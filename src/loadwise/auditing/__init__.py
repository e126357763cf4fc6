"""Scenario audit: does a rate × budget grid cover the load regimes that matter?

`audit(telemetry, out)` loads role-step telemetry (see
`loadwise.auditing.inputs.load_telemetry`), computes the tables, regimes, tier and
policy tests, recommendations and the cost of the recommended grid, optionally checks
the recommended rates by simulation, and writes `report.md`, `report.html` (figures
embedded), the figures as PNG and `audit.json` (every number) into `out`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loadwise.auditing.pipeline import AuditOptions, AuditResult, run_audit
from loadwise.files import write_json
from loadwise.systems.agentserve.telemetry import Telemetry

__all__ = ["audit", "audit_run", "AuditOptions", "AuditResult"]

AUDIT_FILE = "audit.json"


def audit(
    telemetry: str | Path | Telemetry,
    out: str | Path | None = None,
    *,
    rates_target: list[float] | None = None,
    budgets_target: list[float] | None = None,
    regimes: str | dict | None = None,
    mapping: dict[str, str] | None = None,
    alpha: float = 0.05,
    violation_limit: float = 0.05,
    epoch_seconds: float | None = None,
    verify: bool = False,
    router: str = "static-mix",
    verify_workflows: int = 200,
    profiles: str | Path | None = None,
    seed: int = 0,
    show_progress: bool = False,
) -> AuditResult:
    """Audit telemetry (a path or a loaded Telemetry); write the report into `out` if given.

    `regimes` is "idle=3,light=6,moderate=15,heavy=30" style (upper queue-depth bounds);
    `mapping` maps a CSV's columns to telemetry fields; `verify` simulates the
    recommended rates with `router` (an agentserve router name) and `profiles` (a
    model-profile file; the shipped one by default), `verify_workflows` workflows per
    (rate, budget) cell, seeded by `seed`, with a progress bar when `show_progress`.
    """
    from loadwise.auditing.inputs import load_telemetry

    data = telemetry if isinstance(telemetry, Telemetry) else load_telemetry(telemetry, mapping)
    options = AuditOptions(rates_target=rates_target, budgets_target=budgets_target, regimes=regimes, alpha=alpha,
                           violation_limit=violation_limit, epoch_seconds=epoch_seconds)
    result = run_audit(data, options)
    if verify:
        from loadwise.auditing.verify import verify_rates

        result.findings["verification"] = verify_rates(result, router=router, workflows=verify_workflows, seed=seed,
                                                       profiles=profiles, show_progress=show_progress)
    result.config = {"telemetry": data.source, "rates_target": rates_target, "budgets_target": budgets_target,
                     "regimes": regimes if isinstance(regimes, (str, type(None))) else dict(regimes),
                     "mapping": mapping, "alpha": alpha, "violation_limit": violation_limit,
                     "epoch_seconds": epoch_seconds, "verify": verify, "router": router,
                     "verify_workflows": verify_workflows, "profiles": str(profiles) if profiles else None, "seed": seed}
    if out is not None:
        write(result, out)
    return result


def write(result: AuditResult, out: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html, the PNG figures, audit.json and run.json into `out`
    (default: a new runs/audit-<time> folder)."""
    from loadwise.app import rundir
    from loadwise.auditing.writeup import build_report

    folder = rundir.new_run_dir("audit", out)
    result.report = build_report(result)
    paths = result.report.write(folder)
    paths["json"] = folder / AUDIT_FILE
    write_json(paths["json"], _plain(result.findings))
    rundir.write_run_info(folder, "audit", result.config)
    result.paths = paths
    return paths


def audit_run(run_dir: str | Path, out: str | Path, **options: Any) -> AuditResult:
    """Audit the telemetry a run folder holds (every steps/workflows.parquet under it)
    and write the report into `out` — what `loadwise demo` calls after its router run.
    The returned result's `.report` (a loadwise.report.Report) can be appended to a
    combined report with `Report.extend`."""
    return audit(Path(run_dir), out, **options)


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return str(value)
    return value
