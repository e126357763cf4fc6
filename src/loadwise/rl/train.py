"""The training loop: PPO-Lagrangian over the rate × budget grid of the serving simulator.

One epoch:

1. The grid picks the epoch's cells (`grid.Grid.epoch_cells`: uniform, weighted or a
   curriculum); each cell is one simulation of `workflows` workflows.
2. All simulations are stepped together by the simulator's lockstep driver; every round
   the policy answers all pending plans in one batched call and all pending role steps
   in another (`router.PolicyRouter`, sampling, logging what PPO needs).
3. Finished workflows become episodes: reward at the end (default: solved within budget,
   i.e. goodput; `solved`; or the reference's `solved − max(0, L/B − 1)`, with which
   its router collapsed — `REFERENCE_SETUP` is its whole setup, to compare with ours),
   cost from the constraint (`bust` or `ratio`); each plan also pays for the waiting lines
   its calls joined (`planner_congestion_price`, see episodes.py).
4. GAE on reward and on cost, Lagrangian advantage with λ of the workflow's budget tier,
   `ppo_epochs` passes of clipped PPO, then one projected ascent step on λ.
5. The epoch's log line (reward, cost, λ, violation per tier, model/strategy mix),
   telemetry of every role step, and a checkpoint.

Randomness of epoch e (simulator seeds, action sampling, minibatch order) comes from
SeedSequence([seed, e]) alone, so resuming from the checkpoint after epoch e−1 repeats
epoch e exactly as an uninterrupted run would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from loadwise.errors import ConfigError
from loadwise.rl import checkpoint
from loadwise.rl.constraint import Constraint
from loadwise.rl.episodes import Outcomes, build_decisions
from loadwise.rl.features import OBSERVATIONS, PLAN_FEATURE_DIM, executor_dims
from loadwise.rl.grid import DEFAULT_BUDGETS, DEFAULT_RATES, Grid
from loadwise.rl.lagrange import LagrangeMultipliers
from loadwise.rl.policies import ExecutorPolicy, PlannerPolicy
from loadwise.rl.ppo import PPOConfig, ppo_update
from loadwise.rl.router import PLANNERS, PolicyRouter
from loadwise.systems.agentserve.routing import MAX_AGENTS, MODELS, N_ACTIONS, N_STRATEGIES, ROLES, STRATEGIES, TOPOLOGIES

REWARDS = ("goodput", "solved", "reference")
# How advantages are scaled before the PPO step: standardized within each budget tier
# (see episodes.py; every tier gets a comparable step), over the whole batch (the usual
# PPO recipe), or not at all (raw reward units: an unbounded penalty then outweighs a
# reward bounded by 1; what that does and does not cause: BENCHMARKS.md, router_training.py).
ADVANTAGE_NORMALIZATIONS = ("tier", "batch", "none")
LAMBDA_SCOPES = ("shared", "tier", "cell")
# The reference system's training setup, as far as spec 04 and the seed describe it: its
# reward, the cost-ratio constraint with one shared λ (lambda_init 0.2, no warmup, 3 PPO
# epochs), its budget-blind planner, and an executor that does not see the budget.
# Batch-wide advantage normalization is the usual PPO recipe (per-tier is ours).
REFERENCE_SETUP: dict[str, Any] = dict(
    reward="reference", constraint="ratio:1", lambda_scope="shared", lambda_init=0.2, warmup_epochs=0,
    ppo_epochs=3, observation="reference", planner="reference", advantage_normalization="batch",
    planner_congestion_price=0.0)
RUN_KIND = "router-train"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in run.json; resume checks it)."""

    rates: tuple[float, ...] = DEFAULT_RATES
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    workflows: int = 1000               # per cell and epoch (the seed's ~4,550 role steps per cell)
    sampling: str = "uniform"
    weights: tuple[float, ...] | None = None
    curriculum_epochs: int = 0
    epochs: int = 30
    constraint: str = "bust:0.05"
    reward: str = "goodput"
    lambda_init: float = 0.2
    lambda_lr: float = 1.0
    warmup_epochs: int = 0
    lambda_scope: str = "cell"          # shared | tier | cell: one λ, one per budget tier, one per cell
    ppo_epochs: int = 3
    minibatch_size: int = 1024
    learning_rate: float = 3e-3
    entropy_coef: float = 0.001         # small: where budgets are loose the best pair wins by a few points
    # Charge on the plan: price × Σ over its workflow's calls of the calls waiting at the
    # chosen server / max_num_seqs (episodes.py). A workflow's own outcome does not count the
    # queueing its calls cause the others, so at loose budgets and high load the planner
    # learns many-agent plans that overload the big model (BENCHMARKS.md, router_training.py).
    planner_congestion_price: float = 0.01
    advantage_normalization: str = "tier"  # tier | batch | none (see ADVANTAGE_NORMALIZATIONS)
    hidden: int = 64
    observation: str = "full"           # what the executor sees; "reference": budget-blind (features.py)
    planner: str = "learned"            # "reference": the reference's fixed budget-blind plan
    seed: int = 0
    telemetry: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError("--epochs", "must be at least 1")
        if self.ppo_epochs < 1:
            raise ConfigError("--ppo-epochs", "must be at least 1")
        if self.reward not in REWARDS:
            raise ConfigError("--reward", f"{self.reward!r}; allowed: {', '.join(REWARDS)}")
        if self.observation not in OBSERVATIONS:
            raise ConfigError("--observation", f"{self.observation!r}; allowed: {', '.join(OBSERVATIONS)}")
        if self.planner not in PLANNERS:
            raise ConfigError("--planner", f"{self.planner!r}; allowed: {', '.join(PLANNERS)}")
        if self.advantage_normalization not in ADVANTAGE_NORMALIZATIONS:
            raise ConfigError("--advantage-normalization", f"{self.advantage_normalization!r}; allowed: "
                              f"{', '.join(ADVANTAGE_NORMALIZATIONS)}")
        if self.lambda_scope not in LAMBDA_SCOPES:
            raise ConfigError("--lambda-scope", f"{self.lambda_scope!r}; allowed: {', '.join(LAMBDA_SCOPES)}")
        for name in ("lambda_init", "lambda_lr", "warmup_epochs", "learning_rate", "entropy_coef"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"--{name.replace('_', '-')}", "must be >= 0")
        if not (math.isfinite(self.planner_congestion_price) and self.planner_congestion_price >= 0):
            raise ConfigError("--planner-congestion-price", "must be a finite number >= 0")
        if self.planner_congestion_price > 0 and self.planner != "learned":
            raise ConfigError("--planner-congestion-price", "needs the learned planner (--planner learned): "
                              "the charge is paid by the plan; set it to 0 with the reference planner")
        Constraint.parse(self.constraint)
        self.grid()

    def grid(self) -> Grid:
        return Grid(self.rates, self.budgets, self.workflows, self.sampling, self.weights, self.curriculum_epochs)

    def ppo(self) -> PPOConfig:
        return PPOConfig(ppo_epochs=self.ppo_epochs, minibatch_size=self.minibatch_size,
                         learning_rate=self.learning_rate, entropy_coef=self.entropy_coef,
                         normalize_advantages=self.advantage_normalization != "none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        values.setdefault("planner_congestion_price", 0.0)  # runs saved before the option were trained without it
        return cls(**values)


def make_policies(hidden: int = 64, observation: str = "full") -> tuple[PlannerPolicy, ExecutorPolicy]:
    """Fresh planner and executor networks for the agentserve action spaces."""
    planner = PlannerPolicy(PLAN_FEATURE_DIM, len(TOPOLOGIES), MAX_AGENTS, len(ROLES), hidden=hidden)
    width, pair_features = executor_dims(observation)
    executor = ExecutorPolicy(width, N_ACTIONS, hidden=hidden, pair_features=pair_features)
    return planner, executor


def epoch_seeds(seed: int, epoch: int, n_cells: int) -> tuple[list[int], int]:
    """(one simulator seed per cell, the torch seed) of an epoch, from (seed, epoch) alone."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(n_cells + 1, dtype=np.uint32)
    return [int(s) for s in state[:n_cells]], int(state[-1])


def workflow_reward(kind: str, solved: np.ndarray, latency: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Reward of finished workflows (see module docstring)."""
    solved = solved.astype(np.float64)
    if kind == "goodput":
        return solved * (latency <= budget)
    if kind == "solved":
        return solved
    return solved - np.maximum(0.0, latency / budget - 1.0)


@dataclass
class Trainer:
    """A training run in a run folder: networks, optimizer, multipliers, log."""

    config: TrainConfig
    run_dir: Path
    planner: PlannerPolicy
    executor: ExecutorPolicy
    optimizer: torch.optim.Optimizer
    multipliers: LagrangeMultipliers
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_done: int = 0

    @classmethod
    def create(cls, config: TrainConfig, run_dir: Path) -> Trainer:
        torch.manual_seed(config.seed)
        planner, executor = make_policies(config.hidden, config.observation)
        params = list(planner.parameters()) + list(executor.parameters())
        optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=1e-5)
        constraint = Constraint.parse(config.constraint)
        n_groups = len(config.rates) * len(config.budgets) if config.lambda_scope == "cell" else len(config.budgets)
        multipliers = LagrangeMultipliers(n_groups, constraint.limit, config.lambda_init, config.lambda_lr,
                                          config.warmup_epochs, separate=config.lambda_scope != "shared")
        trainer = cls(config, Path(run_dir), planner, executor, optimizer, multipliers)
        latest = trainer.run_dir / "checkpoints" / checkpoint.LATEST
        if latest.is_file():
            trainer._restore(checkpoint.load(latest))
        return trainer

    def _restore(self, state: dict[str, Any]) -> None:
        saved = TrainConfig.from_dict(state["config"])
        if {**saved.to_dict(), "epochs": 0} != {**self.config.to_dict(), "epochs": 0}:
            raise ConfigError("--out", f"{self.run_dir} holds a training run with another configuration; "
                              "use a new --out folder or the same options (only --epochs may change)")
        self.planner.load_state_dict(state["planner"])
        self.executor.load_state_dict(state["executor"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.multipliers.load_state_dict(state["multipliers"])
        self.history = list(state["history"])
        self.epochs_done = int(state["epochs_done"])

    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "planner": self.planner.state_dict(),
            "executor": self.executor.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "multipliers": self.multipliers.state_dict(),
            "history": self.history,
        }

    def run_epoch(self, on_round: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Collect one epoch of experience, update the policy and λ, checkpoint; return its log line."""
        from loadwise.systems.agentserve import Lockstep
        from loadwise.systems.agentserve import telemetry as telemetry_io

        cfg, epoch = self.config, self.epochs_done
        started, cpu_started = time.perf_counter(), time.process_time()
        cells = cfg.grid().epoch_cells(epoch)
        sim_seeds, torch_seed = epoch_seeds(cfg.seed, epoch, len(cells))
        router = PolicyRouter(self.planner, self.executor, greedy=False, seed=torch_seed, record=True,
                              observation=cfg.observation, planner_kind=cfg.planner)
        driver = Lockstep(cells, sim_seeds)
        tick = (lambda d: on_round(*d.progress())) if on_round is not None else None
        driver.run(router, tick)
        if on_round is not None:
            on_round(*driver.progress())  # the last completions come after the last round
        rollout_s = time.perf_counter() - started

        done = driver.pop_finished()
        constraint = Constraint.parse(cfg.constraint)
        budgets = np.asarray(cfg.budgets)
        tier = np.searchsorted(budgets, done.budget)
        if cfg.lambda_scope == "cell":
            rate_of_sim = np.array([cfg.rates.index(c.rate) for c in cells])
            group = rate_of_sim[done.sim_index] * len(budgets) + tier
        else:
            group = tier
        reward = workflow_reward(cfg.reward, done.solved, done.workflow_latency, done.budget)
        cost = constraint.cost(done.workflow_latency, done.budget)
        outcomes = Outcomes(done.sim_index, done.workflow_id, reward, cost, tier, group)
        applied = self.multipliers.applied(epoch)
        plans, steps = build_decisions(router.plan_log.arrays(), router.step_log.arrays(), outcomes, applied, cfg.ppo(),
                                       cfg.advantage_normalization == "tier", cfg.planner_congestion_price)
        generator = torch.Generator().manual_seed(torch_seed)
        groups = [(self.planner, plans), (self.executor, steps)]
        stats = ppo_update([(p, d) for p, d in groups if d is not None], self.optimizer, cfg.ppo(), generator)
        self.multipliers.update(epoch, group, cost)
        counts = np.bincount(tier, minlength=len(budgets))
        sums = np.bincount(tier, weights=cost, minlength=len(budgets))
        violation = [None if n == 0 else float(s / n - constraint.limit) for s, n in zip(sums, counts)]

        actions = np.concatenate(router.step_log.actions)
        plan_actions = np.concatenate(router.plan_log.actions) if router.plan_log.actions else None
        results = driver.results(record=cfg.telemetry, run_ids=[f"train-{c.label}" for c in cells], epoch=epoch)
        if cfg.telemetry:
            telemetry_io.write(self.run_dir / "telemetry" / f"epoch-{epoch:04d}",
                               pd.concat([r.steps for r in results], ignore_index=True),
                               pd.concat([r.workflows for r in results], ignore_index=True))
        within = done.workflow_latency <= done.budget
        line = {
            "epoch": epoch,
            "workflows": int(len(done)),
            "role_steps": int(len(actions)),
            "reward": float(reward.mean()),
            "cost": float(cost.mean()),
            "goodput": float((done.solved & within).mean()),
            "accuracy": float(done.solved.mean()),
            "bust_rate": float((~within).mean()),
            "agents_per_plan": None if plan_actions is None else float(plan_actions[:, 1].mean() + 1),
            "waiting_per_call": float(np.concatenate(router.step_log.congestion).mean()),
            "lambda": self.multipliers.values.tolist(),
            "lambda_applied": applied.tolist(),
            "violation_per_tier": {f"{b:g}": v for b, v in zip(cfg.budgets, violation)},
            "model_mix": dict(zip(MODELS, (np.bincount(actions // N_STRATEGIES, minlength=len(MODELS)) / len(actions)).tolist())),
            "strategy_mix": dict(zip(STRATEGIES, (np.bincount(actions % N_STRATEGIES, minlength=N_STRATEGIES) / len(actions)).tolist())),
            "ppo": {k: v for k, v in asdict(stats).items() if k != "minibatches"},
            "seconds": time.perf_counter() - started,
            "rollout_seconds": rollout_s,
            "cpu_seconds": time.process_time() - cpu_started,
        }
        self.history.append(line)
        self.epochs_done = epoch + 1
        checkpoint.save(self.run_dir / "checkpoints", self.epochs_done, self.state())
        from loadwise.files import write_json

        write_json(self.run_dir / "history.json", self.history)
        return line


def summary_info(line: dict[str, Any]) -> str:
    """The progress bar's live figures: reward, cost, λ and violation per tier."""
    lam = np.asarray(line["lambda"])
    n_tiers = len(line["violation_per_tier"])
    if len(lam) > n_tiers:  # one λ per cell (rate-major): show each tier's largest
        lam = lam.reshape(-1, n_tiers).max(axis=0)
    lam_text = f"{lam[0]:.2f}" if len(lam) == 1 else "/".join(f"{v:.2f}" for v in lam)
    viol = " ".join(f"{b}:{v:+.2f}" for b, v in line["violation_per_tier"].items() if v is not None)
    return (f"reward {line['reward']:.3f}  cost {line['cost']:.3f}  goodput {line['goodput']:.3f}  "
            f"λ {lam_text}  viol {viol}")


def train(config: TrainConfig, out: str | Path | None = None, show_progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Trainer:
    """Train (or resume training in `out`) until `config.epochs` epochs are done."""
    from loadwise.app.progress import make_progress
    from loadwise.app.rundir import new_run_dir, write_run_info

    run_dir = new_run_dir("router-train", out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest and keeps runs reproducible
    try:
        trainer = Trainer.create(config, run_dir)
        write_run_info(run_dir, RUN_KIND, config.to_dict())
        total_wf = sum(c.workflows for c in config.grid().epoch_cells(trainer.epochs_done)) or 1
        with make_progress(disable=not show_progress) as progress:
            task = progress.add_task("train", total=config.epochs, completed=trainer.epochs_done,
                                     info=summary_info(trainer.history[-1]) if trainer.history else "")
            inner = progress.add_task("epoch", total=total_wf, info="")
            while trainer.epochs_done < config.epochs:
                e = trainer.epochs_done
                total_wf = sum(c.workflows for c in config.grid().epoch_cells(e))
                progress.reset(inner, total=total_wf, description=f"epoch {e}")
                line = trainer.run_epoch(lambda done, _total: progress.update(inner, completed=done))
                progress.update(task, advance=1, info=summary_info(line))
                if on_epoch is not None:
                    on_epoch(line)
    finally:
        torch.set_num_threads(threads)
    return trainer
