"""Check recommended rates by simulation: run the agentserve simulator there with a
named router and compare the fitted queue depth with the simulated one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from loadwise.auditing.pipeline import AuditResult
from loadwise.auditing.regimes import label


def verify_rates(result: AuditResult, router: str = "static-mix", workflows: int = 200, seed: int = 0,
                 profiles: str | Path | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Simulate every recommended rate at each grid budget (`workflows` per cell) and
    report simulated mean queue depth at dispatch, its regime and the model mix.

    The simulation is the slow part of an audit: `on_progress(done, total)` hears, after
    every round of the simulator, how many workflows have finished.
    """
    from loadwise.systems.agentserve import Cell, load_profiles, make_router, run_cells

    recs = [{"rate": r["rate"], "regime": r["regime"], "predicted_queue": r["predicted_queue"],
             "predicted_queue_ci": r["predicted_queue_ci"]} for r in result.findings["recommendations"]["rates"]]
    recs += [{"rate": p["rate"], "regime": "probe for " + ", ".join(p["regimes"]), "predicted_queue": p["predicted_queue"],
              "predicted_queue_ci": [float("nan"), float("nan")]} for p in result.findings["recommendations"]["probes"]]
    points = []
    description = (f"agentserve simulator, router {router!r}, profiles "
                   f"{profiles or 'shipped'}, {workflows} workflows per (rate, budget) cell at budgets "
                   f"{', '.join(f'{b:g}' for b in result.grid.budgets)} s, seed {seed}.")
    if not recs:
        return {"description": description + " No rate was recommended, so nothing was simulated.", "points": []}
    prof = load_profiles(profiles) if profiles else None
    policy = make_router(router)
    cells = [Cell(rate=r["rate"], budget=b, workflows=workflows) for r in recs for b in result.grid.budgets]

    def on_round(driver) -> None:
        on_progress(*driver.progress())

    sims = run_cells(cells, policy, seeds=seed, profiles=prof, on_round=on_round if on_progress else None)
    steps = pd.concat([s.steps for s in sims], ignore_index=True)
    for r in recs:
        at = steps[steps["rate"] == r["rate"]]
        q = float(at["queue_depth"].mean())
        mix = at["model"].value_counts(normalize=True).sort_index()
        points.append({
            **r, "simulated_queue": q,
            "simulated_idle_share": float((at["queue_depth"] < result.regimes[0].upper).mean()),
            "simulated_regime": label(q, result.regimes), "steps": len(at),
            "model_mix": {str(k): float(v) for k, v in mix.items()},
            "strategy_mix": {str(k): float(v) for k, v in at["strategy"].value_counts(normalize=True).sort_index().items()},
        })
    return {"description": description, "router": router, "workflows_per_cell": workflows, "seed": seed,
            "profiles": str(profiles) if profiles else "shipped", "points": points}
