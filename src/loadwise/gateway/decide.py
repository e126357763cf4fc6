"""The gateway's decisions: the same `PlanBatch` / `StepBatch` the simulator builds, one request at a time.

A step's batch is filled from the live state (`live.LiveState`), the call's context
(`wire.CallContext`) and its workflow's clock (`WorkflowClocks`); latency and success
predictions come from the simulator's `Predictor`, so any `Router` — a baseline or the
trained policy — decides exactly as it would in the simulator. Models without a healthy
backend are shown as full; if the router still picks one (a load-blind baseline), or a
request must be retried elsewhere, the *next-best* pair is taken among the usable models
by the budget-aware rule of the greedy baseline: the most accurate pair whose predicted
latency fits this step's share of the remaining budget, else the fastest.
"""

from __future__ import annotations

import time
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from loadwise.gateway.live import LiveState
from loadwise.gateway.wire import CallContext
from loadwise.systems.agentserve.predictor import Predictor
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import N_STRATEGIES, Plan, PlanBatch, Router, StepBatch
from loadwise.systems.agentserve.workflows import call_bonus

WORKFLOW_TTL_S = 3600.0  # a workflow id unseen this long (real time) is forgotten
MAX_WORKFLOWS = 100_000


class NoBackend(Exception):
    """No usable backend is left for a request."""


@dataclass
class Workflow:
    start: float     # loop time of its first request (or plan)
    budget: float    # profile seconds
    seen: float      # loop time last touched
    key: int         # integer id for the router's batch


class WorkflowClocks:
    """Workflows by id: when each started, its budget, and the recent arrival rate."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.items: OrderedDict[str, Workflow] = OrderedDict()
        self.arrivals: deque[float] = deque()  # start times of the last 60 profile seconds

    def touch(self, wid: str | None, budget: float, now: float) -> Workflow:
        """The workflow of a request (a new one, started now, when the id is new or None)."""
        if wid is not None and wid in self.items:
            wf = self.items[wid]
            wf.seen = now
            self.items.move_to_end(wid)
            return wf
        wf = Workflow(now, budget, now, zlib.crc32((wid or f"anon-{time.monotonic_ns()}").encode()))
        self.arrivals.append(now)
        self._forget_arrivals(now)
        if wid is not None:
            self.items[wid] = wf
            while self.items and (len(self.items) > MAX_WORKFLOWS
                                  or now - next(iter(self.items.values())).seen > WORKFLOW_TTL_S):
                self.items.popitem(last=False)
        return wf

    def remaining(self, wf: Workflow, now: float) -> float:
        """Budget left, profile seconds."""
        return wf.budget - (now - wf.start) * self.speedup

    def _forget_arrivals(self, now: float) -> None:
        horizon = now - 60.0 / self.speedup
        while self.arrivals and self.arrivals[0] < horizon:
            self.arrivals.popleft()

    def rate_per_minute(self, now: float) -> float:
        """Workflows that started in the last 60 profile seconds."""
        self._forget_arrivals(now)
        return float(len(self.arrivals))


@dataclass(frozen=True)
class Decision:
    action: int
    model: int
    strategy: int
    running: int      # the chosen server's load at dispatch
    waiting: int
    kv_use: float
    remaining: float  # budget left at dispatch, profile seconds
    predicted_latency: float
    expected_work: float  # tokens, for the live state's mean-work estimate
    routed_by: str    # the router's name, or "next-best"


class Decider:
    """A router deciding live requests."""

    def __init__(self, router: Router, profiles: Profiles, live: LiveState, seed: int = 0) -> None:
        self.router = router
        self.profiles = profiles
        self.live = live
        self.predictor = Predictor(profiles)
        self.rng = np.random.default_rng(seed)

    def plan(self, budget: float, level: int, subject: int, u_plan: float | None, wf: Workflow,
             now: float, clocks: WorkflowClocks) -> Plan:
        servers, _ = self.live.load(now)
        batch = PlanBatch(
            servers=servers, arrival_rate=np.array([clocks.rate_per_minute(now)]), budget=np.array([budget]),
            level=np.array([level]), subject=np.array([subject]),
            u_plan=np.array([self.rng.random() if u_plan is None else u_plan]),
            sim_index=np.zeros(1, dtype=np.int64), workflow_id=np.array([wf.key], dtype=np.int64),
        )
        return self.router.plan(batch)

    def route(self, ctx: CallContext, budget: float, remaining: float, prompt_tokens: float, wf: Workflow,
              now: float, exclude: frozenset[int] = frozenset()) -> Decision:
        """The (model, strategy) of one call; models in `exclude` (and unhealthy ones) are not chosen."""
        usable = self.live.usable()
        for m in exclude:
            usable[m] = False
        if not usable.any():
            raise NoBackend("no healthy backend")
        servers, work = self.live.load(now)
        p = self.profiles
        bonus, length_factor = call_bonus(p.workflow, ctx.role, ctx.subject, ctx.topology)
        pred = self.predictor(servers.running, servers.waiting, work, np.array([prompt_tokens]),
                              np.array([length_factor]), np.array([bonus]), np.array([ctx.level]))
        latency = np.where(np.repeat(usable, N_STRATEGIES)[None, :], pred.latency, np.inf)
        batch = StepBatch(
            servers=servers, remaining_budget=np.array([remaining]), budget=np.array([budget]),
            predicted_latency=np.minimum(latency, 1e6), success_prob=pred.success,
            role=np.array([ctx.role]), level=np.array([ctx.level]), subject=np.array([ctx.subject]),
            topology=np.array([ctx.topology]), step_index=np.array([ctx.step_index]),
            steps_left=np.array([ctx.steps_left]), depth_left=np.array([ctx.depth_left]),
            u_route=np.array([self.rng.random() if ctx.u_route is None else ctx.u_route]),
            sim_index=np.zeros(1, dtype=np.int64), workflow_id=np.array([wf.key], dtype=np.int64),
        )
        action = int(np.asarray(self.router.route(batch))[0]) if not exclude else -1
        routed_by = getattr(self.router, "name", "router")
        if action < 0 or not usable[action // N_STRATEGIES]:
            action = next_best(latency[0], pred.success[0], remaining / max(ctx.depth_left, 1))
            routed_by = "next-best"
        m, s = divmod(action, N_STRATEGIES)
        expected = float(p.mean_tokens[s] * length_factor + pred.prefill[0, m])
        return Decision(action, m, s, int(servers.running[0, m]), int(servers.waiting[0, m]),
                        float(servers.kv_use[0, m]), remaining, float(pred.latency[0, action]), expected, routed_by)


def next_best(latency: np.ndarray, success: np.ndarray, allowance: float) -> int:
    """The greedy rule over the usable pairs (infinite latency marks the others)."""
    usable = np.isfinite(latency)
    fits = usable & (latency <= allowance)
    if fits.any():
        return int(np.argmax(np.where(fits, success, -1.0)))
    return int(np.argmin(latency))
