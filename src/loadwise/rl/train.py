"""The training loop: PPO-Lagrangian over the rate × budget grid of the serving simulator.

Before the first epoch the networks are warm-started by behaviour cloning of a heuristic
teacher (`imitation`, default the budget-aware greedy router; `imitation_teacher none`
starts from random networks). One epoch:

1. The grid picks the epoch's cells (`sampling.CellSampling.epoch_cells`: uniform, weighted or a
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
   `ppo_epochs` passes of clipped PPO (the entropy bonus decays linearly to 0 over
   `entropy_decay_epochs`), then one projected ascent step on λ.
5. The epoch's log line (reward, cost, λ, violation per tier, model/strategy mix) and
   telemetry of every role step, for the caller to keep with the `state()` to checkpoint
   (`loadwise.app.train_router` owns the run folder).

Randomness of epoch e (simulator seeds, action sampling, minibatch order) comes from
SeedSequence([seed, e]) alone, so resuming from the checkpoint after epoch e−1 repeats
epoch e exactly as an uninterrupted run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from loadwise.errors import ConfigError
from loadwise.rl.config import TrainConfig
from loadwise.rl.constraint import Constraint
from loadwise.rl.episodes import Outcomes, build_decisions
from loadwise.rl.imitation import IMITATION_STREAM, clone, teacher_rollout
from loadwise.rl.lagrange import LagrangeMultipliers
from loadwise.rl.policies import ExecutorPolicy, PlannerPolicy, make_policies
from loadwise.rl.ppo import PPOConfig, ppo_update
from loadwise.rl.router import PolicyRouter
from loadwise.systems.agentserve.lockstep import Cell, Lockstep
from loadwise.systems.agentserve.profiles import Profiles, load_profiles
from loadwise.systems.agentserve.routing import MODELS, N_STRATEGIES, STRATEGIES


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
class EpochResult:
    """What one epoch leaves behind: its log line and, when recorded, role-step telemetry."""

    line: dict[str, Any]
    steps: pd.DataFrame | None
    workflows: pd.DataFrame | None


@dataclass
class Trainer:
    """A training run: networks, optimizer, multipliers, log."""

    config: TrainConfig
    planner: PlannerPolicy
    executor: ExecutorPolicy
    optimizer: torch.optim.Optimizer
    multipliers: LagrangeMultipliers
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_done: int = 0
    profiles: Profiles = field(default_factory=load_profiles)  # read once, not once per epoch

    @classmethod
    def create(cls, config: TrainConfig, state: dict[str, Any] | None = None) -> Trainer:
        """Fresh networks, or the run a checkpoint `state` holds (it must have the same config)."""
        torch.manual_seed(config.seed)
        planner, executor = make_policies(config.hidden, config.observation)
        params = list(planner.parameters()) + list(executor.parameters())
        optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=1e-5)
        constraint = Constraint.parse(config.constraint)
        n_groups = len(config.rates) * len(config.budgets) if config.lambda_scope == "cell" else len(config.budgets)
        multipliers = LagrangeMultipliers(n_groups, constraint.limit, config.lambda_init, config.lambda_lr,
                                          config.warmup_epochs, separate=config.lambda_scope != "shared")
        trainer = cls(config, planner, executor, optimizer, multipliers)
        if state is not None:
            trainer._restore(state)
        return trainer

    def _restore(self, state: dict[str, Any]) -> None:
        saved = TrainConfig.from_dict(state["config"])
        if {**saved.to_dict(), "epochs": 0} != {**self.config.to_dict(), "epochs": 0}:
            raise ConfigError("out", "holds a training run with another configuration; "
                              "use a new run folder or the same options (only the number of epochs may change)")
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

    def warm_start(self) -> dict[str, Any]:
        """Clone the teacher on one rollout over the grid (`imitation`); what it measured."""
        cfg = self.config
        cells = [Cell(rate, budget, cfg.workflows) for rate, budget in cfg.grid().cells()]
        state = np.random.SeedSequence([int(cfg.seed), IMITATION_STREAM]).generate_state(len(cells) + 1, dtype=np.uint32)
        constraint = Constraint.parse(cfg.constraint)
        plans, steps, teacher = teacher_rollout(
            cfg.imitation_headroom, cells, [int(s) for s in state[:-1]], cfg.observation, self.profiles,
            lambda d: workflow_reward(cfg.reward, d.solved, d.workflow_latency, d.budget),
            lambda d: constraint.cost(d.workflow_latency, d.budget))
        groups = [(p, d) for p, d in ((self.planner, plans), (self.executor, steps)) if d is not None]
        losses = clone(groups, cfg.imitation_passes, cfg.learning_rate, PPOConfig.value_coef,
                       torch.Generator().manual_seed(int(state[-1])))
        return {"teacher": cfg.imitation_teacher, **{f"teacher_{k}": v for k, v in teacher.items()}, **losses,
                "decisions": sum(len(d) for _, d in groups)}

    def run_epoch(self, on_round: Callable[[int, int], None] | None = None) -> EpochResult:
        """Collect one epoch of experience, update the policy and λ; return its log line and telemetry.

        `on_round(workflows finished, workflows in the epoch)` is called as the rollout goes.
        """
        cfg, epoch = self.config, self.epochs_done
        started, cpu_started = time.perf_counter(), time.process_time()
        warm_start = self.warm_start() if epoch == 0 and cfg.imitation_teacher != "none" else None
        cells = cfg.cell_sampling().epoch_cells(epoch)
        sim_seeds, torch_seed = epoch_seeds(cfg.seed, epoch, len(cells))
        router = PolicyRouter(self.planner, self.executor, greedy=False, seed=torch_seed, record=True,
                              observation=cfg.observation, planner_kind=cfg.planner)
        driver = Lockstep(cells, sim_seeds, self.profiles)
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
        ppo = cfg.ppo(epoch)
        plans, steps = build_decisions(router.plan_log.arrays(), router.step_log.arrays(), outcomes, applied, ppo,
                                       cfg.advantage_normalization == "tier", cfg.planner_congestion_price)
        generator = torch.Generator().manual_seed(torch_seed)
        groups = [(self.planner, plans), (self.executor, steps)]
        stats = ppo_update([(p, d) for p, d in groups if d is not None], self.optimizer, ppo, generator)
        self.multipliers.update(epoch, group, cost)
        counts = np.bincount(tier, minlength=len(budgets))
        sums = np.bincount(tier, weights=cost, minlength=len(budgets))
        violation = [None if n == 0 else float(s / n - constraint.limit) for s, n in zip(sums, counts)]

        actions = np.concatenate(router.step_log.actions)
        plan_actions = np.concatenate(router.plan_log.actions) if router.plan_log.actions else None
        results = driver.results(record=cfg.telemetry, run_ids=[f"train-{c.label}" for c in cells], epoch=epoch)
        step_rows = pd.concat([r.steps for r in results], ignore_index=True) if cfg.telemetry else None
        workflow_rows = pd.concat([r.workflows for r in results], ignore_index=True) if cfg.telemetry else None
        within = done.workflow_latency <= done.budget
        line = {
            "epoch": epoch,
            "workflows": len(done),
            "role_steps": len(actions),
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
            "entropy_coef": ppo.entropy_coef,
            **({"imitation": warm_start} if warm_start is not None else {}),
            "seconds": time.perf_counter() - started,
            "rollout_seconds": rollout_s,
            "cpu_seconds": time.process_time() - cpu_started,
        }
        self.history.append(line)
        self.epochs_done = epoch + 1
        return EpochResult(line, step_rows, workflow_rows)
