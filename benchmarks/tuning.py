"""Benchmarks of robust tuning (spec 03, "Benchmarks to keep"); prints tables.

    python benchmarks/tuning.py speed                  # the staged robust tune, wall-clock
    python benchmarks/tuning.py quality --system synthetic --seeds 20 --budget 150
    python benchmarks/tuning.py quality --system submitqueue --seeds 16 --budget 150
    python benchmarks/tuning.py crn --system submitqueue --replicates 100

quality: at equal simulation budget, the true weighted objective of the config each
method returns. loadwise runs first (default schedule `short`, or `--fidelity`); the
others then get the simulations it used in full-length equivalents (a quarter-length
run counts a quarter), or with `--budget-as count` one full simulation for each of its
runs, however short. Methods: loadwise (deterministic weighted, fidelity schedule, CRN,
racing, full-set best); the published method (the scenario-weighting study's:
deterministic weighted, the staged schedule fed to ONE Optuna study, independent seeds,
no racing, that study's best trial); stochastic TPE (one run per trial with scenario
parameters drawn as in the weighting study's example); random search (full set per
trial, independent seeds). The true objective is exact on the
synthetic system and, on the submit queue, the mean over fresh CRN replicates shared by
all methods' configs.
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from scipy import stats

from loadwise.app.tune import tune
from loadwise.evaluate import Evaluator, LocalPool, RunSpec, run_seed
from loadwise.params import resolve
from loadwise.scenarios import get_scenario_set
from loadwise.systems import get_system
from loadwise.systems.base import get_objective
from loadwise.tuning import search_distributions

STOCHASTIC = {"synthetic": "synthetic-stochastic", "submitqueue": "sq-stochastic"}
SCENARIOS = {"synthetic": "synthetic5", "submitqueue": "sq-weighted5"}


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def speed(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        r = tune("submitqueue", "sq-weighted5", trials=args.trials, fidelity="staged", jobs=args.jobs,
                 out=Path(tmp) / "run", progress=False, seed=args.seed)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    search_sims = sum(sum(t.replicates.values()) for t in r.trials)
    print("| what | value |\n|---|---|")
    print(f"| trials | {len(r.trials)} ({sum(t.state == 'dropped' for t in r.trials)} dropped by racing) |")
    print(f"| search wall-clock | {r.search_seconds:.1f} s |")
    print(f"| search simulations (config runs) | {search_sims} |")
    print(f"| whole command incl. validation, slices, report | {wall:.1f} s wall, {cpu:.1f} s CPU |")
    print(f"| all simulations | {r.simulations} run + {r.cached} cached |")
    print(f"| best (full set) | {r.best_value:.1f} ± {r.best_ci:.1f}; validated {r.validation.summary.iloc[0]['objective']:.1f} |")


class TrueObjective:
    """The objective a returned config really has (exact, or fresh CRN replicates)."""

    def __init__(self, system_name: str, replicates: int, jobs: int) -> None:
        self.system = get_system(system_name)
        self.objective = get_objective(self.system, None)
        self.scenarios = get_scenario_set(SCENARIOS[system_name])
        self.replicates, self.jobs = replicates, jobs

    def __call__(self, configs: list[dict]) -> list[float]:
        if self.system.name == "synthetic":
            return [sum(s.weight * self.system.expected_cost(resolve(self.system.knobs, c), s.params)
                        for s in self.scenarios.scenarios) for c in configs]
        specs = {i: [RunSpec(resolve(self.system.knobs, c), s.name, s.params, r, run_seed(99991, s.name, r, "validate"))
                     for s in self.scenarios.scenarios for r in range(self.replicates)] for i, c in enumerate(configs)}
        pool = LocalPool(self.system, self.jobs)
        try:
            done = Evaluator(pool).run_all([sp for v in specs.values() for sp in v])
        finally:
            pool.close()
        w = self.scenarios.weights
        return [sum(w[sp.scenario] * done[sp.key].value(self.objective) for sp in specs[i]) / self.replicates
                for i in range(len(configs))]


def baseline(system_name: str, method: str, budget: int, seed: int, jobs: int) -> dict:
    """The published method, stochastic TPE or random search, stopped at `budget` simulations."""
    system = get_system(system_name)
    objective = get_objective(system, None)
    full = get_scenario_set(SCENARIOS[system_name])
    stochastic = get_scenario_set(STOCHASTIC[system_name])
    space = search_distributions(system)
    sampler = optuna.samplers.RandomSampler(seed=seed) if method == "random" else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction=objective.direction, sampler=sampler)
    order = full.by_weight()
    rng = np.random.default_rng([seed, 777])  # independent seeds: a fresh one for every run
    backend = LocalPool(system, jobs) if system_name == "submitqueue" else None
    from loadwise.evaluate import InlineBackend

    evaluator = Evaluator(backend or InlineBackend(system))
    used, number = 0, 0
    try:
        while used < budget:
            number += 1
            trial = study.ask(space)
            config = resolve(system.knobs, trial.params)
            if method == "stochastic":
                params = stochastic.params_for("stochastic", 0, int(rng.integers(2**32)))
                runs = [(1.0, RunSpec(config, "stochastic", params, 0, int(rng.integers(2**32))))]
            else:
                names = full.names if method == "random" else (
                    order[:1] if number <= 10 else order[:2] if number <= 25 else full.names)
                weights = {n: full.weights[n] for n in names}
                total = sum(weights.values())
                runs = [(weights[n] / total, RunSpec(config, n, full[n].params, 0, int(rng.integers(2**32))))
                        for n in names]
            done = evaluator.run_all([sp for _, sp in runs])
            used += len(runs)
            study.tell(trial, sum(w * done[sp.key].value(objective) for w, sp in runs))
    finally:
        evaluator.close()
    return resolve(system.knobs, study.best_params)


def quality(args: argparse.Namespace) -> None:
    truth = TrueObjective(args.system, args.true_replicates, args.jobs)
    methods = ["loadwise", "published method", "stochastic TPE", "random search"]
    found: dict[str, list[dict]] = {m: [] for m in methods}
    budgets = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            r = tune(args.system, SCENARIOS[args.system], trials=10**6, budget=args.budget, seed=seed,
                     fidelity=args.fidelity, jobs=args.jobs,
                     backend="local" if args.system == "submitqueue" else "inline",
                     out=Path(tmp) / "run", progress=False, validate_top=0, slice_points=0)
            runs = pd.read_parquet(r.run_dir / "runs.parquet")
            used = r.simulations if args.budget_as == "count" else math.ceil(runs["fidelity"].sum())
        budgets.append(used)
        found["loadwise"].append(r.best_config)
        for name, method in (("published method", "staged"), ("stochastic TPE", "stochastic"), ("random search", "random")):
            found[name].append(baseline(args.system, method, used, seed, args.jobs))
        print(f"study seed {seed}: loadwise ran {r.simulations} simulations; the others get {used}", flush=True)
    values = {m: truth(found[m]) for m in methods}
    direction = get_objective(get_system(args.system), None).direction
    print(f"\n{args.system}: true weighted objective ({direction}) of the returned config, "
          f"{args.seeds} study seeds, budget {np.mean(budgets):.0f} simulations (mean, {args.budget_as})")
    if args.system == "synthetic":
        system = get_system("synthetic")
        _, opt = system.optimum([(s.params, s.weight) for s in get_scenario_set("synthetic5").scenarios])
        print(f"(known optimum: {opt:.4f})")
    print("| method | mean | 95% CI | per seed |\n|---|---|---|---|")
    for m in methods:
        v = np.array(values[m])
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
        print(f"| {m} | {v.mean():.4g} | ± {half:.3g} | {', '.join(f'{x:.4g}' for x in v)} |")
    base = np.array(values["loadwise"])
    for m in methods[1:]:
        d = np.array(values[m]) - base
        p = stats.ttest_1samp(d, 0.0).pvalue if len(d) > 1 and d.std() > 0 else float("nan")
        print(f"paired difference {m} − loadwise: {d.mean():.4g} (p = {p:.3g})")


# Submit-queue configs to measure CRN around (stated rule: each knob moved by about 10 %,
# kdiv by one): the published defaults, and the robust optimum that `loadwise tune
# --system submitqueue --scenarios sq-weighted5 --trials 50` (default schedule, seed 0) returned.
SUBMITQUEUE_CRN_BASES = {
    "published defaults": ({"resources": 74, "maxbatch": 684, "maxk": 12, "kdiv": 5, "flaketol": 0.0767},
                           {"resources": 80, "maxbatch": 760, "maxk": 13, "kdiv": 6, "flaketol": 0.085}),
    "robust optimum": ({"resources": 101, "maxbatch": 3079, "maxk": 11, "kdiv": 3, "flaketol": 0.168},
                       {"resources": 110, "maxbatch": 3400, "maxk": 12, "kdiv": 4, "flaketol": 0.185}),
}


def crn(args: argparse.Namespace) -> None:
    """Variance of the weighted-objective difference between a config and nearby ones, CRN vs independent."""
    system = get_system(args.system)
    if args.system == "synthetic":
        a, _ = system.optimum([(s.params, s.weight) for s in get_scenario_set("synthetic5").scenarios])
        moves = {f"{k} +0.05": {k: a[k] + 0.05} for k in a} | {"all +0.05": {k: v + 0.05 for k, v in a.items()}}
        crn_table(args, "known optimum", a, moves)
        return
    for label, (a, moved) in SUBMITQUEUE_CRN_BASES.items():
        moves = {f"{k} {a[k]:g}→{v:g}": {k: v} for k, v in moved.items()}
        crn_table(args, label, a, moves)


def crn_table(args: argparse.Namespace, label: str, a: dict, moves: dict[str, dict]) -> None:
    system = get_system(args.system)
    objective = get_objective(system, None)
    scen = get_scenario_set(SCENARIOS[args.system])
    a = resolve(system.knobs, a)
    others = {name: resolve(system.knobs, {**a, **m}) for name, m in moves.items()}
    n = args.replicates

    def spec(config, s, r, stream):
        return RunSpec(config, s, scen[s].params, r, run_seed(stream, s, r))

    specs = [spec(a, s, r, 1) for r in range(n) for s in scen.names]
    for b in others.values():
        specs += [spec(b, s, r, stream) for r in range(n) for s in scen.names for stream in (1, 2)]
    pool = LocalPool(system, args.jobs)
    try:
        done = Evaluator(pool).run_all(specs)
    finally:
        pool.close()
    w = scen.weights

    def weighted_terms(config, r, stream):
        """Per-scenario terms w_s · value of the weighted objective, in scenario order."""
        return np.array([w[s] * done[spec(config, s, r, stream).key].value(objective) for s in scen.names])

    print(f"\n{args.system}: variance of the weighted-objective difference to the {label} {dict(a)}, "
          f"{n} replicates each")
    print("| second config | var (CRN) | var (independent) | reduction | 95% CI | largest share of var (CRN) |\n"
          "|---|---|---|---|---|---|")
    f = stats.f.ppf(0.975, n - 1, n - 1)
    base = np.array([weighted_terms(a, r, 1) for r in range(n)])
    for name, b in others.items():
        crn_terms = base - np.array([weighted_terms(b, r, 1) for r in range(n)])
        ind_d = base.sum(axis=1) - np.array([weighted_terms(b, r, 2).sum() for r in range(n)])
        vc, vi = np.var(crn_terms.sum(axis=1), ddof=1), np.var(ind_d, ddof=1)
        if vc == 0:
            print(f"| {name} | 0 | {vi:.4g} | ∞ (identical dynamics) | | |", flush=True)
            continue
        by_scenario = np.var(crn_terms, axis=0, ddof=1)  # where the unpaired part of the difference comes from
        top = int(np.argmax(by_scenario))
        share = f"{scen.names[top]} {100 * by_scenario[top] / by_scenario.sum():.0f} %"
        print(f"| {name} | {vc:.4g} | {vi:.4g} | {vi / vc:.1f}× | {vi / vc / f:.1f}–{vi / vc * f:.1f}× | {share} |",
              flush=True)


def main() -> None:
    optuna.logging.set_verbosity(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=["speed", "quality", "crn"])
    parser.add_argument("--system", choices=["synthetic", "submitqueue"], default="submitqueue")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-seed", type=int, default=0, help="quality: study seeds first-seed … first-seed+seeds−1")
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--fidelity", default="short", help="quality: loadwise's fidelity preset (staged, short, none)")
    parser.add_argument("--budget-as", choices=["cost", "count"], default="cost",
                        help="quality: the others get loadwise's simulations in full-length equivalents (cost: a "
                             "quarter-length run counts a quarter) or one each (count)")
    parser.add_argument("--true-replicates", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    {"speed": speed, "quality": quality, "crn": crn}[args.benchmark](args)


if __name__ == "__main__":
    main()
