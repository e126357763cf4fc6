"""What travels with a request besides the OpenAI fields: budget, workflow, the call's context.

A client tells the gateway a request's latency budget by the `X-Loadwise-Budget-S` header
(or `budget_s` in the body's `loadwise` extension object) and groups the role steps of
one workflow by `X-Loadwise-Workflow-Id` (or `workflow_id`): steps of a workflow share
its budget, counted from its first request. The rest of the extension object describes
the call as the simulator's router sees it (item level and subject, role, topology,
position in the workflow, the answers it sees) and, from a load test, the call's common
random numbers; every field is optional.

The gateway forwards the context to the chosen backend in the `X-Loadwise-Call` header
(JSON, with the strategy it chose), never in the body, so a real vLLM server sees a plain
OpenAI request; the emulator reads the header to draw the answer's length and
correctness as the simulator would. `apply_strategy` realizes a strategy on the wire: its
system prompt first and its `max_tokens` cap, as the profile file says.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from loadwise.gateway.openai_api import CHAT, EXTENSION, ApiError, bad_param, max_tokens_of
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import DECISION_ROLE, DECISION_ROLE_NAME, LEVELS, ROLES, SUBJECTS, TOPOLOGIES

BUDGET_HEADER = "x-loadwise-budget-s"
WORKFLOW_HEADER = "x-loadwise-workflow-id"
CALL_HEADER = "x-loadwise-call"
ROLE_NAMES = (*ROLES, DECISION_ROLE_NAME)
DEFAULT_ROLE = ROLES.index("MathSolver")
DEFAULT_LEVEL = 3


@dataclass(frozen=True)
class CallContext:
    """One call as a router sees it; defaults describe a lone, generic math question."""

    budget_s: float | None = None
    workflow_id: str | None = None
    level: int = DEFAULT_LEVEL
    subject: int = 0
    role: int = DEFAULT_ROLE
    topology: int = 0
    step_index: int = 0
    steps_left: int = 1
    depth_left: int = 1
    seen: int = 0            # answers of other calls this call sees
    seen_correct: int = 0    # how many of them are correct (known to a load test, which scores them)
    u_route: float | None = None    # common random numbers of a load test (drawn fresh when absent)
    u_correct: float | None = None
    z_length: float | None = None
    strategy: str | None = None     # set by the gateway when it forwards the call ...
    budget_left: float | None = None  # ... with the workflow's budget left then, profile s (an EDF queue's key)

    def header(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, separators=(",", ":"))

    def header_with(self, strategy: str | None, budget_left: float) -> str:
        """The X-Loadwise-Call value forwarding this call with the chosen strategy and the budget left."""
        return replace(self, strategy=strategy, budget_left=budget_left).header()

    @property
    def is_decision(self) -> bool:
        return self.role == DECISION_ROLE


def _number(ext: dict[str, Any], key: str, lo: float, hi: float, integer: bool = False) -> float | int | None:
    value = ext.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and lo <= value <= hi and (not integer or float(value).is_integer())
    if not ok:
        kind = "an integer" if integer else "a number"
        raise bad_param(f"{EXTENSION}.{key}", f"must be {kind} in [{lo:g}, {hi:g}], got {value!r}")
    return int(value) if integer else float(value)


def _name(ext: dict[str, Any], key: str, names: tuple[str, ...]) -> int | None:
    value = ext.get(key)
    if value is None:
        return None
    if value not in names:
        raise bad_param(f"{EXTENSION}.{key}", f"unknown {key} {value!r}; allowed: {', '.join(names)}")
    return names.index(value)


def parse_context(ext: dict[str, Any], headers: Any = None) -> CallContext:
    """A CallContext from the body's extension object (or the forwarded header's JSON) and the
    request headers; bad values are 400 errors naming the parameter."""
    budget = _number(ext, "budget_s", 1e-6, 1e9)
    workflow = ext.get("workflow_id")
    if headers is not None:
        if headers.get(BUDGET_HEADER) is not None:
            text = headers.get(BUDGET_HEADER)
            try:
                budget = float(text)
            except ValueError:
                budget = math.nan
            if not (math.isfinite(budget) and budget > 0):
                raise ApiError(400, f"X-Loadwise-Budget-S: must be a positive number of seconds, got {text!r}",
                               param="X-Loadwise-Budget-S", code="invalid_value")
        workflow = headers.get(WORKFLOW_HEADER, workflow)
    if workflow is not None and not isinstance(workflow, (str, int)):
        raise bad_param(f"{EXTENSION}.workflow_id", "must be a string")
    values = {
        "level": _number(ext, "level", 1, LEVELS, integer=True),
        "subject": _name(ext, "subject", SUBJECTS),
        "role": _name(ext, "role", ROLE_NAMES),
        "topology": _name(ext, "topology", TOPOLOGIES),
        "step_index": _number(ext, "step_index", 0, 1000, integer=True),
        "steps_left": _number(ext, "steps_left", 1, 1000, integer=True),
        "depth_left": _number(ext, "depth_left", 1, 1000, integer=True),
        "seen": _number(ext, "seen", 0, 1000, integer=True),
        "seen_correct": _number(ext, "seen_correct", 0, 1000, integer=True),
        "u_route": _number(ext, "u_route", 0, 1),
        "u_correct": _number(ext, "u_correct", 0, 1),
        "z_length": _number(ext, "z_length", -40, 40),
        "budget_left": _number(ext, "budget_left", -1e9, 1e9),
    }
    strategy = ext.get("strategy")
    if strategy is not None and not isinstance(strategy, str):
        raise bad_param(f"{EXTENSION}.strategy", "must be a strategy name")
    ctx = CallContext(budget_s=budget, workflow_id=None if workflow is None else str(workflow), strategy=strategy)
    ctx = replace(ctx, **{k: v for k, v in values.items() if v is not None})
    if ctx.seen_correct > ctx.seen:
        raise bad_param(f"{EXTENSION}.seen_correct", "cannot exceed seen")
    return ctx


def context_from_header(value: str | None) -> CallContext:
    """The context a gateway forwarded in X-Loadwise-Call (a plain one when absent)."""
    if not value:
        return CallContext()
    try:
        raw = json.loads(value)
    except json.JSONDecodeError:
        raise ApiError(400, "X-Loadwise-Call: not valid JSON", param="X-Loadwise-Call") from None
    if not isinstance(raw, dict):
        raise ApiError(400, "X-Loadwise-Call: must be a JSON object", param="X-Loadwise-Call")
    names = {"role": ROLE_NAMES, "subject": SUBJECTS, "topology": TOPOLOGIES}
    for key, table in names.items():  # the header carries indices, the body names
        if isinstance(raw.get(key), int) and 0 <= raw[key] < len(table):
            raw[key] = table[raw[key]]
    return parse_context(raw)


def apply_strategy(body: dict[str, Any], kind: str, strategy: int, served_model: str,
                   profiles: Profiles) -> dict[str, Any]:
    """The request as sent to a backend: the strategy's system prompt first, its max_tokens cap,
    the backend's model name, and no extension object."""
    spec = profiles.spec.strategies[strategy]
    out = {k: v for k, v in body.items() if k != EXTENSION}
    out["model"] = served_model
    cap = int(profiles.max_tokens[strategy])
    asked = max_tokens_of(body)
    out.pop("max_completion_tokens", None)
    out["max_tokens"] = min(cap, asked) if asked is not None else cap
    if spec.system_prompt:
        if kind == CHAT:
            out["messages"] = [{"role": "system", "content": spec.system_prompt}, *body["messages"]]
        else:
            out["prompt"] = f"{spec.system_prompt}\n\n{body['prompt']}"
    return out
