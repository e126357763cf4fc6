"""The calibration's fit report: fitted parameters, and observed against fitted by load."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from loadwise.report.document import Report


def calibration_report(fit: Mapping[str, Any], source: str) -> Report:
    """The report of one calibration, from its `fit.json` (the fit's tables as records, its notes and the
    telemetry's row count and format); `source` names the telemetry it was fitted from."""
    rep = Report("agentserve calibration")
    rows = fit.get("telemetry_rows")  # folders written before these were kept have neither
    shown = f"{rows} role-step rows, format {fit.get('telemetry_format')}" if rows is not None else "rows not recorded"
    rep.paragraph(f"Fitted from {source} ({shown}). "
                  "Service times from calls that found a free slot; accuracy by maximum likelihood "
                  "(see loadwise.systems.agentserve.calibration).")
    rep.table(pd.DataFrame(fit["summary"]), caption="Fitted parameters per model (base = the profile started from)",
              digits=4)
    rep.table(pd.DataFrame(fit["latency_by_load"]),
              caption="Per-call service latency by running requests at dispatch: observed vs fitted")
    rep.table(pd.DataFrame(fit["accuracy"]),
              caption="Accuracy of non-decision calls: observed vs fitted lone-call probability")
    if fit["notes"]:
        rep.heading("Notes")
        rep.bullets(fit["notes"])
    return rep
