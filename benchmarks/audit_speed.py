"""How long `loadwise audit` takes on a 1,000,000-role-step telemetry file (target: < 15 s).

Generates synthetic telemetry (4 rates × 5 budgets × 12,500 workflows × 4 steps =
1,000,000 role-step rows plus 250,000 workflow rows) once, as loadwise Parquet and as
the reference system's CSV, then times the audit without --verify (load, analysis,
report with figures and JSON) on each. Prints wall-clock and CPU seconds per phase.

    python benchmarks/audit_speed.py [--workflows-per-cell 12500] [--dir /tmp/audit_speed]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from loadwise.app.audit import audit, write
from loadwise.auditing.inputs import load_telemetry
from loadwise.auditing.synthetic import synthetic_telemetry, write_reference_csv
from loadwise.systems.agentserve import telemetry


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows-per-cell", type=int, default=12_500)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/audit_speed"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    steps, workflows = synthetic_telemetry(workflows_per_cell=args.workflows_per_cell, steps_per_workflow=4, seed=1)
    telemetry.write(args.dir / "parquet", steps, workflows)
    csv_path = args.dir / "reference.csv"
    write_reference_csv(steps, workflows, csv_path)
    print(f"telemetry: {len(steps):,} role steps + {len(workflows):,} workflows; "
          f"CSV {csv_path.stat().st_size / 1e6:.0f} MB")

    print(f"{'input':<10} {'phase':<10} {'wall s':>8} {'cpu s':>8}")
    for name, source in (("parquet", args.dir / "parquet"), ("csv", csv_path)):
        total_w = total_c = 0.0
        data, w, c = timed(lambda source=source: load_telemetry(source))
        print(f"{name:<10} {'load':<10} {w:8.2f} {c:8.2f}")
        total_w, total_c = total_w + w, total_c + c
        result, w, c = timed(lambda data=data: audit(data))
        print(f"{name:<10} {'analysis':<10} {w:8.2f} {c:8.2f}")
        total_w, total_c = total_w + w, total_c + c
        _, w, c = timed(lambda result=result, name=name: write(result, args.dir / f"report-{name}"))
        print(f"{name:<10} {'report':<10} {w:8.2f} {c:8.2f}")
        total_w, total_c = total_w + w, total_c + c
        print(f"{name:<10} {'TOTAL':<10} {total_w:8.2f} {total_c:8.2f}")

    # the command a user runs, as a fresh process (imports included)
    script = Path(sys.executable).with_name("loadwise")
    cli = [str(script), "audit", str(csv_path), "--out", str(args.dir / "report-cli")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True)
    w = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    c = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{'csv':<10} {'CLI total':<10} {w:8.2f} {c:8.2f}")


if __name__ == "__main__":
    main()
