"""Workflow shapes: the calls a plan implies, their order, and how answers are aggregated.

A plan (topology, n agents, roles) expands into a list of calls in a fixed order (the
`step_index` of telemetry). Each call waits for its dependencies and sees the answers
of its inputs; the last call is the final decision step, which sees the agents' final
answers and whose correctness is the workflow's correctness.

Call order and inputs per topology (n agents, a = 0..n-1):
- IO: the n agents answer in parallel, independently.
- CoT: as IO, but every agent reasons step by step (accuracy bonus `cot_bonus`, output
  length x `cot_length`).
- Chain: agent a runs after agent a-1 and sees its answer; the decision sees the last.
- Debate: two rounds; round 1 in parallel, independently; in round 2 every agent sees
  all round-1 answers; the decision sees the round-2 answers.
- Reflection: two calls per agent, agents in parallel; the second call of an agent
  reviews its own first answer; the decision sees the reviews.
- FullConnected: agents run one after another, each seeing all earlier answers; the
  decision sees all of them.

Aggregation rule (all topologies): a call that sees k answers of which c are correct
gets `peer_weight * (c - (k - c)) / sqrt(k)` added to its success logit, so agreeing
correct answers help and a wrong majority hurts, more strongly the more answers agree.
The workflow is solved iff its final decision call is correct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from loadwise.systems.agentserve.routing import DECISION_ROLE, MAX_AGENTS, ROLES, SUBJECTS, TOPOLOGIES

if TYPE_CHECKING:
    from loadwise.systems.agentserve.profiles import WorkflowSpec

# role -> subjects it specializes in (the role bonus applies when the item's subject is one)
ROLE_SUBJECTS: dict[str, tuple[str, ...]] = {
    "AlgebraExpert": ("Algebra", "Intermediate Algebra"),
    "CountingProbabilityExpert": ("Counting & Probability",),
    "GeometryExpert": ("Geometry",),
    "NumberTheoryExpert": ("Number Theory",),
    "PrealgebraTutor": ("Prealgebra",),
    "PrecalculusExpert": ("Precalculus",),
}
# [role][subject] -> 1 when the role specializes in the subject
ROLE_AFFINITY: tuple[tuple[int, ...], ...] = tuple(
    tuple(int(s in ROLE_SUBJECTS.get(r, ())) for s in SUBJECTS) for r in ROLES
)
# subject -> the role that specializes in it
EXPERT_OF_SUBJECT: tuple[int, ...] = tuple(
    next(i for i, r in enumerate(ROLES) if s in ROLE_SUBJECTS.get(r, ())) for s in SUBJECTS
)
COT = TOPOLOGIES.index("CoT")


@dataclass(frozen=True)
class Template:
    """The calls of one (topology, n agents) shape. Index n_calls - 1 is the decision."""

    topology: int
    n_agents: int
    agent: tuple[int, ...]                 # agent of each call; -1 for the decision
    deps: tuple[tuple[int, ...], ...]      # calls that must finish before this one starts
    inputs: tuple[tuple[int, ...], ...]    # calls whose answers this one sees
    dependents: tuple[tuple[int, ...], ...]
    depth_left: tuple[int, ...]            # sequential stages from this call to the end, inclusive
    slot: tuple[int, ...]                  # column of the workflow's random draws used by the call

    @property
    def n_calls(self) -> int:
        return len(self.agent)


@cache
def template(topology: int, n_agents: int) -> Template:
    """The call list of a plan shape (cached: there are 6 x 6 shapes)."""
    if not 0 <= topology < len(TOPOLOGIES):
        raise ValueError(f"topology index {topology} out of range")
    if not 1 <= n_agents <= MAX_AGENTS:
        raise ValueError(f"n_agents {n_agents} out of range 1..{MAX_AGENTS}")
    n = n_agents
    name = TOPOLOGIES[topology]
    agent: list[int] = []
    deps: list[tuple[int, ...]] = []
    inputs: list[tuple[int, ...]] = []
    if name in ("IO", "CoT"):
        agent += range(n)
        deps += [()] * n
        inputs += [()] * n
        final = tuple(range(n))
    elif name == "Chain":
        for a in range(n):
            agent.append(a)
            deps.append((a - 1,) if a else ())
            inputs.append((a - 1,) if a else ())
        final = (n - 1,)
    elif name == "Debate":
        round1 = tuple(range(n))
        agent += list(range(n)) * 2
        deps += [()] * n + [round1] * n
        inputs += [()] * n + [round1] * n
        final = tuple(range(n, 2 * n))
    elif name == "Reflection":
        agent += list(range(n)) * 2
        deps += [()] * n + [(a,) for a in range(n)]
        inputs += [()] * n + [(a,) for a in range(n)]
        final = tuple(range(n, 2 * n))
    else:  # FullConnected
        for a in range(n):
            agent.append(a)
            deps.append(tuple(range(a)))
            inputs.append(tuple(range(a)))
        final = tuple(range(n))
    decision = len(agent)
    agent.append(-1)
    deps.append(tuple(range(decision)))
    inputs.append(final)
    dependents = tuple(tuple(j for j in range(decision + 1) if i in deps[j]) for i in range(decision + 1))
    depth = [0] * (decision + 1)
    for i in range(decision, -1, -1):
        depth[i] = 1 + max((depth[j] for j in dependents[i]), default=0)
    # the decision always uses draw column 0 and agent calls columns 1.., so the decision
    # faces the same draw whatever the plan (common random numbers across plans)
    slot = (*tuple(range(1, decision + 1)), 0)
    return Template(topology, n, tuple(agent), tuple(deps), tuple(inputs), dependents, tuple(depth), slot)


def call_bonus(spec: WorkflowSpec, role: int, subject: int, topology: int) -> tuple[float, float]:
    """(success-logit bonus, output-length factor) of a call from its role and topology.

    `spec` is the profile's `WorkflowSpec`. A role whose specialty is the item's subject
    gets `role_bonus`; every agent of a CoT workflow gets `cot_bonus` and answers
    `cot_length` times longer; the decision step gets neither.
    """
    if role == DECISION_ROLE:
        return 0.0, 1.0
    bonus = spec.role_bonus * ROLE_AFFINITY[role][subject]
    if topology == COT:
        return bonus + spec.cot_bonus, spec.cot_length
    return bonus, 1.0


def evidence(peer_weight: float, seen: int, correct: int) -> float:
    """Logit shift of a call that sees `seen` answers of which `correct` are right."""
    if seen == 0:
        return 0.0
    return peer_weight * (2 * correct - seen) / math.sqrt(seen)
