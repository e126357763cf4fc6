"""One simulation: a cell (rate, budget, pattern, queue discipline, N workflows) on five servers.

The simulation is an event loop (arrivals, call completions) that stops whenever a
decision is pending: a workflow that arrived needs a plan, or a call whose
dependencies are done needs a (model, strategy). The lockstep driver (`lockstep.py`)
gathers those decisions across many simulations, asks the router once, and hands the
answers back through `apply_plan` and `dispatch`. A simulation is a pure function of
(cell, seed, router decisions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import (
    DECISION_ROLE,
    DECISION_ROLE_NAME,
    N_STRATEGIES,
    ROLES,
    STRATEGIES,
    SUBJECTS,
    TOPOLOGIES,
)
from loadwise.systems.agentserve.server import INF, Server
from loadwise.systems.agentserve.workflows import Template, call_bonus, evidence, template
from loadwise.systems.agentserve.workload import PATTERNS, draw_workload

DISCIPLINES = ("fcfs", "edf")
IDLE_QUEUE = 3  # queue depth below which a dispatch counts as idle (spec 05)
SMALL_MODELS = (0, 1)  # the 3B and 8B models of the calibration table
LARGE_MODELS = (2, 3, 4)


@dataclass(frozen=True)
class Cell:
    """One load condition: arrival rate (requests/min), budget (s), and how many workflows."""

    rate: float
    budget: float
    workflows: int = 1000
    pattern: str = "poisson"
    discipline: str = "fcfs"
    replay: tuple[float, ...] | None = field(default=None, repr=False)

    def check(self) -> Cell:
        if not (np.isfinite(self.budget) and self.budget > 0):
            raise ConfigError("budget", f"must be a positive number of seconds, got {self.budget!r}")
        if self.pattern != "replay" and not (np.isfinite(self.rate) and self.rate > 0):
            raise ConfigError("rate", f"must be a positive number of requests per minute, got {self.rate!r}")
        if int(self.workflows) < 1:
            raise ConfigError("workflows", f"must be at least 1, got {self.workflows!r}")
        if self.pattern not in PATTERNS:
            raise ConfigError("pattern", f"unknown pattern {self.pattern!r}; allowed: {', '.join(PATTERNS)}")
        if self.discipline not in DISCIPLINES:
            raise ConfigError("discipline", f"unknown queue discipline {self.discipline!r}; allowed: {', '.join(DISCIPLINES)}")
        return self

    @property
    def label(self) -> str:
        return f"rate{self.rate:g}-budget{self.budget:g}"


class Workflow:
    """A workflow in flight: its item, plan, and per-call state."""

    __slots__ = (
        "arrival", "budget", "call_role", "correct", "deadline", "decision_dispatch", "deps_left",
        "dispatched", "level", "n_agents", "roles", "subject", "tokens", "topology", "tpl", "wid",
    )

    def __init__(self, wid: int, arrival: float, budget: float, level: int, subject: int) -> None:
        self.wid = wid
        self.arrival = arrival
        self.budget = budget
        self.deadline = arrival + budget
        self.level = level
        self.subject = subject
        self.dispatched = 0
        self.decision_dispatch = INF

    def set_plan(self, topology: int, n_agents: int, roles: list[int]) -> Template:
        tpl = template(topology, n_agents)
        self.topology, self.n_agents, self.roles, self.tpl = topology, n_agents, roles, tpl
        self.deps_left = [len(d) for d in tpl.deps]
        self.correct = [False] * tpl.n_calls
        self.tokens = [0] * tpl.n_calls
        self.call_role = [roles[a] if a >= 0 else DECISION_ROLE for a in tpl.agent]
        return tpl


@dataclass
class SimResult:
    """What one simulation returns: metrics, per-server statistics and (when recorded) telemetry."""

    cell: Cell
    seed: int
    sim_index: int
    metrics: dict[str, float]
    servers: list[dict[str, float]]
    steps: pd.DataFrame | None = None
    workflows: pd.DataFrame | None = None


class Simulation:
    """The event loop of one cell; see the module docstring for the decision protocol."""

    def __init__(self, cell: Cell, seed: int, profiles: Profiles, sim_index: int = 0) -> None:
        self.cell = cell.check()
        self.seed = int(seed)
        self.sim_index = sim_index
        self.profiles = profiles
        replay = np.asarray(cell.replay) if cell.replay is not None else None
        self.work = draw_workload(int(cell.workflows), cell.rate, cell.pattern, self.seed, replay)
        self.arrivals = self.work.arrival.tolist()
        self.levels = self.work.level.tolist()
        self.subjects = self.work.subject.tolist()
        # per-call draws as nested lists: the driver reads them one call at a time
        self.u_route = self.work.u_route.tolist()
        self.u_correct = self.work.u_correct.tolist()
        self.z_length = self.work.z_length.tolist()
        self.n_total = len(self.arrivals)
        wf = profiles.workflow
        mean_work = float(profiles.mean_tokens.mean())
        self.servers = [
            Server(
                profiles.tpot_table(m), int(profiles.max_num_seqs[m]), float(profiles.kv_capacity[m]),
                cell.discipline == "edf",
                recent0=(mean_work + profiles.prefill_cost[m] * wf.prompt_tokens) * profiles.tpot_table(m)[1],
            )
            for m in range(len(profiles.model_names))
        ]
        self.now = 0.0
        self.next_arrival = 0
        self.pending_plans: list[Workflow] = []
        self.pending_steps: list[tuple[Workflow, int]] = []
        self.finished: list[tuple[int, bool, float, float, float, int]] = []  # drained by the driver
        self.step_log: list[tuple] = []
        self.workflow_log: list[tuple] = []
        self.done = False
        self._recent_arrival_idx = 0
        self._open_steps: dict[tuple[int, int], tuple] = {}  # dispatch facts of calls in service

    # the event loop

    def advance(self) -> bool:
        """Run events until a decision is pending; False when every workflow has finished."""
        servers = self.servers
        arrivals = self.arrivals
        while not (self.pending_plans or self.pending_steps):
            i = self.next_arrival
            ta = arrivals[i] if i < self.n_total else INF
            best = None
            tf = INF
            for s in servers:
                if s.next_finish < tf:
                    tf = s.next_finish
                    best = s
            if ta <= tf:
                if ta == INF:
                    self.done = True
                    return False
                self.now = ta
                self.pending_plans.append(
                    Workflow(i, ta, self.cell.budget, self.levels[i], self.subjects[i])
                )
                self.next_arrival = i + 1
            else:
                self.now = tf
                payload, submitted, t = best.finish()  # type: ignore[union-attr]
                self._complete(payload[0], payload[1], submitted, t)
        return True

    def _complete(self, wf: Workflow, ci: int, submitted: float, t: float) -> None:
        tpl = wf.tpl
        entry = self._open_steps.pop((wf.wid, ci))
        self.step_log.append((*entry, t - submitted))
        if ci == tpl.n_calls - 1:
            latency = t - wf.arrival
            excl = wf.decision_dispatch - wf.arrival
            solved = wf.correct[ci]
            self.finished.append((wf.wid, solved, latency, excl, wf.budget, tpl.n_calls))
            self.workflow_log.append((wf.wid, wf.topology, wf.n_agents, tpl.n_calls, wf.arrival, latency, excl, solved))
            return
        deps_left = wf.deps_left
        for j in tpl.dependents[ci]:
            deps_left[j] -= 1
            if deps_left[j] == 0:
                self.pending_steps.append((wf, j))

    # decisions handed back by the driver

    def apply_plan(self, wf: Workflow, topology: int, n_agents: int, roles: list[int]) -> None:
        tpl = wf.set_plan(topology, n_agents, roles)
        for j, d in enumerate(tpl.deps):
            if not d:
                self.pending_steps.append((wf, j))

    def dispatch(self, wf: Workflow, ci: int, action: int, tokens: int, correct: bool, prompt: float) -> None:
        """Send call ci of wf to the chosen server now."""
        m, s = divmod(action, N_STRATEGIES)
        server = self.servers[m]
        now = self.now
        server.advance(now)
        kv = server.kv_use()
        running, waiting = server.n, len(server.waiting)
        wf.correct[ci] = correct
        wf.tokens[ci] = tokens
        wf.dispatched += 1
        if ci == wf.tpl.n_calls - 1:
            wf.decision_dispatch = now
        self._open_steps[(wf.wid, ci)] = (
            wf.wid, ci, wf.call_role[ci], m, s, running, waiting, kv, now, wf.deadline - now, tokens, correct,
        )
        server.submit(now, tokens + self.profiles.prefill_cost[m] * prompt, prompt, wf.deadline, (wf, ci))

    def step_inputs(self, wf: Workflow, ci: int) -> tuple[float, int, float]:
        """(prompt tokens, answers seen, logit shift from them) of a ready call."""
        ins = wf.tpl.inputs[ci]
        prompt = self.profiles.workflow.prompt_tokens
        if not ins:
            return prompt, 0, 0.0
        correct = 0
        for j in ins:
            prompt += wf.tokens[j]
            correct += wf.correct[j]
        return prompt, len(ins), evidence(self.profiles.workflow.peer_weight, len(ins), correct)

    def call_bonus(self, wf: Workflow, ci: int) -> tuple[float, float]:
        """(logit bonus, output-length factor) of a call from its role and topology."""
        return call_bonus(self.profiles.workflow, wf.call_role[ci], wf.subject, wf.topology)

    def arrivals_last_minute(self) -> int:
        """Workflows that arrived in the 60 s before now."""
        lo = self._recent_arrival_idx
        while lo < self.next_arrival and self.arrivals[lo] < self.now - 60.0:
            lo += 1
        self._recent_arrival_idx = lo
        return self.next_arrival - lo

    # results

    def result(self, record: bool = True, run_id: str = "", epoch: int = 0) -> SimResult:
        """Metrics (and telemetry frames when `record`) of a finished simulation."""
        if not self.done:
            raise RuntimeError("simulation has not finished")
        steps = np.array(self.step_log, dtype=float).reshape(-1, 13)
        wfs = np.array(self.workflow_log, dtype=float).reshape(-1, 8)
        metrics = _metrics(steps, wfs, self.cell.budget, self.profiles)
        metrics["makespan"] = self.now
        servers = []
        horizon = self.now
        for m, s in enumerate(self.servers):
            servers.append({
                "model": self.profiles.model_names[m],
                "time_avg_queue": s.area / horizon if horizon > 0 else 0.0,
                "throughput": s.completed / horizon if horizon > 0 else 0.0,
                "mean_sojourn": s.sojourn / s.completed if s.completed else 0.0,
                "completed": float(s.completed),
            })
        res = SimResult(self.cell, self.seed, self.sim_index, metrics, servers)
        if record:
            res.steps, res.workflows = self._frames(steps, wfs, run_id or self.cell.label, epoch)
        return res

    def _frames(self, steps: np.ndarray, wfs: np.ndarray, run_id: str, epoch: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        from loadwise.systems.agentserve.telemetry import STEP_COLUMNS, WORKFLOW_COLUMNS

        cell, work = self.cell, self.work
        wid = steps[:, 0].astype(np.int64)
        topo = np.full(self.n_total, -1, dtype=np.int64)
        topo[wfs[:, 0].astype(np.int64)] = wfs[:, 1].astype(np.int64)
        role_names = np.array([*ROLES, DECISION_ROLE_NAME], dtype=object)
        model_names = np.array(self.profiles.model_names, dtype=object)
        running, waiting = steps[:, 5].astype(np.int64), steps[:, 6].astype(np.int64)
        role = steps[:, 2].astype(np.int64)
        step_cols = {
            "run_id": run_id, "epoch": epoch, "rate": float(cell.rate), "pattern": cell.pattern,
            "budget": float(cell.budget), "workflow_id": wid, "item_id": work.item_id[wid],
            "subject": np.array(SUBJECTS, dtype=object)[work.subject[wid]], "level": work.level[wid],
            "topology": np.array(TOPOLOGIES, dtype=object)[topo[wid]], "role": role_names[role],
            "step_index": steps[:, 1].astype(np.int64), "is_decision": role == DECISION_ROLE,
            "model": model_names[steps[:, 3].astype(np.int64)],
            "strategy": np.array(STRATEGIES, dtype=object)[steps[:, 4].astype(np.int64)],
            "running": running, "waiting": waiting, "queue_depth": running + waiting, "kv_use": steps[:, 7],
            "dispatch_time": steps[:, 8], "step_latency": steps[:, 12], "budget_remaining": steps[:, 9],
            "output_tokens": steps[:, 10].astype(np.int64), "correct": steps[:, 11].astype(bool),
        }
        wwid = wfs[:, 0].astype(np.int64)
        lat = wfs[:, 5]
        wf_cols = {
            "run_id": run_id, "epoch": epoch, "rate": float(cell.rate), "pattern": cell.pattern,
            "budget": float(cell.budget), "workflow_id": wwid, "item_id": work.item_id[wwid],
            "subject": np.array(SUBJECTS, dtype=object)[work.subject[wwid]], "level": work.level[wwid],
            "topology": np.array(TOPOLOGIES, dtype=object)[wfs[:, 1].astype(np.int64)],
            "n_agents": wfs[:, 2].astype(np.int64), "n_steps": wfs[:, 3].astype(np.int64),
            "arrival_time": wfs[:, 4], "workflow_latency": lat, "latency_excl_decision": wfs[:, 6],
            "solved": wfs[:, 7].astype(bool), "cost_ratio": lat / cell.budget, "violated": lat > cell.budget,
        }
        step_df = pd.DataFrame({c: step_cols[c] for c in STEP_COLUMNS}, index=pd.RangeIndex(len(steps)))
        wf_df = pd.DataFrame({c: wf_cols[c] for c in WORKFLOW_COLUMNS}, index=pd.RangeIndex(len(wfs)))
        order = np.lexsort((step_df["step_index"].to_numpy(), step_df["workflow_id"].to_numpy()))
        step_df = step_df.iloc[order].reset_index(drop=True).astype(STEP_COLUMNS)
        wf_df = wf_df.sort_values("workflow_id").reset_index(drop=True).astype(WORKFLOW_COLUMNS)
        return step_df, wf_df


def metrics_from_frames(steps: pd.DataFrame, workflows: pd.DataFrame, budget: float,
                        profiles: Profiles) -> dict[str, float]:
    """A cell's figures (the names `SimResult.metrics` uses) from telemetry frames in the
    agentserve schema, e.g. a load test's: the same numbers the simulator reports."""
    model_index = {name: i for i, name in enumerate(profiles.model_names)}
    strategy_index = {name: i for i, name in enumerate(STRATEGIES)}
    step_log = np.zeros((len(steps), 13))
    if len(steps):
        step_log[:, 3] = steps["model"].map(model_index).to_numpy(dtype=float)
        step_log[:, 4] = steps["strategy"].map(strategy_index).to_numpy(dtype=float)
        step_log[:, 5] = steps["running"].to_numpy(dtype=float)
        step_log[:, 6] = steps["waiting"].to_numpy(dtype=float)
        step_log[:, 12] = steps["step_latency"].to_numpy(dtype=float)
    wf_log = np.zeros((len(workflows), 8))
    wf_log[:, 5] = workflows["workflow_latency"].to_numpy(dtype=float)
    wf_log[:, 6] = workflows["latency_excl_decision"].to_numpy(dtype=float)
    wf_log[:, 7] = workflows["solved"].to_numpy(dtype=float)
    return _metrics(step_log, wf_log, budget, profiles)


