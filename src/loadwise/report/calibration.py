"""The calibration's fit report: fitted parameters, and observed against fitted by load."""

from __future__ import annotations

from loadwise.report.document import Report
from loadwise.systems.agentserve.calibration import Calibration
from loadwise.systems.agentserve.telemetry import Telemetry


def calibration_report(fit: Calibration, source: str, telemetry: Telemetry) -> Report:
    """The report of one calibration: `source` names the telemetry it was fitted from."""
    rep = Report("agentserve calibration")
    rep.paragraph(f"Fitted from {source} ({len(telemetry.steps)} role-step rows, format {telemetry.format}). "
                  "Service times from calls that found a free slot; accuracy by maximum likelihood "
                  "(see loadwise.systems.agentserve.calibration).")
    rep.table(fit.summary, caption="Fitted parameters per model (base = the profile started from)", digits=4)
    rep.table(fit.latency_by_load, caption="Per-call service latency by running requests at dispatch: observed vs fitted")
    rep.table(fit.accuracy, caption="Accuracy of non-decision calls: observed vs fitted lone-call probability")
    if fit.notes:
        rep.heading("Notes")
        rep.bullets(fit.notes)
    return rep
