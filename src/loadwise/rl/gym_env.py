"""The serving layer as a `gymnasium.Env`, for people who bring their own RL library.

One episode is one simulation of a cell (rate, budget, `workflows` workflows, arrival
pattern). Each `step` is **one executor decision**: the (model, strategy) of one role
step. Plans are made by a fixed planner (`planner`: "reference" — the reference's
budget-blind plan; or "budget-aware" — the reference plan shrunk to fit the budget, as
the greedy baseline plans), so the action space stays one discrete choice.

- Observation: `Box(-1, 1, (STEP_OBS_DIM,), float32)`, the executor's flat observation
  (`features.step_observation`, layout `features.STEP_OBS_LAYOUT`: item subject and
  level, role, topology, progress, remaining-budget fraction, each server's
  running/waiting/recent latency, predicted latency over remaining budget and success
  probability of the 15 pairs), clipped to the box.
- Action: `Discrete(15)`; action a is (model a // 3, strategy a % 3), `routing.MODELS`
  and `routing.STRATEGIES`.
- Reward: the number of workflows that finished since the previous decision solved
  within their budget (so the episode return is the cell's goodput × workflows).
- `info`: `cost` (workflows that finished over budget since the previous decision, for
  constrained RL), `finished`, `solved`, and the decision's `sim_time`.
- Termination: every workflow has finished. No truncation.

Decisions of one simulation round share one server snapshot (as in the lockstep driver
that trains loadwise's own router): the agent decides them one after another, and they
are dispatched together once all are known.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from loadwise.errors import ConfigError
from loadwise.rl.features import STEP_OBS_DIM, step_observation
from loadwise.systems.agentserve.lockstep import Lockstep
from loadwise.systems.agentserve.profiles import Profiles, load_profiles
from loadwise.systems.agentserve.routers import budget_aware_plan, reference_plan
from loadwise.systems.agentserve.routing import N_ACTIONS
from loadwise.systems.agentserve.simulator import Cell

PLANNERS = {"reference": reference_plan, "budget-aware": budget_aware_plan}


class AgentServeEnv(gym.Env):
    """One simulated cell; one (model, strategy) decision per step. See the module docstring."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, rate: float = 50.0, budget: float = 50.0, workflows: int = 200, pattern: str = "poisson",
                 planner: str = "budget-aware", profiles: Profiles | None = None) -> None:
        if planner not in PLANNERS:
            raise ConfigError("planner", f"unknown planner {planner!r}; allowed: {', '.join(PLANNERS)}")
        self.cell = Cell(rate=float(rate), budget=float(budget), workflows=int(workflows), pattern=pattern).check()
        self.plan_fn = PLANNERS[planner]
        self.profiles = profiles if profiles is not None else load_profiles()
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(STEP_OBS_DIM,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._driver: Lockstep | None = None

    # gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        sim_seed = int(self.np_random.integers(0, 2**31 - 1))
        self._driver = Lockstep([self.cell], sim_seed, self.profiles)
        self._batch = None  # the round of role steps being decided, one action per step()
        self._obs = None  # its observations
        self._actions: list[int] = []
        obs, _, _ = self._next_decision()
        return obs, {"sim_time": self._now()}

    def step(self, action):
        if self._driver is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, {N_ACTIONS}), got {action!r}")
        self._actions.append(int(action))
        if len(self._actions) == len(self._batch):
            self._driver.apply_actions(np.asarray(self._actions, dtype=np.int64), "gym-agent")
            self._batch, self._actions = None, []
        obs, done, finished = self._next_decision()
        within = finished.workflow_latency <= finished.budget
        reward = float(np.sum(finished.solved & within))
        info = {"cost": float(np.sum(~within)), "finished": len(finished),
                "solved": int(np.sum(finished.solved)), "sim_time": self._now()}
        return obs, reward, done, False, info

    # decisions

    def _now(self) -> float:
        return float(self._driver.sims[0].now) if self._driver is not None else 0.0

    def _next_decision(self):
        """(observation of the next pending role step, terminated, workflows finished meanwhile)."""
        driver = self._driver
        while self._batch is None:
            plans = driver.next_plans()
            if driver.done:
                return np.zeros(STEP_OBS_DIM, dtype=np.float32), True, driver.pop_finished()
            if plans is not None:
                driver.apply_plans(self.plan_fn(plans), "gym-planner")
            batch = driver.next_steps()
            if len(batch):
                self._batch, self._obs = batch, step_observation(batch)
            else:
                driver.apply_actions(np.zeros(0, dtype=np.int64), "gym-agent")
        obs = np.clip(self._obs[len(self._actions)], -1.0, 1.0).astype(np.float32)
        return obs, False, driver.pop_finished()
