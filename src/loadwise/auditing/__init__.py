"""Scenario audit: does a rate × budget grid cover the load regimes that matter?

Pure computation, from telemetry to findings; the verb that writes the report is
`loadwise.app.audit`, the report itself `loadwise.report.audit`.

- `inputs`: telemetry from loadwise's Parquet, the reference system's CSV or any CSV;
- `grid`, `tables`: the grid the audit covers and the tables over it;
- `regimes`, `queue_fit`, `recommend`: load regimes, queue depth against rate, rates to add;
- `tiers`, `policy`, `stats`: tier redundancy and spacing, the router's behaviour, the tests;
- `cost`: what the recommended grid costs per epoch;
- `pipeline`: all of the above as one `run_audit` -> `AuditResult`;
- `verify`: the recommended rates, simulated;
- `synthetic`: telemetry with known answers, for tests and benchmarks.
"""
