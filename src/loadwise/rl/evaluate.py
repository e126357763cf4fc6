"""Evaluating a trained router against every baseline and the clairvoyant oracle.

Every router runs the same cells with the same seeds, so all of them face the same
arrivals, items and per-call draws (common random numbers) and their differences are
not sampling noise. The figures per (router, rate, budget) are the simulator's metrics
(goodput = share of workflows solved within budget, accuracy, violation (bust) rate,
mean/p95 latency, cost ratio, mix of models and strategies).

The router's targets, checked per cell by `target_checks`: where the oracle meets the
constraint, the trained router meets it within a tolerance of 0.02 and its goodput is at
least that of the best baseline meeting it (within the same tolerance); over the grid,
its goodput is at least 85 % of the oracle's.

Each goodput comparison of a cell also gets a 95 % confidence interval of the paired
difference (trained − best baseline), so a report can say whether a miss (or a win) is
more than noise. The same workflows (same arrivals and items, by CRN) are paired; since
workflows of one simulation share its queues, their outcomes are autocorrelated, so the
interval is from *batch means* (Law & Kelton, "Simulation Modeling and Analysis", §9.5):
the cell's workflows, in arrival order, are cut into `CI_BATCHES` consecutive batches,
the paired difference of goodput is computed per batch, and a Student t interval is
taken over the batches. Evaluated on several seeds (`--seeds`), a cell's figures are
the means over the seeds and the interval pools the batches of every seed (independent
replications, each cut into `CI_BATCHES` batches). This changes no target: `target_met` is still the point
comparison; `miss_significant` says whether a missed goodput comparison would survive
the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loadwise.rl.constraint import Constraint
from loadwise.systems.agentserve.routing import MODELS, STRATEGIES

TOLERANCE = 0.02
ORACLE_SHARE_TARGET = 0.85
ORACLE = "clairvoyant"
HEURISTICS = ("random", "static-mix", "least-loaded", "quality-first", "greedy")
FIXED = tuple(f"fixed:{m}:{s}" for m in MODELS for s in STRATEGIES)
ALL_BASELINES = (*HEURISTICS, *FIXED)
# The router samples from its policy as trained (temperature 1): the constrained optimum
# is a stochastic policy, and the most likely action (`greedy`) herds every concurrent
# decision onto the same server under load. A temperature < 1 sharpens the policy (fewer
# exploratory picks) at the price of more herding.
DEFAULT_TEMPERATURE = 1.0
CI_BATCHES = 10
# Evaluation seeds by default: three independent replications of the grid (same for every router)
EVAL_SEEDS = (12345, 777, 2024)
CI_LEVEL = 0.95
METRICS = ("goodput", "accuracy", "violation_rate", "violation_rate_excl_decision", "mean_latency",
           "p95_latency", "cost_ratio", "mean_queue", "idle_share", "steps", "workflows")


@dataclass
class Evaluation:
    """One row per (router, rate, budget) in `cells`; `trained` names the trained router."""

    cells: pd.DataFrame
    trained: str
    constraint: Constraint
    # (router, rate, budget) -> per evaluation seed, per workflow in arrival order: solved within budget
    outcomes: dict[tuple[str, float, float], list[np.ndarray]] = field(default_factory=dict, repr=False)

    def paired_goodput_difference(self, a: str, b: str, rate: float, budget: float) -> tuple[float, float, float]:
        """(difference, CI low, CI high) of goodput a − b in a cell, by batch means (module docstring).
        NaN bounds when the outcomes were not kept or there are fewer workflows than batches."""
        from scipy import stats

        xs, ys = self.outcomes.get((a, rate, budget)), self.outcomes.get((b, rate, budget))
        if xs is None or ys is None:
            return np.nan, np.nan, np.nan
        diff = float(np.mean([x.mean() - y.mean() for x, y in zip(xs, ys)]))
        if any(len(x) != len(y) or len(x) < 2 * CI_BATCHES for x, y in zip(xs, ys)):
            return diff, np.nan, np.nan
        per_batch = np.array([u.mean() - v.mean() for x, y in zip(xs, ys)
                              for u, v in zip(np.array_split(x, CI_BATCHES), np.array_split(y, CI_BATCHES))])
        n = len(per_batch)
        half = stats.t.ppf(0.5 + CI_LEVEL / 2, n - 1) * per_batch.std(ddof=1) / np.sqrt(n)
        return diff, diff - half, diff + half

    def routers(self) -> list[str]:
        return list(dict.fromkeys(self.cells["router"]))

    def grid_summary(self) -> pd.DataFrame:
        """Per router: goodput, accuracy, violation averaged over cells (each cell weighs the same)."""
        g = self.cells.groupby("router", sort=False)[["goodput", "accuracy", "violation_rate", "cost_ratio"]].mean()
        oracle = g.loc[ORACLE, "goodput"] if ORACLE in g.index else np.nan
        g["share_of_oracle_goodput"] = g["goodput"] / oracle
        return g.reset_index()

    def meets(self, frame: pd.DataFrame) -> pd.Series:
        """Whether each row meets the constraint (within TOLERANCE)."""
        column = "violation_rate" if self.constraint.kind == "bust" else "cost_ratio"
        return frame[column] <= self.constraint.limit + TOLERANCE

    def target_checks(self) -> pd.DataFrame:
        """Per cell: does the trained router meet its targets there?"""
        rows = []
        c = self.cells
        for (rate, budget), cell in c.groupby(["rate", "budget"], sort=True):
            by = cell.set_index("router")
            ok = self.meets(by)
            baselines = by.drop(index=[r for r in (self.trained, ORACLE) if r in by.index])
            feasible = baselines[ok.loc[baselines.index]]
            best_name = feasible["goodput"].idxmax() if len(feasible) else ""
            best = float(feasible["goodput"].max()) if len(feasible) else np.nan
            oracle_ok = bool(ok.get(ORACLE, False))
            trained = by.loc[self.trained]
            meets = bool(ok.loc[self.trained])
            beats = bool(np.isnan(best) or trained["goodput"] >= best)
            diff, low, high = (self.paired_goodput_difference(self.trained, best_name, rate, budget) if best_name
                               else (np.nan, np.nan, np.nan))
            rows.append({
                "rate": rate, "budget": budget, "oracle_meets": oracle_ok,
                "trained_violation": float(trained["violation_rate"]), "trained_cost_ratio": float(trained["cost_ratio"]),
                "trained_meets": meets, "trained_goodput": float(trained["goodput"]),
                "best_baseline": best_name, "best_baseline_goodput": best,
                "oracle_goodput": float(by.loc[ORACLE, "goodput"]) if ORACLE in by.index else np.nan,
                "goodput_difference": diff, "difference_ci_low": low, "difference_ci_high": high,
                "target_met": (not oracle_ok) or (meets and beats),
                "miss_significant": bool(oracle_ok and meets and not beats and high < 0),
            })
        return pd.DataFrame(rows)

    def to_json(self) -> dict[str, Any]:
        """Every number: per router and cell, per router over the grid, and the target checks."""
        routers = {}
        for name, frame in self.cells.groupby("router", sort=False):
            routers[name] = {"cells": frame.drop(columns="router").to_dict(orient="records")}
        for row in self.grid_summary().to_dict(orient="records"):
            routers[row.pop("router")]["grid"] = row
        checks = self.target_checks()
        summary = self.grid_summary().set_index("router")
        share = float(summary.loc[self.trained, "share_of_oracle_goodput"]) if ORACLE in summary.index else None
        return {
            "trained": self.trained,
            "constraint": str(self.constraint),
            "routers": routers,
            "targets": {
                "cells": checks.to_dict(orient="records"),
                "cells_met": int(checks["target_met"].sum()),
                "cells_total": len(checks),
                "cells_where_oracle_meets": int(checks["oracle_meets"].sum()),
                "cells_met_where_oracle_meets": int((checks["target_met"] & checks["oracle_meets"]).sum()),
                "goodput_misses_significant": int(checks["miss_significant"].sum()),
                "ci": f"{CI_LEVEL:.0%} paired batch-means interval ({CI_BATCHES} batches per cell and seed, pooled)",
                "seeds": int(self.cells["seeds"].iloc[0]) if "seeds" in self.cells else 1,
                "grid_share_of_oracle_goodput": share,
                "grid_share_target": ORACLE_SHARE_TARGET,
                "grid_share_met": None if share is None else bool(share >= ORACLE_SHARE_TARGET),
            },
        }


def evaluate_routers(routers: dict[str, Any], rates: tuple[float, ...], budgets: tuple[float, ...],
                     workflows: int, seed: int | Sequence[int], constraint: Constraint, trained: str,
                     on_router: Any = None) -> Evaluation:
    """Run every router on every (rate, budget) cell with the same seeds (CRN).

    With several seeds, each router runs the grid once per seed; a cell's figures are the
    means over the seeds (`seeds` column: how many).
    """
    from loadwise.systems.agentserve import Cell, Lockstep, load_profiles

    profiles = load_profiles()
    seeds = [int(seed)] if np.isscalar(seed) else [int(s) for s in seed]  # type: ignore[arg-type]
    cells = [Cell(rate=r, budget=b, workflows=workflows) for r in rates for b in budgets]
    rows = []
    outcomes: dict[tuple[str, float, float], list[np.ndarray]] = {}
    for name, router in routers.items():
        for run_seed in seeds:
            driver = Lockstep(cells, run_seed, profiles)
            driver.run(router)
            done = driver.pop_finished()
            order = np.lexsort((done.workflow_id, done.sim_index))  # per simulation, in arrival order
            good = (done.solved & (done.workflow_latency <= done.budget))[order]
            sim = done.sim_index[order]
            for i, (cell, result) in enumerate(zip(cells, driver.results(record=False))):
                outcomes.setdefault((name, cell.rate, cell.budget), []).append(good[sim == i])
                m = result.metrics
                row = {"router": name, "rate": cell.rate, "budget": cell.budget}
                row.update({k: float(m[k]) for k in METRICS})
                row.update({f"model:{n}": float(m[f"share:{n}"]) for n in MODELS})
                row.update({f"strategy:{s}": float(m[f"share:{s}"]) for s in STRATEGIES})
                rows.append(row)
        if on_router is not None:
            on_router(name)
    frame = pd.DataFrame(rows)
    if len(seeds) > 1:
        frame = frame.groupby(["router", "rate", "budget"], sort=False).mean().reset_index()
    frame["seeds"] = len(seeds)
    return Evaluation(frame, trained, constraint, outcomes)


def evaluate_checkpoint(path, rates: tuple[float, ...] | None = None, budgets: tuple[float, ...] | None = None,
                        workflows: int = 1000, seed: int | Sequence[int] = EVAL_SEEDS,
                        baselines: tuple[str, ...] = ALL_BASELINES,
                        greedy: bool = False, on_router: Any = None,
                        temperature: float = DEFAULT_TEMPERATURE) -> Evaluation:
    """The trained router of `path` vs `baselines` and the oracle (grid: the training grid by default).

    The router samples from its policy sharpened to `temperature` (see DEFAULT_TEMPERATURE),
    or takes the most likely action when `greedy`.
    """
    import torch

    from loadwise.errors import ConfigError
    from loadwise.rl.router import load_router
    from loadwise.systems.agentserve import make_router

    if workflows < 1:
        raise ConfigError("workflows", "must be at least 1")
    if not temperature > 0:
        raise ConfigError("temperature", "must be > 0 (or greedy: the most likely action)")
    seeds = [int(seed)] if np.isscalar(seed) else [int(s) for s in seed]  # type: ignore[arg-type]
    if not seeds:
        raise ConfigError("seeds", "give at least one evaluation seed")
    router, state = load_router(path, greedy=greedy, seed=seeds[0], temperature=temperature)
    config = state["config"]
    routers: dict[str, Any] = {router.name: router}
    for name in (*baselines, ORACLE):
        routers[name] = make_router(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return evaluate_routers(routers, tuple(rates or config["rates"]), tuple(budgets or config["budgets"]),
                                workflows, seeds, Constraint.parse(config["constraint"]), router.name, on_router)
    finally:
        torch.set_num_threads(threads)


def mix_of(ev: Evaluation, router: str, **where: float) -> tuple[np.ndarray, np.ndarray]:
    """(model shares, strategy shares) of `router` over the cells matching `where` (e.g. budget=20),
    weighted by role steps."""
    c = ev.cells[ev.cells["router"] == router]
    for key, value in where.items():
        c = c[c[key] == value]
    if c.empty:
        raise ValueError(f"no cells of {router!r} with {where}")
    steps = c["steps"].to_numpy()[:, None]
    models = (c[[f"model:{m}" for m in MODELS]].to_numpy() * steps).sum(0)
    strategies = (c[[f"strategy:{s}" for s in STRATEGIES]].to_numpy() * steps).sum(0)
    return models / models.sum(), strategies / strategies.sum()


def mix_shift(ev: Evaluation, router: str, axis: str, a: float, b: float) -> float:
    """How much the router's mix changes between `axis` = a and = b: the larger total-variation
    distance of its model mix and of its strategy mix. 0 means blind to that axis."""
    ma, sa = mix_of(ev, router, **{axis: a})
    mb, sb = mix_of(ev, router, **{axis: b})
    return float(max(0.5 * np.abs(ma - mb).sum(), 0.5 * np.abs(sa - sb).sum()))


def collapsed(ev: Evaluation, router: str, share: float = 0.9) -> bool:
    """True when the router sends ≥ `share` of its role steps to one model and ≥ `share` to one
    strategy over the whole grid: the reference's failure (95 % Llama-3B, one strategy)."""
    models, strategies = mix_of(ev, router)
    return bool(models.max() >= share and strategies.max() >= share)