def _metrics(steps: np.ndarray, wfs: np.ndarray, budget: float, profiles: Profiles) -> dict[str, float]:
    """Per-cell figures from the step log (13 columns) and workflow log (8 columns)."""
    lat, excl, solved = wfs[:, 5], wfs[:, 6], wfs[:, 7].astype(bool)
    within = lat <= budget
    model, strategy = steps[:, 3].astype(int), steps[:, 4].astype(int)
    queue = steps[:, 5] + steps[:, 6]
    step_lat = steps[:, 12]
    small = np.isin(model, SMALL_MODELS)
    out: dict[str, float] = {
        "workflows": float(len(wfs)),
        "steps": float(len(steps)),
        "mean_latency": float(lat.mean()),
        "p95_latency": float(np.percentile(lat, 95)),
        "mean_latency_excl_decision": float(excl.mean()),
        "violation_rate": float((~within).mean()),
        "violation_rate_excl_decision": float((excl > budget).mean()),
        "accuracy": float(solved.mean()),
        "goodput": float((solved & within).mean()),
        "cost_ratio": float((lat / budget).mean()),
        "mean_queue": float(queue.mean()),
        "idle_share": float((queue < IDLE_QUEUE).mean()),
        "mean_step_latency": float(step_lat.mean()),
        "queue_small": float(queue[small].mean()) if small.any() else float("nan"),
        "queue_large": float(queue[~small].mean()) if (~small).any() else float("nan"),
        "step_latency_small": float(step_lat[small].mean()) if small.any() else float("nan"),
        "step_latency_large": float(step_lat[~small].mean()) if (~small).any() else float("nan"),
    }
    counts = np.bincount(model, minlength=len(profiles.model_names)) / max(len(steps), 1)
    for m, name in enumerate(profiles.model_names):
        out[f"share:{name}"] = float(counts[m])
    scounts = np.bincount(strategy, minlength=N_STRATEGIES) / max(len(steps), 1)
    for s, name in enumerate(STRATEGIES):
        out[f"share:{name}"] = float(scounts[s])
    return out


__all__ = ["DISCIPLINES", "Cell", "SimResult", "Simulation", "Workflow", "metrics_from_frames"]
