"""Evaluation: seeds and common random numbers, process pool / Ray backends, the run cache."""

from loadwise.evaluate.backends import Backend, InlineBackend, LocalPool, RayBackend, make_backend
from loadwise.evaluate.cache import RunCache
from loadwise.evaluate.evaluator import Evaluator
from loadwise.evaluate.runs import RunResult, RunSpec, Task, execute, execute_task
from loadwise.evaluate.seeds import run_seed

__all__ = [
    "Backend", "Evaluator", "InlineBackend", "LocalPool", "RayBackend", "RunCache", "RunResult", "RunSpec",
    "Task", "execute", "execute_task", "make_backend", "run_seed",
]
