"""The load test: the simulator's workloads driven through an OpenAI-compatible gateway.

A cell (rate, budget, pattern, N workflows) draws its workload exactly as the simulator
does (`workload.draw_workload` with the same seed: arrival times, items, and each call's
common random numbers) and replays it in real time, arrival times divided by the speedup
of the servers behind the gateway. Each workflow asks for a plan when it arrives (the
gateway's planner, `POST /loadwise/v1/plan`, or the reference's budget-blind plan for a
gateway without one), expands it into calls with the simulator's templates
(`workflows.template`: topology, roles, dependencies, the final decision step) and sends
every call when its dependencies have answered, with the official `openai` client
(async). A call carries its workflow's budget and id in headers and its context in the
body's `loadwise` object: item, role, topology, position, how many of the answers it
sees are correct, and its common random numbers, so an emulator behind the gateway draws
the same answer length and correctness the simulator would. The prompt holds the role,
the problem (padded to the profile's prompt length) and the answers the call sees.

Cells run one after the other against the same gateway and servers, which start each cell
idle; the gateway's recent-latency averages carry over from the cell before (the
simulator starts every cell afresh).

Every call is recorded as a role-step row and every workflow as a workflow row in the
agentserve telemetry schema, times in profile seconds (real × speedup); the extra
columns say how each call went (`error`, `attempts`, `routed_by`, `gateway_s`,
`service_time`, `ttft`). A call that fails (after the gateway's own retry) or times out
is recorded with its error and counts as a wrong answer; its workflow goes on. Correctness
comes from the answer's `loadwise.correct` (an emulator's grade); when a backend does not
grade, the cell's accuracy and goodput are unknown (NaN) and only latencies are scored.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import openai
import pandas as pd

from loadwise.gateway.openai_api import CHARS_PER_TOKEN, EXTENSION
from loadwise.gateway.wire import BUDGET_HEADER, ROLE_NAMES, WORKFLOW_HEADER
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routers import reference_plan
from loadwise.systems.agentserve.routing import (
    DECISION_ROLE,
    MAX_AGENTS,
    ROLES,
    SUBJECTS,
    TOPOLOGIES,
    PlanBatch,
    ServerLoad,
)
from loadwise.systems.agentserve.simulator import Cell, metrics_from_frames
from loadwise.systems.agentserve.workflows import template
from loadwise.systems.agentserve.workload import Workload, draw_workload

PLANNERS = ("gateway", "reference")
CALL_TIMEOUT_S = 120.0  # real seconds a call may take before it counts as failed
LAG_WARNING_S = 1.0  # a cell's load is in doubt when 5 % of its workflows start this late (profile s) or more


@dataclass(frozen=True)
class LoadTestOptions:
    gateway: str                 # base URL of the gateway (without /v1)
    speedup: float = 1.0         # how much faster than the profiles the servers behind it run
    stream: bool = False
    planner: str = "gateway"
    timeout_s: float = CALL_TIMEOUT_S
    model: str = "auto"


@dataclass
class CellRun:
    """One cell's telemetry and figures."""

    cell: Cell
    steps: pd.DataFrame
    workflows: pd.DataFrame
    metrics: dict[str, float]
    seconds: float
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class _Step:
    row: dict[str, Any]
    answer: str = ""
    correct: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Cell:
    """The state of one cell's run: its workload, clock and records."""

    def __init__(self, cell: Cell, seed: int, profiles: Profiles, options: LoadTestOptions, run_id: str) -> None:
        self.cell = cell
        self.work: Workload = draw_workload(int(cell.workflows), cell.rate, cell.pattern, seed)
        self.profiles = profiles
        self.options = options
        self.run_id = run_id
        self.k = options.speedup
        self.steps: list[dict[str, Any]] = []
        self.workflows: list[dict[str, Any]] = []
        self.errors: dict[str, int] = {}
        self.t0 = 0.0
        base = "You are solving a competition math problem. " * 8
        self.filler = (base * (1 + int(profiles.workflow.prompt_tokens * CHARS_PER_TOKEN) // len(base)))

    def vtime(self, loop_time: float) -> float:
        return (loop_time - self.t0) * self.k

    def prompt(self, role: int, subject: int, level: int, answers: list[str]) -> list[dict[str, str]]:
        role_name = ROLE_NAMES[role]
        system = f"You are the {role_name} of a team solving a {SUBJECTS[subject]} problem of level {level}."
        room = max(0, int(self.profiles.workflow.prompt_tokens * CHARS_PER_TOKEN) - len(system))
        user = self.filler[:room]
        if answers:
            user += "\n\nAnswers so far:\n" + "\n---\n".join(answers)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def _plan(c: _Cell, http: aiohttp.ClientSession, i: int, wid: str) -> tuple[int, int, list[int]]:
    w, budget = c.work, c.cell.budget
    if c.options.planner == "gateway":
        async with http.post(f"{c.options.gateway}/loadwise/v1/plan", json={
                "budget_s": budget, "workflow_id": wid, "level": int(w.level[i]),
                "subject": SUBJECTS[int(w.subject[i])], "u_plan": float(w.u_plan[i])}) as resp:
            resp.raise_for_status()
            plan = await resp.json()
        return (TOPOLOGIES.index(plan["topology"]), int(plan["n_agents"]), [ROLES.index(r) for r in plan["roles"]])
    m = len(c.profiles.model_names)
    none = np.zeros((1, m), dtype=np.int64)
    batch = PlanBatch(
        servers=ServerLoad(none, none, np.zeros((1, m)), np.zeros((1, m)), c.profiles.max_num_seqs),
        arrival_rate=np.zeros(1), budget=np.array([budget]), level=w.level[i:i + 1], subject=w.subject[i:i + 1],
        u_plan=w.u_plan[i:i + 1], sim_index=np.zeros(1, dtype=np.int64), workflow_id=np.array([i]))
    plan = reference_plan(batch)
    k = int(plan.n_agents[0])
    return int(plan.topology[0]), k, [int(r) for r in plan.roles[0][:k]]


async def _call(c: _Cell, client: openai.AsyncOpenAI, wid: str, i: int, ci: int, tpl, roles: list[int],
                steps: list[_Step], dispatched: list[int], arrival: float) -> None:
    w = c.work
    for j in tpl.deps[ci]:
        await steps[j].done.wait()
    agent = tpl.agent[ci]
    role = roles[agent] if agent >= 0 else DECISION_ROLE
    seen = [steps[j] for j in tpl.inputs[ci]]
    slot = tpl.slot[ci]
    budget = c.cell.budget
    dispatched[0] += 1
    ext = {
        "level": int(w.level[i]), "subject": SUBJECTS[int(w.subject[i])], "role": ROLE_NAMES[role],
        "topology": TOPOLOGIES[tpl.topology], "step_index": ci, "steps_left": tpl.n_calls - dispatched[0] + 1,
        "depth_left": tpl.depth_left[ci], "seen": len(seen), "seen_correct": sum(s.correct for s in seen),
        "u_route": float(w.u_route[i, slot]), "u_correct": float(w.u_correct[i, slot]),
        "z_length": float(w.z_length[i, slot]),
    }
    messages = c.prompt(role, int(w.subject[i]), int(w.level[i]), [s.answer for s in seen])
    start = time.perf_counter()
    info: dict[str, Any] = {}
    text, error, ttft = "", "", math.nan
    try:
        kwargs = dict(model=c.options.model, messages=messages, timeout=c.options.timeout_s,
                      extra_headers={BUDGET_HEADER: f"{budget:g}", WORKFLOW_HEADER: wid},
                      extra_body={EXTENSION: ext})
        if c.options.stream:
            parts = []
            stream = await client.chat.completions.create(stream=True, **kwargs)
            async for chunk in stream:
                extra = (chunk.model_extra or {}).get(EXTENSION)
                if extra:
                    info.update(extra)
                if chunk.choices and chunk.choices[0].delta.content:
                    if not parts:
                        ttft = (time.perf_counter() - start) * c.k
                    parts.append(chunk.choices[0].delta.content)
                error = _stream_error(chunk) or error
            text = "".join(parts)
        else:
            answer = await client.chat.completions.create(**kwargs)
            info.update((answer.model_extra or {}).get(EXTENSION) or {})
            text = answer.choices[0].message.content or ""
            info.setdefault("model", answer.model)
    except openai.APIStatusError as exc:
        error = f"http_{exc.status_code}"
    except openai.APITimeoutError:
        error = "timeout"
    except openai.APIError as exc:
        error = type(exc).__name__
    end = time.perf_counter()
    graded = "correct" in info and not error
    correct = bool(info.get("correct", False)) and not error
    if error:
        c.errors[error] = c.errors.get(error, 0) + 1
    dispatch_v = c.vtime(start)
    step = steps[ci]
    step.answer, step.correct = text, correct
    step.row = {
        "workflow_id": i, "item_id": int(w.item_id[i]), "subject": SUBJECTS[int(w.subject[i])],
        "level": int(w.level[i]), "topology": TOPOLOGIES[tpl.topology], "role": ROLE_NAMES[role],
        "step_index": ci, "is_decision": role == DECISION_ROLE, "model": info.get("model"),
        "strategy": info.get("strategy"), "running": info.get("running"), "waiting": info.get("waiting"),
        "kv_use": info.get("kv_use", math.nan), "dispatch_time": dispatch_v, "step_latency": (end - start) * c.k,
        "budget_remaining": info.get("budget_remaining", budget - (dispatch_v - arrival)),
        "output_tokens": info.get("output_tokens", len(text) // CHARS_PER_TOKEN), "correct": correct,
        "graded": graded, "error": error, "attempts": info.get("attempts", 1), "routed_by": info.get("routed_by"),
        "gateway_s": info.get("gateway_s", math.nan), "service_time": info.get("service_time", math.nan),
        "ttft": ttft,
    }
    c.steps.append(step.row)
    step.done.set()


def _stream_error(chunk: Any) -> str:
    err = (chunk.model_extra or {}).get("error")
    return f"stream_{err.get('code') or 'error'}" if isinstance(err, dict) else ""


async def _workflow(c: _Cell, client: openai.AsyncOpenAI, http: aiohttp.ClientSession, i: int,
                    on_done: Callable[[], None]) -> None:
    arrival = c.vtime(time.perf_counter())
    wid = f"{c.run_id}-{c.cell.label}-{i}"
    try:
        topology, n_agents, roles = await _plan(c, http, i, wid)
    except (aiohttp.ClientError, TimeoutError, OSError, KeyError, ValueError) as exc:
        kind = f"plan_{type(exc).__name__}"
        c.errors[kind] = c.errors.get(kind, 0) + 1
        topology, n_agents, roles = TOPOLOGIES.index("IO"), 1, [0]
    roles = (roles + [0] * MAX_AGENTS)[:n_agents]
    tpl = template(topology, n_agents)
    steps = [_Step({}) for _ in range(tpl.n_calls)]
    dispatched = [0]
    await asyncio.gather(*(_call(c, client, wid, i, ci, tpl, roles, steps, dispatched, arrival)
                           for ci in range(tpl.n_calls)))
    decision = steps[-1].row
    end = decision["dispatch_time"] + decision["step_latency"]
    c.workflows.append({
        "workflow_id": i, "item_id": int(c.work.item_id[i]), "subject": SUBJECTS[int(c.work.subject[i])],
        "level": int(c.work.level[i]), "topology": TOPOLOGIES[topology], "n_agents": n_agents,
        "n_steps": tpl.n_calls, "arrival_time": arrival, "arrival_lag": arrival - float(c.work.arrival[i]),
        "workflow_latency": end - arrival,
        "latency_excl_decision": decision["dispatch_time"] - arrival, "solved": steps[-1].correct,
        "graded": all(s.row["graded"] for s in steps),
        "errors": sum(bool(s.row["error"]) for s in steps),
    })
    on_done()


async def run_cell(cell: Cell, seed: int, profiles: Profiles, options: LoadTestOptions, run_id: str = "loadtest",
                   on_workflow: Callable[[int, int], None] | None = None) -> CellRun:
    """Drive one cell through the gateway and return its telemetry and figures."""
    c = _Cell(cell.check(), seed, profiles, options, run_id)
    n = len(c.work)
    finished = 0

    def done() -> None:
        nonlocal finished
        finished += 1
        if on_workflow is not None:
            on_workflow(finished, n)

    # the client's aiohttp transport (the `openai[aiohttp]` extra) keeps the cost per call flat with hundreds
    # of calls in flight, where the default httpx pool scans every connection per call
    client = openai.AsyncOpenAI(base_url=f"{options.gateway}/v1", api_key="loadwise", max_retries=0,
                                timeout=options.timeout_s, http_client=openai.DefaultAioHttpClient())
    wall = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=options.timeout_s)) as http:
        c.t0 = time.perf_counter()
        tasks = []
        for i, at in enumerate(c.work.arrival.tolist()):
            delay = c.t0 + at / c.k - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_workflow(c, client, http, i, done)))
        await asyncio.gather(*tasks)
    await client.close()
    return finish_cell(c, time.perf_counter() - wall)


