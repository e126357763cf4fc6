"""The trained router as a simulator `Router`: batched planner and executor calls.

`PolicyRouter` turns decision batches into features, runs the two networks once per
batch, and either samples actions (training, and evaluation by default: the constrained
optimum is a stochastic policy) or takes the most likely action (`greedy=True`). When a
`DecisionLog` is attached, every decision is recorded with what PPO needs later
(features, action, log-probability, both values) and the (simulation, workflow) it
belongs to, so rewards and costs can be assigned once workflows finish.

`planner="reference"` replaces the planner network by the reference's fixed, budget-blind
plan (`systems.agentserve.routers.reference_plan`); its plans are not logged (nothing to
train). `observation` picks what the executor sees (`features.OBSERVATIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from loadwise.rl import checkpoint
from loadwise.rl.config import TrainConfig
from loadwise.rl.features import plan_features, step_features, waiting_per_slot
from loadwise.rl.policies import ExecutorPolicy, PlannerPolicy, make_policies
from loadwise.systems.agentserve.routers import reference_plan
from loadwise.systems.agentserve.routing import MAX_AGENTS, N_STRATEGIES, Plan, PlanBatch, StepBatch


@dataclass
class DecisionLog:
    """Decisions of one policy in arrival order, as lists of per-batch arrays."""

    obs: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    logp: list[np.ndarray] = field(default_factory=list)
    value_reward: list[np.ndarray] = field(default_factory=list)
    value_cost: list[np.ndarray] = field(default_factory=list)
    sim_index: list[np.ndarray] = field(default_factory=list)
    workflow_id: list[np.ndarray] = field(default_factory=list)
    order: list[np.ndarray] = field(default_factory=list)  # global decision counter (time order)
    # executor decisions only: the waiting line the call joined (see `dispatch_congestion`)
    congestion: list[np.ndarray] = field(default_factory=list)

    def add(self, obs, actions, logp, v_r, v_c, sim_index, workflow_id, order, congestion=None) -> None:
        self.obs.append(obs)
        self.actions.append(actions)
        self.logp.append(logp)
        self.value_reward.append(v_r)
        self.value_cost.append(v_c)
        self.sim_index.append(np.asarray(sim_index, dtype=np.int64))
        self.workflow_id.append(np.asarray(workflow_id, dtype=np.int64))
        self.order.append(order)
        if congestion is not None:
            self.congestion.append(congestion)

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("obs", "actions", "logp", "value_reward", "value_cost", "sim_index", "workflow_id", "order")
        if not self.obs:
            return {}
        if self.congestion:
            names += ("congestion",)
        return {name: np.concatenate(getattr(self, name)) for name in names}


def dispatch_congestion(batch: StepBatch, actions: np.ndarray) -> np.ndarray:
    """Calls waiting at each call's chosen server when it is dispatched, / max_num_seqs.

    A call that joins a saturated server's waiting line delays every call that arrives
    there after it; a server with a free batch slot takes it at once (0). Clipped as the
    executor sees it (`features.waiting_per_slot`).
    """
    model = np.asarray(actions) // N_STRATEGIES
    return waiting_per_slot(batch.servers)[np.arange(len(model)), model]


class PolicyRouter:
    """A `Router` backed by a `PlannerPolicy` and an `ExecutorPolicy`."""

    def __init__(self, planner: PlannerPolicy, executor: ExecutorPolicy, greedy: bool = False,
                 seed: int = 0, record: bool = False, name: str = "ppo", temperature: float = 1.0,
                 observation: str = "full", planner_kind: str = "learned") -> None:
        self.name = name
        self.observation = observation
        self.planner_kind = planner_kind
        self.planner = planner
        self.executor = executor
        self.greedy = greedy
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(int(seed))
        self.plan_log = DecisionLog() if record else None
        self.step_log = DecisionLog() if record else None
        self._counter = 0

    def _next_order(self, n: int) -> np.ndarray:
        order = np.arange(self._counter, self._counter + n)
        self._counter += n
        return order

    def plan(self, batch: PlanBatch) -> Plan:
        if self.planner_kind == "reference":
            return reference_plan(batch)
        obs = plan_features(batch)
        actions, logp, v_r, v_c = self.planner.act(torch.from_numpy(obs), self.generator, self.greedy,
                                                   self.temperature)
        a = actions.numpy()
        if self.plan_log is not None:
            self.plan_log.add(obs, a, logp.numpy(), v_r.numpy(), v_c.numpy(),
                              batch.sim_index, batch.workflow_id, self._next_order(len(a)))
        n_agents = a[:, 1] + 1
        roles = np.where(np.arange(MAX_AGENTS)[None, :] < n_agents[:, None], a[:, 2:], -1)
        return Plan(topology=a[:, 0].copy(), n_agents=n_agents, roles=roles)

    def route(self, batch: StepBatch) -> np.ndarray:
        obs = step_features(batch, self.observation)
        actions, logp, v_r, v_c = self.executor.act(torch.from_numpy(obs), self.generator, self.greedy,
                                                    self.temperature)
        a = actions.numpy()
        if self.step_log is not None:
            self.step_log.add(obs, a, logp.numpy(), v_r.numpy(), v_c.numpy(),
                              batch.sim_index, batch.workflow_id, self._next_order(len(a)),
                              dispatch_congestion(batch, a))
        return a


def load_router(path, greedy: bool = False, seed: int = 0, name: str = "ppo",
                temperature: float = 1.0) -> tuple[PolicyRouter, dict]:
    """A `PolicyRouter` from a checkpoint file or training run folder, and the checkpoint."""
    state = checkpoint.load(path)
    config = TrainConfig.from_dict(state["config"])
    planner, executor = make_policies(config.hidden, config.observation)
    planner.load_state_dict(state["planner"])
    executor.load_state_dict(state["executor"])
    planner.eval()
    executor.eval()
    router = PolicyRouter(planner, executor, greedy=greedy, seed=seed, name=name, temperature=temperature,
                          observation=config.observation, planner_kind=config.planner)
    return router, state
