"""`calibrate`: fit model profiles from telemetry into a run folder with the fit report.

The run folder holds `profiles.yaml` (the fitted profile, loadable by every simulator
command), `fit.json` (the fit's tables and notes), `run.json` and the report. Reading
and fitting come first, so bad telemetry leaves no folder behind.
"""

from __future__ import annotations

from pathlib import Path

from loadwise.app.rundir import new_run_dir, not_written, read_run_info, write_run_info
from loadwise.auditing.inputs import load_telemetry
from loadwise.files import read_json, write_json, write_text
from loadwise.report.calibration import calibration_report
from loadwise.systems.agentserve.calibration import Calibration, fit_profiles
from loadwise.systems.agentserve.profiles import Profiles, load_profiles, profiles_yaml

RUN_KIND = "serve-calibrate"
PROFILES_FILE = "profiles.yaml"
FIT_FILE = "fit.json"


def calibrate(telemetry: str | Path, out: str | Path | None = None,
              base: str | Path | Profiles | None = None) -> tuple[Calibration, Path]:
    """Fit `base` (a profile file or Profiles; the shipped one by default) to the telemetry
    at `telemetry` (a run folder, Parquet or a CSV); write the run folder `out` (default
    runs/serve-calibrate-<time>). Returns the fit and the run folder."""
    base_profiles = base if isinstance(base, Profiles) else load_profiles(base)
    data = load_telemetry(telemetry)
    fit = fit_profiles(data, base_profiles, str(telemetry))
    profile_text = profiles_yaml(fit.profiles.spec, PROFILES_FILE)
    run_dir = new_run_dir(RUN_KIND, out)
    write_run_info(run_dir, RUN_KIND, {"telemetry": str(telemetry), "base": base_profiles.path})
    write_text(run_dir / PROFILES_FILE, profile_text)
    write_json(run_dir / FIT_FILE, {
        "summary": fit.summary.to_dict(orient="records"),
        "latency_by_load": fit.latency_by_load.to_dict(orient="records"),
        "accuracy": fit.accuracy.to_dict(orient="records"),
        "notes": fit.notes,
        "telemetry_rows": len(data.steps),
        "telemetry_format": data.format,
    })
    render(run_dir)
    return fit, run_dir


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the fit report from the folder's `fit.json` and `run.json`."""
    run_dir = Path(run_dir)
    source = read_run_info(run_dir, RUN_KIND)["config"]["telemetry"]
    if not (run_dir / FIT_FILE).is_file():
        raise not_written(run_dir, FIT_FILE, "loadwise serve calibrate TELEMETRY --out RUN_DIR")
    return calibration_report(read_json(run_dir / FIT_FILE), source).write(run_dir)
