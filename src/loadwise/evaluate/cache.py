"""Finished runs, stored in the study's own database so a resumed or shared study never re-runs one.

Three tables live beside Optuna's in the same RDB (the SQLite file of the run folder, or
any SQLAlchemy URL such as PostgreSQL):

- `loadwise_results`: one row per finished run, keyed by what produced it — the
  system's identity (name, loadwise version, a fingerprint of the simulator:
  `systems.base.identity`) and the run's own identity (config, scenario parameters,
  seed, fidelity) — so a changed simulator, or another system sharing the storage,
  never reuses a result. Every run is committed as soon as it returns, so a kill -9
  loses at most the runs that were executing. A failed run (timeout, crash) is kept
  with its reason but is not an answer: asked again, it runs again (a larger time
  limit can rescue it), and its success replaces the failure.
- `loadwise_uses`: which runs a study used, and whether it ran them or took them from
  the cache (`runs.parquet` lists them all, the cached ones marked).
- `loadwise_claims`: a run being executed now, and by whom. Processes sharing a study
  (several tuners on one PostgreSQL database) claim a run before executing it and wait
  for a run another live process has claimed, so no simulation runs twice. Claims are
  kept alive while their run executes; a claim not renewed for `claim_timeout` seconds
  belongs to a dead process and may be taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from loadwise.errors import ConfigError
from loadwise.evaluate.runs import RunResult, RunSpec, canonical

_META = sa.MetaData()
RESULTS = sa.Table(
    "loadwise_results",
    _META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("system", sa.String(256)),
    sa.Column("config", sa.Text),
    sa.Column("scenario", sa.String(256)),
    sa.Column("params", sa.Text),
    sa.Column("replicate", sa.Integer),
    sa.Column("seed", sa.BigInteger),
    sa.Column("fidelity", sa.Float),
    sa.Column("purpose", sa.String(16)),
    sa.Column("ok", sa.Boolean),
    sa.Column("reason", sa.Text),
    sa.Column("metrics", sa.Text),
    sa.Column("seconds", sa.Float),
    sa.Column("finished_at", sa.Float),
)
USES = sa.Table(
    "loadwise_uses",
    _META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("cached", sa.Boolean),
)
CLAIMS = sa.Table(
    "loadwise_claims",
    _META,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128)),
    sa.Column("renewed_at", sa.Float),
)
CLAIM_TIMEOUT = 60.0  # seconds without renewal after which a claim's owner counts as dead


def database_url(url: str) -> str:
    """The SQLAlchemy URL of a storage: `postgresql://` means the psycopg driver (the
    `postgres` extra), which SQLAlchemy would otherwise take to be psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def check_storage_url(url: str) -> None:
    """Raise ConfigError("storage") for a URL no installed SQLAlchemy dialect and driver
    can open (touches no database)."""
    try:
        parsed = sa.engine.make_url(database_url(url))
    except sa.exc.ArgumentError:
        raise ConfigError("storage", f"{url!r} is not a database URL "
                                     "(e.g. sqlite:///study.db or postgresql://user@host/db)") from None
    try:
        dialect = parsed.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise ConfigError("storage", f"{url!r}: unknown database {parsed.drivername!r} "
                                     "(sqlite:/// or postgresql:// are supported)") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        hint = " (install loadwise[postgres])" if parsed.get_backend_name() == "postgresql" else ""
        raise ConfigError("storage", f"{url!r} needs the database driver {exc.name!r}{hint}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if Path(parsed.database).is_dir():
            raise ConfigError("storage", f"{url!r}: {parsed.database} is a folder, not a database file")
        if not folder.is_dir():
            raise ConfigError("storage", f"{url!r}: the folder {folder} does not exist")


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
    """Finished runs of one system, used by one study, in an RDB shared with other processes."""

    def __init__(self, url: str, study: str, system: str, claim_timeout: float = CLAIM_TIMEOUT) -> None:
        url = database_url(url)
        self.engine = sa.create_engine(url, **engine_options(url))
        self.study = study
        self.system = system
        self.claim_timeout = claim_timeout
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        for attempt in range(10):  # processes starting together race to create the tables
            try:
                _META.create_all(self.engine, checkfirst=True)
                break
            except sa.exc.DBAPIError:
                if attempt == 9:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def key(self, spec: RunSpec) -> str:
        """The stored key of a run: its own key and the system that computes it."""
        return hashlib.sha256(f"{self.system}|{spec.key}".encode()).hexdigest()

    # answers

    def get(self, spec: RunSpec, include_failed: bool = False) -> RunResult | None:
        """The stored result of `spec` (a failed one only with `include_failed`); records the use."""
        key = self.key(spec)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(RESULTS).where(RESULTS.c.key == key)).mappings().first()
        if row is None or not (row["ok"] or include_failed):
            return None
        self._use(key, cached=True)
        return RunResult(spec, bool(row["ok"]), json.loads(row["metrics"]), row["reason"] or "", row["seconds"], True)

    def put(self, result: RunResult) -> bool:
        """Store a finished run; False when another process had already stored its success."""
        spec, key = result.spec, self.key(result.spec)
        row = dict(
            key=key, system=self.system, config=canonical(spec.config), scenario=spec.scenario,
            params=canonical(spec.params), replicate=spec.replicate, seed=spec.seed, fidelity=spec.fidelity,
            purpose=spec.purpose, ok=result.ok, reason=result.reason, metrics=json.dumps(result.metrics),
            seconds=result.seconds, finished_at=time.time(),
        )
        stored = True
        try:
            with self.engine.begin() as conn:
                conn.execute(RESULTS.insert().values(**row))
        except sa.exc.IntegrityError:  # a failure stored earlier is replaced by a success
            with self.engine.begin() as conn:
                replaced = conn.execute(RESULTS.update().where(RESULTS.c.key == key, RESULTS.c.ok.is_(False))
                                        .values(**row)) if result.ok else None
            stored = replaced is not None and replaced.rowcount > 0
        self._use(key, cached=False)
        self.release(spec)
        return stored

    def _use(self, key: str, cached: bool) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(USES.insert().values(study=self.study, key=key, cached=cached))
        except sa.exc.IntegrityError:
            pass  # the study has used this run before; its first use says how

    # claims

    def claim(self, spec: RunSpec) -> bool:
        """Claim `spec` for this process; False while another live process holds it."""
        key, now = self.key(spec), time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(CLAIMS.insert().values(key=key, owner=self.owner, renewed_at=now))
            return True
        except sa.exc.IntegrityError:
            pass
        with self.engine.begin() as conn:  # take over a claim whose owner stopped renewing it
            taken = conn.execute(CLAIMS.update().where(CLAIMS.c.key == key,
                                                       CLAIMS.c.renewed_at < now - self.claim_timeout)
                                 .values(owner=self.owner, renewed_at=now))
            if taken.rowcount:
                return True
            owner = conn.execute(sa.select(CLAIMS.c.owner).where(CLAIMS.c.key == key)).scalar()
        return owner == self.owner

    def renew(self, specs: list[RunSpec]) -> None:
        """Keep this process's claims on runs it is still executing alive."""
        if not specs:
            return
        with self.engine.begin() as conn:
            conn.execute(CLAIMS.update().where(CLAIMS.c.key.in_([self.key(s) for s in specs]),
                                               CLAIMS.c.owner == self.owner).values(renewed_at=time.time()))

    def release(self, spec: RunSpec) -> None:
        with self.engine.begin() as conn:
            conn.execute(CLAIMS.delete().where(CLAIMS.c.key == self.key(spec), CLAIMS.c.owner == self.owner))

    # the study's runs

    def table(self) -> pd.DataFrame:
        """Every run this study used, one row each: config knobs, scenario, seed, metrics, seconds, cached.

        Rows are in a fixed order (purpose, scenario, replicate, config, fidelity), so two
        runs of the same tune give the same table whatever the order runs finished in.
        """
        query = (sa.select(RESULTS, USES.c.cached).join(USES, USES.c.key == RESULTS.c.key)
                 .where(USES.c.study == self.study))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        records = []
        for r in sorted(rows, key=lambda r: (r["purpose"], r["scenario"], r["replicate"], r["config"],
                                             r["fidelity"], r["seed"])):
            rec = {f"config.{k}": v for k, v in json.loads(r["config"]).items()}
            rec.update({"scenario": r["scenario"], "replicate": r["replicate"], "seed": r["seed"],
                        "fidelity": r["fidelity"], "purpose": r["purpose"], "ok": bool(r["ok"]),
                        "reason": r["reason"], "cached": bool(r["cached"]), "seconds": r["seconds"]})
            rec.update({f"scenario.{k}": v for k, v in json.loads(r["params"]).items()})
            rec.update({f"metric.{k}": v for k, v in json.loads(r["metrics"]).items()})
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def close(self) -> None:
        self.engine.dispose()
