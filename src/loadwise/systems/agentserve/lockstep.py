"""The lockstep driver: many independent simulations advanced together, one router call per round.

Each round, every unfinished simulation runs to its next pending decision(s); the
driver gathers all pending plans into one PlanBatch and all pending role steps into
one StepBatch (server load and predictions computed with batched numpy), calls the
router once for each,
and hands the answers back. This is how sweeps meet their speed target and how an RL
trainer collects experience: decisions carry (sim_index, workflow_id, step_index), and
`pop_finished()` returns the workflows that completed since the last call, so every
decision can be credited with its workflow's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from loadwise.systems.agentserve.predictor import Predictor
from loadwise.systems.agentserve.profiles import LEVEL_CENTER, Profiles, load_profiles
from loadwise.systems.agentserve.routing import (
    MAX_AGENTS,
    N_ACTIONS,
    N_MODELS,
    N_STRATEGIES,
    ROLES,
    TOPOLOGIES,
    OracleView,
    Plan,
    PlanBatch,
    PlanOracleView,
    Router,
    ServerLoad,
    StepBatch,
)
from loadwise.systems.agentserve.simulator import Cell, SimResult, Simulation


@dataclass
class FinishedWorkflows:
    """Workflows completed since the last `pop_finished()`; arrays of equal length."""

    sim_index: np.ndarray
    workflow_id: np.ndarray
    solved: np.ndarray
    workflow_latency: np.ndarray
    latency_excl_decision: np.ndarray
    budget: np.ndarray
    n_steps: np.ndarray

    def __len__(self) -> int:
        return len(self.sim_index)


class Lockstep:
    """Drive simulations of `cells` (one per cell) in lockstep.

    `seeds`: one int for all cells (common random numbers across cells: same items and
    unit arrival process) or one seed per cell.
    """

    def __init__(self, cells: Sequence[Cell], seeds: int | Sequence[int] = 0,
                 profiles: Profiles | None = None) -> None:
        self.profiles = profiles if profiles is not None else load_profiles()
        seed_list = [int(seeds)] * len(cells) if np.isscalar(seeds) else [int(s) for s in seeds]  # type: ignore[arg-type]
        if len(seed_list) != len(cells):
            raise ValueError(f"{len(cells)} cells but {len(seed_list)} seeds")
        self.sims = [Simulation(c, s, self.profiles, i) for i, (c, s) in enumerate(zip(cells, seed_list))]
        self.active = list(self.sims)
        p = self.profiles
        self.predictor = Predictor(p)
        self._mean_work = float(p.mean_tokens.mean()) + p.prefill_cost * p.workflow.prompt_tokens  # (M,)
        self.rounds = 0
        self.decisions = 0
        self._plans: list = []   # (simulation, workflow) of the last next_plans()
        self._steps: list = []   # (simulation, workflow, call) of the last next_steps()
        self._extra: dict = {}

    @property
    def done(self) -> bool:
        return not self.active

    # one round

    def step(self, router: Router) -> bool:
        """Advance every simulation to its next decisions and answer them; False when all are done."""
        oracle = bool(getattr(router, "needs_oracle", False))
        name = getattr(router, "name", "router")
        plans = self.next_plans(oracle)
        if self.done:
            return False
        if plans is not None:
            self.apply_plans(router.plan(plans), name)
        self.apply_actions(router.route(self.next_steps(oracle)), name)
        return True

    # the same round in four calls, for callers that decide outside a Router (e.g. a gym env)

    def next_plans(self, oracle: bool = False) -> PlanBatch | None:
        """Run every simulation to its next decisions; the workflows needing a plan now, or None."""
        self.active = [s for s in self.active if s.advance()]
        if not self.active:
            return None
        self.rounds += 1
        self._plans = [(s, wf) for s in self.active for wf in s.pending_plans]
        for s in self.active:
            s.pending_plans = []
        return self._plan_batch(self._plans, oracle) if self._plans else None

    def apply_plans(self, plan: Plan, name: str = "router") -> None:
        """Hand the plans for the last `next_plans()` batch back (row-aligned)."""
        self._apply_plans(self._plans, plan, name)
        self._plans = []

    def next_steps(self, oracle: bool = False) -> StepBatch:
        """The role steps ready now (after plans were applied); answer with `apply_actions`."""
        self._steps = [(s, wf, ci) for s in self.active for wf, ci in s.pending_steps]
        for s in self.active:
            s.pending_steps = []
        batch, self._extra = self._step_batch(self._steps, oracle)
        return batch

    def apply_actions(self, actions: np.ndarray, name: str = "router") -> None:
        """Dispatch the last `next_steps()` batch with int actions in [0, N_ACTIONS)."""
        steps = self._steps
        actions = np.asarray(actions)
        if actions.shape != (len(steps),) or not np.issubdtype(actions.dtype, np.integer) \
                or (len(steps) and (actions.min() < 0 or actions.max() >= N_ACTIONS)):
            raise ValueError(f"router {name!r} must return {len(steps)} int actions in [0, {N_ACTIONS})")
        self._dispatch(steps, actions, self._extra)
        self.decisions += len(steps)
        self._steps, self._extra = [], {}

    def run(self, router: Router, on_round: Callable[[Lockstep], None] | None = None) -> None:
        """Step until every simulation has finished."""
        while self.step(router):
            if on_round is not None:
                on_round(self)

    def results(self, record: bool = True, run_ids: Sequence[str] | None = None, epoch: int = 0) -> list[SimResult]:
        """Metrics (and telemetry when `record`) of every simulation, in cell order."""
        ids = run_ids or [s.cell.label for s in self.sims]
        return [s.result(record, run_id, epoch) for s, run_id in zip(self.sims, ids)]

    def pop_finished(self) -> FinishedWorkflows:
        """Workflows that completed since the last call, across all simulations."""
        rows = []
        for s in self.sims:
            rows += [(s.sim_index, *r) for r in s.finished]
            s.finished = []
        a = np.array(rows, dtype=float).reshape(-1, 7)
        return FinishedWorkflows(
            a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].astype(bool),
            a[:, 3], a[:, 4], a[:, 5], a[:, 6].astype(np.int64),
        )

    def progress(self) -> tuple[int, int]:
        """(workflows finished, workflows in total) across simulations."""
        return sum(len(s.workflow_log) for s in self.sims), sum(s.n_total for s in self.sims)

    # plans

    def _server_state(self, sims: Sequence[Simulation]) -> np.ndarray:
        """Per simulation and server: running, waiting, recent latency, mean work in the
        system and KV tokens held, now (shape (sims, N_MODELS, 5))."""
        mean = self._mean_work.tolist()
        flat = [v for s in sims for srv, d in zip(s.servers, mean) for v in srv.load(s.now, d)]
        return np.array(flat, dtype=float).reshape(len(sims), N_MODELS, 5)

    def _load(self, state: np.ndarray) -> ServerLoad:
        """The ServerLoad of rows of `_server_state`."""
        return ServerLoad(running=state[:, :, 0].astype(np.int64), waiting=state[:, :, 1].astype(np.int64),
                          kv_use=np.clip(state[:, :, 4] / self.profiles.kv_capacity, 0.0, 1.0),
                          recent_latency=state[:, :, 2], max_num_seqs=self.profiles.max_num_seqs)

    def _plan_batch(self, plans: list, oracle: bool) -> PlanBatch:
        sims = [s for s, _ in plans]
        servers = self._load(self._server_state(sims))
        rate = np.array([s.arrivals_last_minute() for s in sims], dtype=float)
        level = np.array([wf.level for _, wf in plans], dtype=np.int64)
        view = None
        if oracle:
            wf_spec = self.profiles.workflow
            base = (self.predictor.theta_term[None] - self.profiles.kappa[None, None, :]
                    * (level - LEVEL_CENTER)[:, None, None]).reshape(len(plans), -1).max(axis=1)
            view = PlanOracleView(
                u_correct=np.stack([s.work.u_correct[wf.wid] for s, wf in plans]),
                best_agent_logit=base + wf_spec.role_bonus,
                best_decision_logit=base,
                peer_weight=wf_spec.peer_weight,
            )
        return PlanBatch(
            servers=servers, arrival_rate=rate,
            budget=np.array([wf.budget for _, wf in plans], dtype=float), level=level,
            subject=np.array([wf.subject for _, wf in plans], dtype=np.int64),
            u_plan=np.array([s.work.u_plan[wf.wid] for s, wf in plans]),
            sim_index=np.array([s.sim_index for s in sims], dtype=np.int64),
            workflow_id=np.array([wf.wid for _, wf in plans], dtype=np.int64), oracle=view,
        )

    def _apply_plans(self, plans: list, plan: Plan, name: str) -> None:
        n = len(plans)
        topo = np.asarray(plan.topology)
        agents = np.asarray(plan.n_agents)
        roles = np.asarray(plan.roles)
        if topo.shape != (n,) or agents.shape != (n,) or roles.shape != (n, MAX_AGENTS):
            raise ValueError(f"router {name!r}: plan arrays must have shapes ({n},), ({n},), ({n}, {MAX_AGENTS})")
        if topo.min() < 0 or topo.max() >= len(TOPOLOGIES) or agents.min() < 1 or agents.max() > MAX_AGENTS:
            raise ValueError(f"router {name!r}: topology must be in [0, {len(TOPOLOGIES)}), n_agents in [1, {MAX_AGENTS}]")
        used = np.arange(MAX_AGENTS)[None, :] < agents[:, None]
        if np.any(used & ((roles < 0) | (roles >= len(ROLES)))):
            raise ValueError(f"router {name!r}: every agent needs a role in [0, {len(ROLES)})")
        for (s, wf), t, k, r in zip(plans, topo.tolist(), agents.tolist(), roles.tolist()):
            s.apply_plan(wf, t, k, r[:k])

    # steps

    def _step_batch(self, steps: list, oracle: bool) -> tuple[StepBatch, dict]:
        p = self.profiles
        # one server snapshot per simulation taking part in this round
        index_of = {id(s): i for i, s in enumerate(self.active)}
        snapshot = self._server_state(self.active)
        rows = []
        for s, wf, ci in steps:
            prompt, _seen, shift = s.step_inputs(wf, ci)
            bonus, lenfac = s.call_bonus(wf, ci)
            slot = wf.tpl.slot[ci]
            rows.append((
                index_of[id(s)], wf.deadline - s.now, wf.budget, wf.call_role[ci], wf.level, wf.subject,
                wf.topology, ci, wf.tpl.n_calls - wf.dispatched, wf.tpl.depth_left[ci],
                s.u_route[wf.wid][slot], s.u_correct[wf.wid][slot], s.z_length[wf.wid][slot],
                prompt, shift, bonus, lenfac, s.sim_index, wf.wid,
            ))
        a = np.array(rows, dtype=float)
        B = len(steps)
        si = a[:, 0].astype(np.int64)
        state = snapshot[si]
        servers = self._load(state)
        level = a[:, 4].astype(np.int64)
        u_correct, z = a[:, 11], a[:, 12]
        prompt, shift, bonus, lenfac = a[:, 13], a[:, 14], a[:, 15], a[:, 16]
        pred = self.predictor(servers.running, servers.waiting, state[:, :, 3], prompt, lenfac, bonus, level)
        wf_spec = p.workflow
        tokens = np.clip(np.rint(np.exp(p.length_mu[None, :] + p.length_sigma[None, :] * z[:, None]) * lenfac[:, None]),
                         wf_spec.min_tokens, p.max_tokens[None, :])             # (B, S)

        view = None
        if oracle:
            work = tokens[:, None, :] + pred.prefill[:, :, None]               # (B, M, S)
            view = OracleView(
                correct=(u_correct[:, None] < expit(pred.logit + shift[:, None, None]).reshape(B, N_ACTIONS)),
                service=work.reshape(B, N_ACTIONS),
                latency=(pred.wait[:, :, None] + work * pred.tpot[:, :, None]).reshape(B, N_ACTIONS),
            )
        batch = StepBatch(
            servers=servers, remaining_budget=a[:, 1], budget=a[:, 2], predicted_latency=pred.latency,
            success_prob=pred.success, role=a[:, 3].astype(np.int64), level=level,
            subject=a[:, 5].astype(np.int64), topology=a[:, 6].astype(np.int64),
            step_index=a[:, 7].astype(np.int64), steps_left=a[:, 8].astype(np.int64),
            depth_left=a[:, 9].astype(np.int64), u_route=a[:, 10], sim_index=a[:, 17].astype(np.int64),
            workflow_id=a[:, 18].astype(np.int64), oracle=view,
        )
        return batch, {"logit": pred.logit, "shift": shift, "u": u_correct, "tokens": tokens, "prompt": prompt}

    def _dispatch(self, steps: list, actions: np.ndarray, extra: dict) -> None:
        B = len(steps)
        m, s = actions // N_STRATEGIES, actions % N_STRATEGIES
        rows = np.arange(B)
        p_call = expit(extra["logit"][rows, m, s] + extra["shift"])
        correct = (extra["u"] < p_call).tolist()
        tokens = extra["tokens"][rows, s].astype(np.int64).tolist()
        prompt = extra["prompt"].tolist()
        for (sim, wf, ci), act, tok, ok, pr in zip(steps, actions.tolist(), tokens, correct, prompt):
            sim.dispatch(wf, ci, act, tok, ok, pr)


def run_cells(cells: Sequence[Cell], router: Router, seeds: int | Sequence[int] = 0,
              profiles: Profiles | None = None, record: bool = True,
              on_round: Callable[[Lockstep], None] | None = None) -> list[SimResult]:
    """Simulate every cell with `router` (in lockstep) and return their results in order."""
    driver = Lockstep(cells, seeds, profiles)
    driver.run(router, on_round)
    return driver.results(record)


__all__ = ["FinishedWorkflows", "Lockstep", "run_cells"]
