"""Warm start by imitation: behaviour cloning of a heuristic teacher before PPO.

PPO from random networks spends its first epochs finding what a simple heuristic
already knows, and where the best action wins by a point or two of success probability
(an idle server pool with a loose budget: always the strongest model) its noisy policy
gradient leaves the policy undecided for many epochs. So training starts from a teacher:
the budget-aware `greedy` router (the most accurate pair whose predicted latency fits
`headroom` × the step's share of the remaining budget; its plans shrink with the budget).
At loose budgets it takes quality-first's pair, at tight ones a pair that fits with room
to spare for the queueing it cannot predict.

The teacher is imitated only through what the router observes at decision time — the
same features the networks see (`features.plan_features`, `features.step_features`) —
so the cloned policy is one the networks can represent (behaviour cloning, Pomerleau
1991; Ross et al. 2011 for why a few clean teacher rollouts suffice when PPO then
corrects the drift on the policy's own states). The critics are fitted at the same time
to the teacher's Monte-Carlo returns (γ = 1: every decision of a workflow returns its
outcome), so the first PPO step starts from values that already rank states, not from
noise that would push the cloned actor around.

Randomness: the teacher rollout's simulator seeds and the minibatch order come from
SeedSequence([seed, IMITATION_STREAM]), so a warm start is reproducible and independent of
the epochs' own streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from loadwise.rl.episodes import match_decisions
from loadwise.rl.features import plan_features, step_features
from loadwise.rl.policies import ExecutorPolicy, PlannerPolicy
from loadwise.rl.router import DecisionLog
from loadwise.systems.agentserve.lockstep import Cell, Lockstep
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routers import GreedyRouter
from loadwise.systems.agentserve.routing import Plan, PlanBatch, StepBatch

# Decisions per gradient step of the cloning (a supervised loss: many small steps)
CLONE_MINIBATCH = 256
IMITATION_STREAM = 7_919  # SeedSequence key of the warm start, apart from every epoch's (seed, epoch)


def plan_actions(plan: Plan) -> np.ndarray:
    """A plan as the planner network's action rows [topology, agents − 1, role_0, …] (unused roles 0)."""
    roles = np.where(plan.roles >= 0, plan.roles, 0)
    return np.column_stack([plan.topology, plan.n_agents - 1, roles]).astype(np.int64)


class TeacherRecorder:
    """A simulator `Router` that decides as the greedy teacher and logs (features, teacher action)."""

    needs_oracle = False

    def __init__(self, headroom: float, observation: str) -> None:
        self.teacher = GreedyRouter(headroom)
        self.name = f"teacher:greedy:{headroom:g}"
        self.observation = observation
        self.plan_log = DecisionLog()
        self.step_log = DecisionLog()

    def plan(self, batch: PlanBatch) -> Plan:
        plan = self.teacher.plan(batch)
        self._log(self.plan_log, plan_features(batch), plan_actions(plan), batch)
        return plan

    def route(self, batch: StepBatch) -> np.ndarray:
        actions = np.asarray(self.teacher.route(batch), dtype=np.int64)
        self._log(self.step_log, step_features(batch, self.observation), actions, batch)
        return actions

    @staticmethod
    def _log(log: DecisionLog, obs: np.ndarray, actions: np.ndarray, batch) -> None:
        empty = np.zeros(len(actions), dtype=np.float32)
        log.add(obs, actions, empty, empty, empty, batch.sim_index, batch.workflow_id, empty)


@dataclass
class Demonstrations:
    """One policy's teacher decisions with the outcome of the workflow each belongs to."""

    obs: torch.Tensor
    actions: torch.Tensor
    return_reward: torch.Tensor
    return_cost: torch.Tensor

    def __len__(self) -> int:
        return int(self.obs.shape[0])


def demonstrations(log: dict[str, np.ndarray], sim_index: np.ndarray, workflow_id: np.ndarray,
                   reward: np.ndarray, cost: np.ndarray) -> Demonstrations | None:
    """The logged decisions of finished workflows, each with its workflow's reward and cost."""
    if not log:
        return None
    rows, episode = match_decisions(log, sim_index, workflow_id)
    return Demonstrations(
        obs=torch.from_numpy(np.ascontiguousarray(log["obs"][rows])),
        actions=torch.from_numpy(np.ascontiguousarray(log["actions"][rows])).long(),
        return_reward=torch.from_numpy(reward[episode]).float(),
        return_cost=torch.from_numpy(cost[episode]).float(),
    )


def teacher_rollout(headroom: float, cells: list[Cell], seeds: list[int], observation: str,
                    profiles: Profiles, reward_of, cost_of) -> tuple[Demonstrations | None, Demonstrations | None, dict[str, float]]:
    """(planner demonstrations, executor demonstrations, the teacher's goodput and bust rate).

    `reward_of(finished)` and `cost_of(finished)` score finished workflows as training does.
    """
    recorder = TeacherRecorder(headroom, observation)
    driver = Lockstep(cells, seeds, profiles)
    driver.run(recorder)
    done = driver.pop_finished()
    reward, cost = reward_of(done), cost_of(done)
    within = done.workflow_latency <= done.budget
    figures = {"goodput": float((done.solved & within).mean()), "bust_rate": float((~within).mean())}
    plans = demonstrations(recorder.plan_log.arrays(), done.sim_index, done.workflow_id, reward, cost)
    steps = demonstrations(recorder.step_log.arrays(), done.sim_index, done.workflow_id, reward, cost)
    return plans, steps, figures


def clone(groups: list[tuple[PlannerPolicy | ExecutorPolicy, Demonstrations]], passes: int,
          learning_rate: float, value_coef: float, generator: torch.Generator) -> dict[str, float]:
    """Fit each policy's actor to the teacher's actions (cross-entropy) and its critic to the
    returns (squared error): `passes` times the data in steps of CLONE_MINIBATCH decisions drawn
    in each group's share; the mean losses over the last tenth of the steps."""
    params = [p for policy, _ in groups for p in policy.parameters()]
    optimizer = torch.optim.Adam(params, lr=learning_rate, eps=1e-5)
    total = sum(len(d) for _, d in groups)
    steps = max(1, -(-passes * total // CLONE_MINIBATCH))
    sizes = [max(1, round(CLONE_MINIBATCH * len(d) / total)) for _, d in groups]
    tail = max(1, steps // 10)
    sums = {"imitation_loss": 0.0, "value_loss": 0.0}
    for step in range(steps):
        loss = torch.zeros(())
        for (policy, d), size in zip(groups, sizes):
            idx = torch.randint(len(d), (size,), generator=generator)
            logp, _, v_r, v_c = policy.evaluate(d.obs[idx], d.actions[idx])
            share = size / sum(sizes)
            imitation = -logp.mean()
            value = 0.5 * (((v_r - d.return_reward[idx]) ** 2).mean() + ((v_c - d.return_cost[idx]) ** 2).mean())
            loss = loss + share * (imitation + value_coef * value)
            if step >= steps - tail:
                sums["imitation_loss"] += share * imitation.item() / tail
                sums["value_loss"] += share * value.item() / tail
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return sums