def finish_cell(c: _Cell, seconds: float) -> CellRun:
    """Telemetry frames (in workflow, step order) and the cell's figures."""
    cell = c.cell
    common = {"run_id": c.run_id, "epoch": 0, "rate": float(cell.rate), "pattern": cell.pattern,
              "budget": float(cell.budget)}
    steps = pd.DataFrame([{**common, **r} for r in c.steps]).sort_values(["workflow_id", "step_index"])
    workflows = pd.DataFrame([{**common, **r} for r in c.workflows]).sort_values("workflow_id")
    steps = steps.reset_index(drop=True)
    workflows = workflows.reset_index(drop=True)
    for col in ("running", "waiting"):
        steps[col] = steps[col].astype("float64").fillna(-1).astype("int64")
    steps["queue_depth"] = np.where(steps["running"] >= 0, steps["running"] + steps["waiting"], -1)
    workflows["cost_ratio"] = workflows["workflow_latency"] / cell.budget
    workflows["violated"] = workflows["workflow_latency"] > cell.budget
    answered = steps[steps["error"] == ""]
    metrics = metrics_from_frames(answered[answered["model"].isin(c.profiles.model_names)], workflows,
                                  cell.budget, c.profiles)
    if not bool(workflows["graded"].all()):
        metrics["accuracy"] = metrics["goodput"] = math.nan
    metrics["steps"] = float(len(steps))
    metrics["errors"] = float((steps["error"] != "").sum())
    metrics["retried"] = float((steps["attempts"] > 1).sum())
    metrics["arrival_lag_p95"] = float(workflows["arrival_lag"].quantile(0.95))
    return CellRun(cell, steps, workflows, metrics, seconds, dict(c.errors))


def fetch_info(gateway: str) -> dict[str, Any] | None:
    """A loadwise gateway's `/loadwise/v1/info` (router, profiles, speedup); None for another gateway."""
    try:
        with urllib.request.urlopen(f"{gateway}/loadwise/v1/info", timeout=5.0) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
