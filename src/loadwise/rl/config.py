"""What defines a router training run: every setting, validated, stored with the run.

`TrainConfig` is saved in the run folder and in every checkpoint, so a resumed run
checks it trains the same thing and a loaded router rebuilds the same networks.
`REFERENCE_SETUP` is the reference system's whole setup, to compare ours with.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from loadwise.errors import ConfigError
from loadwise.rl.constraint import Constraint
from loadwise.rl.features import OBSERVATIONS
from loadwise.rl.ppo import PPOConfig
from loadwise.rl.sampling import CellSampling
from loadwise.scenarios.grid import RECOMMENDED_GRID, RateBudgetGrid

PLANNERS = ("learned", "reference")
REWARDS = ("goodput", "solved", "reference")
# How advantages are scaled before the PPO step: standardized within each budget tier
# (see episodes.py; every tier gets a comparable step), over the whole batch (the usual
# PPO recipe), or not at all (raw reward units: an unbounded penalty then outweighs a
# reward bounded by 1; what that does and does not cause: BENCHMARKS.md, router_training.py).
ADVANTAGE_NORMALIZATIONS = ("tier", "batch", "none")
LAMBDA_SCOPES = ("shared", "tier", "cell")
# Teachers of the warm start (imitation.py): routers that decide from what the router observes
TEACHERS = ("greedy",)
# The reference system's training setup, as far as the InfraMind analysis describes it: its
# reward, the cost-ratio constraint with one shared λ (lambda_init 0.2, no warmup, 3 PPO
# epochs), its budget-blind planner, and an executor that does not see the budget.
# Batch-wide advantage normalization is the usual PPO recipe (per-tier is ours).
REFERENCE_SETUP: dict[str, Any] = dict(
    reward="reference", constraint="ratio:1", lambda_scope="shared", lambda_init=0.2, warmup_epochs=0,
    ppo_epochs=3, observation="reference", planner="reference", advantage_normalization="batch",
    planner_congestion_price=0.0, entropy_decay_epochs=0, imitation_teacher="none")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored in run.json; resume checks it)."""

    rates: tuple[float, ...] = RECOMMENDED_GRID.rates
    budgets: tuple[float, ...] = RECOMMENDED_GRID.budgets
    # per cell and epoch; the InfraMind run used 1000 (~4,550 role steps per cell). From the
    # greedy router's warm start, 500 reach the same router in half the time (BENCHMARKS.md)
    workflows: int = 500
    sampling: str = "uniform"
    weights: tuple[float, ...] | None = None
    curriculum_epochs: int = 0
    epochs: int = 20
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
    # The entropy bonus decays linearly to 0 over this many epochs, so the policy can become
    # decisive where one action is clearly best (idle, loose budget) once it has explored;
    # 0: constant. (Counted from epoch 0, not from the last epoch: a run extended with more
    # epochs repeats its first ones exactly.)
    entropy_decay_epochs: int = 20
    # Behaviour cloning of this router before the first epoch (imitation.py); none: random networks
    imitation_teacher: str = "greedy"
    # the greedy teacher keeps this share of a step's budget allowance: 0.4 leaves room for the
    # queueing it cannot predict (bust ≤ 2 % at 50 s where headroom 1 busts 25 %; BENCHMARKS.md)
    imitation_headroom: float = 0.4
    imitation_passes: int = 4           # over the teacher's decisions in one epoch's rollout of the grid
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
            raise ConfigError("epochs", "must be at least 1")
        if self.ppo_epochs < 1:
            raise ConfigError("ppo_epochs", "must be at least 1")
        if self.reward not in REWARDS:
            raise ConfigError("reward", f"{self.reward!r}; allowed: {', '.join(REWARDS)}")
        if self.observation not in OBSERVATIONS:
            raise ConfigError("observation", f"{self.observation!r}; allowed: {', '.join(OBSERVATIONS)}")
        if self.planner not in PLANNERS:
            raise ConfigError("planner", f"{self.planner!r}; allowed: {', '.join(PLANNERS)}")
        if self.advantage_normalization not in ADVANTAGE_NORMALIZATIONS:
            raise ConfigError("advantage_normalization", f"{self.advantage_normalization!r}; allowed: "
                              f"{', '.join(ADVANTAGE_NORMALIZATIONS)}")
        if self.lambda_scope not in LAMBDA_SCOPES:
            raise ConfigError("lambda_scope", f"{self.lambda_scope!r}; allowed: {', '.join(LAMBDA_SCOPES)}")
        for name in ("lambda_init", "lambda_lr", "warmup_epochs", "learning_rate", "entropy_coef"):
            if not getattr(self, name) >= 0:
                raise ConfigError(name, "must be >= 0")
        if not (math.isfinite(self.planner_congestion_price) and self.planner_congestion_price >= 0):
            raise ConfigError("planner_congestion_price", "must be a finite number >= 0")
        if self.planner_congestion_price > 0 and self.planner != "learned":
            raise ConfigError("planner_congestion_price", "needs the learned planner (planner learned): "
                              "the charge is paid by the plan; set it to 0 with the reference planner")
        if self.imitation_teacher not in ("none", *TEACHERS):
            raise ConfigError("imitation_teacher", f"{self.imitation_teacher!r}; allowed: none, {', '.join(TEACHERS)}")
        if self.imitation_teacher != "none" and self.planner != "learned":
            raise ConfigError("imitation_teacher", "needs the learned planner (planner learned); use none "
                              "with the reference planner")
        if self.entropy_decay_epochs < 0:
            raise ConfigError("entropy_decay_epochs", "must be >= 0 (0: a constant entropy bonus)")
        if not (math.isfinite(self.imitation_headroom) and self.imitation_headroom > 0):
            raise ConfigError("imitation_headroom", "must be a finite number > 0")
        if self.imitation_passes < 1:
            raise ConfigError("imitation_passes", "must be at least 1")
        Constraint.parse(self.constraint)
        self.cell_sampling()

    def grid(self) -> RateBudgetGrid:
        return RateBudgetGrid(self.rates, self.budgets)

    def cell_sampling(self) -> CellSampling:
        return CellSampling(self.grid(), self.workflows, self.sampling, self.weights, self.curriculum_epochs)

    def ppo(self, epoch: int = 0) -> PPOConfig:
        """PPO's settings for `epoch` (the entropy bonus decays over `entropy_decay_epochs`)."""
        decay = 1.0 - epoch / self.entropy_decay_epochs if self.entropy_decay_epochs else 1.0
        return PPOConfig(ppo_epochs=self.ppo_epochs, minibatch_size=self.minibatch_size,
                         learning_rate=self.learning_rate, entropy_coef=self.entropy_coef * max(0.0, decay),
                         normalize_advantages=self.advantage_normalization != "none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        # runs saved before these options were trained without them
        values.setdefault("planner_congestion_price", 0.0)
        values.setdefault("entropy_decay_epochs", 0)
        values.setdefault("imitation_teacher", "none")
        values.setdefault("imitation_headroom", 1.0)
        return cls(**values)
