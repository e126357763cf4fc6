"""`audit`: does a rate × budget grid cover the load regimes that matter?

The verb reads the telemetry (`loadwise.auditing.inputs`), computes the findings
(`loadwise.auditing.pipeline`), checks the recommended rates by simulation when asked
(`loadwise.auditing.verify`, with a progress bar), and adds the report's answers to the
findings, so that `audit.json` holds the sentences the report shows. `write` puts
`report.md`, `report.html` (figures embedded), the figures as PNG, `audit.json` (every
number) and `run.json` into a run folder; everything is computed before the folder is
created, so bad input leaves nothing behind.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loadwise.app.progress import make_progress
from loadwise.app.rundir import new_run_dir, not_written, read_run_info, write_run_info
from loadwise.auditing.inputs import load_telemetry
from loadwise.auditing.pipeline import AuditOptions, AuditResult, run_audit
from loadwise.auditing.verify import verify_rates
from loadwise.errors import ConfigError
from loadwise.files import read_json, write_json
from loadwise.report.audit import audit_report, audit_summary, probe_reason
from loadwise.systems.agentserve.telemetry import Telemetry

RUN_KIND = "audit"
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
    data = telemetry if isinstance(telemetry, Telemetry) else load_telemetry(telemetry, mapping)
    options = AuditOptions(rates_target=rates_target, budgets_target=budgets_target, regimes=regimes, alpha=alpha,
                           violation_limit=violation_limit, epoch_seconds=epoch_seconds)
    result = run_audit(data, options)
    if verify:
        with make_progress(disable=not show_progress) as bar:
            task = bar.add_task("verify: simulating recommended rates", total=None)
            result.findings["verification"] = verify_rates(
                result, router=router, workflows=verify_workflows, seed=seed, profiles=profiles,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    _add_sentences(result)
    source = Path(data.source).resolve() if Path(data.source).exists() else data.source  # re-rendered from anywhere
    result.config = {"telemetry": str(source), "rates_target": rates_target, "budgets_target": budgets_target,
                     "regimes": regimes if isinstance(regimes, (str, type(None))) else dict(regimes),
                     "mapping": mapping, "alpha": alpha, "violation_limit": violation_limit,
                     "epoch_seconds": epoch_seconds, "verify": verify, "router": router,
                     "verify_workflows": verify_workflows, "profiles": str(profiles) if profiles else None, "seed": seed}
    if out is not None:
        write(result, out)
    return result


def audit_run(run_dir: str | Path, out: str | Path, **options: Any) -> AuditResult:
    """Audit the telemetry a run folder holds (every steps/workflows.parquet under it)
    and write the report into `out` — what `loadwise demo` calls after its router run.
    The returned result's `.report` (a loadwise.report.Report) can be appended to a
    combined report with `Report.extend`."""
    return audit(Path(run_dir), out, **options)


def write(result: AuditResult, out: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html, the PNG figures, audit.json and run.json into `out`
    (default: a new runs/audit-<time> folder); record the report and paths on `result`."""
    folder = new_run_dir(RUN_KIND, out)
    write_json(folder / AUDIT_FILE, _plain(result.findings))
    write_run_info(folder, RUN_KIND, result.config)
    return _write_report(result, folder)


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the audit's report again: the audit of the telemetry `run.json` names, with the same
    options, and the verification simulations `audit.json` kept (they are not run again)."""
    run_dir = Path(run_dir)
    config = read_run_info(run_dir, RUN_KIND)["config"]
    if not (run_dir / AUDIT_FILE).is_file():
        raise not_written(run_dir, AUDIT_FILE, "loadwise audit TELEMETRY --out RUN_DIR")
    if not Path(config["telemetry"]).exists():
        raise ConfigError("run_dir", f"{run_dir}: the telemetry it audited ({config['telemetry']}) is not there any more")
    options = AuditOptions(rates_target=config["rates_target"], budgets_target=config["budgets_target"],
                           regimes=config["regimes"], alpha=config["alpha"], violation_limit=config["violation_limit"],
                           epoch_seconds=config["epoch_seconds"])
    result = run_audit(load_telemetry(config["telemetry"], config["mapping"]), options)
    verification = read_json(run_dir / AUDIT_FILE).get("verification")
    if verification is not None:
        result.findings["verification"] = verification
    _add_sentences(result)
    result.config = config
    return _write_report(result, run_dir)


def _write_report(result: AuditResult, folder: Path) -> dict[str, Path]:
    """report.md, report.html and the PNG figures into `folder`; record the report and paths on `result`."""
    report = audit_report(result)
    paths = {**report.write(folder), "json": folder / AUDIT_FILE}
    result.report, result.paths = report, paths
    return paths


def _add_sentences(result: AuditResult) -> None:
    """The report's answers and probe reasons, stored with the numbers they come from."""
    findings = result.findings
    measured = [x["rate"] for x in findings["regimes"]["by_rate"]]
    for probe in findings["recommendations"]["probes"]:
        probe["reason"] = probe_reason(probe, measured)
    findings["summary"] = audit_summary(result)


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
