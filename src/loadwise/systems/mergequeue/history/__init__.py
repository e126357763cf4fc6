"""A repository's merge-queue history: read (GitHub runs and pull requests, JUnit, the seed's
CSV), synthesized with known parameters, and fitted into a world (`shared/spec/06-merge-queues.md`,
"History")."""

from loadwise.systems.mergequeue.history.fit import Estimate, HistoryFit, fit_history
from loadwise.systems.mergequeue.history.github import (
    PullRequests,
    WorkflowRuns,
    read_pull_requests,
    read_workflow_runs,
)
from loadwise.systems.mergequeue.history.synthetic import SyntheticRepo, synthetic_history, write_synthetic_history

__all__ = [
    "Estimate", "HistoryFit", "PullRequests", "SyntheticRepo", "WorkflowRuns", "fit_history", "read_pull_requests",
    "read_workflow_runs", "synthetic_history", "write_synthetic_history",
]
