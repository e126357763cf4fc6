"""Finished runs, stored in the study's own database so a resumed study never re-runs one.

The table `loadwise_runs` lives beside Optuna's tables in the same RDB (the SQLite file
of the run folder, or any SQLAlchemy URL such as PostgreSQL), keyed by the run's
identity (config, scenario parameters, seed, fidelity). Every finished run is committed
as soon as it returns, failed runs included (with their reason), so a kill -9 loses at
most the runs that were still executing. Several processes may share the table; the
first writer of a key wins.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa

from loadwise.evaluate.runs import RunResult, RunSpec, canonical

_META = sa.MetaData()
RUNS = sa.Table(
    "loadwise_runs",
    _META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("study", sa.String(512), index=True),
    sa.Column("purpose", sa.String(16)),
    sa.Column("config", sa.Text),
    sa.Column("scenario", sa.String(256)),
    sa.Column("params", sa.Text),
    sa.Column("replicate", sa.Integer),
    sa.Column("seed", sa.BigInteger),
    sa.Column("fidelity", sa.Float),
    sa.Column("ok", sa.Boolean),
    sa.Column("reason", sa.Text),
    sa.Column("metrics", sa.Text),
    sa.Column("seconds", sa.Float),
    sa.Column("finished_at", sa.Float),
)


def engine_options(url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: for SQLite, a 60 s lock wait and write-ahead logging.

    WAL with synchronous=NORMAL keeps every committed run across a killed process (only
    a power loss can drop the last commits) and avoids an fsync per finished run, and
    it lets readers (a second tuner, optuna-dashboard) work while the tuner writes.
    """
    if not url.startswith("sqlite:///"):
        return {}
    path = url.removeprefix("sqlite:///")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return {"creator": connect}


class RunCache:
    """Read and write finished runs of one study in an RDB."""

    def __init__(self, url: str, study: str) -> None:
        self.engine = sa.create_engine(url, **engine_options(url))
        self.study = study
        for attempt in range(10):  # processes starting together race to create the table
            try:
                _META.create_all(self.engine, checkfirst=True)
                break
            except sa.exc.DBAPIError:
                if attempt == 9:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def get(self, spec: RunSpec) -> RunResult | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.key == spec.key)).mappings().first()
        if row is None:
            return None
        return RunResult(spec, bool(row["ok"]), json.loads(row["metrics"]), row["reason"] or "", row["seconds"], True)

    def put(self, result: RunResult) -> None:
        spec = result.spec
        row = dict(
            key=spec.key, study=self.study, purpose=spec.purpose, config=canonical(spec.config),
            scenario=spec.scenario, params=canonical(spec.params), replicate=spec.replicate, seed=spec.seed,
            fidelity=spec.fidelity, ok=result.ok, reason=result.reason, metrics=json.dumps(result.metrics),
            seconds=result.seconds, finished_at=time.time(),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(RUNS.insert().values(**row))
        except sa.exc.IntegrityError:
            pass  # another process stored the same run first; results are identical

    def table(self) -> pd.DataFrame:
        """Every run of this study, one row each: config knobs, scenario, seed, metrics, seconds."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(RUNS).where(RUNS.c.study == self.study)
                                .order_by(RUNS.c.finished_at)).mappings().all()
        records = []
        for r in rows:
            rec = {f"config.{k}": v for k, v in json.loads(r["config"]).items()}
            rec.update({"scenario": r["scenario"], "replicate": r["replicate"], "seed": r["seed"],
                        "fidelity": r["fidelity"], "purpose": r["purpose"], "ok": bool(r["ok"]),
                        "reason": r["reason"], "seconds": r["seconds"]})
            rec.update({f"scenario.{k}": v for k, v in json.loads(r["params"]).items()})
            rec.update({f"metric.{k}": v for k, v in json.loads(r["metrics"]).items()})
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def close(self) -> None:
        self.engine.dispose()
