"""Where runs execute: in this process, in a local process pool, or on Ray.

Every backend takes tasks (tuples of RunSpecs, see `runs.execute_task`) and hands back
RunResults; a task that crashes its process or passes the time limit comes back as
failed results with the reason, and the work goes on. The local pool keeps one
long-lived worker per core (each imports the system and compiles its numba kernels
once) and knows which task each worker holds, so a hung or crashed worker is replaced
without losing the others' work.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from loadwise.errors import ConfigError
from loadwise.evaluate.runs import RunResult, Task, execute_task
from loadwise.systems.base import System


class Backend(Protocol):
    capacity: int  # tasks that can execute at the same time

    def submit(self, task: Task) -> None: ...

    def results(self, timeout: float | None) -> list[RunResult]:
        """Results of finished tasks; waits up to `timeout` seconds for at least one."""
        ...

    def busy(self) -> int:
        """Tasks submitted and not yet returned."""
        ...

    def close(self) -> None: ...


class InlineBackend:
    """Runs in the calling process, one task at a time (no time limit): for one-core work,
    tests and debugging. `on_progress` hears how far a group runner's task has got."""

    capacity = 1

    def __init__(self, system: System, on_progress: Callable[[int, int], None] | None = None) -> None:
        self.system = system
        self.on_progress = on_progress
        self.queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def results(self, timeout: float | None) -> list[RunResult]:
        return execute_task(self.system, self.queue.popleft(), self.on_progress) if self.queue else []

    def busy(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        self.queue.clear()


def _worker_main(conn: Connection, system: System) -> None:
    """A pool worker: run tasks from the pipe until told to stop (None).

    Ctrl-C is the parent's to handle (it stops the pool); workers ignore it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send("ready")  # time limits count from here, not from process start
    while True:
        task = conn.recv()
        if task is None:
            return
        conn.send(execute_task(system, task))


class _Worker:
    def __init__(self, ctx: Any, system: System) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, system), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.task: Task | None = None
        self.started = 0.0

    def give(self, task: Task) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class LocalPool:
    """A process pool with per-run time limits and crash detection (one worker per core by default)."""

    def __init__(self, system: System, jobs: int | None = None, timeout: float | None = None) -> None:
        self.system = system
        self.capacity = jobs or os.cpu_count() or 1
        self.timeout = timeout
        self.ctx = mp.get_context("spawn")
        self.workers = [_Worker(self.ctx, system) for _ in range(self.capacity)]
        self.queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self.queue.append(task)
        self._dispatch()

    def busy(self) -> int:
        return len(self.queue) + sum(w.task is not None for w in self.workers)

    def _dispatch(self) -> None:
        for w in self.workers:
            if w.ready and w.task is None and self.queue:
                w.give(self.queue.popleft())

    def results(self, timeout: float | None) -> list[RunResult]:
        running = [w for w in self.workers if w.task is not None]
        starting = [w for w in self.workers if not w.ready]
        if not running and not (starting and self.queue):
            return []
        wait_for = timeout
        if self.timeout is not None and running:
            now = time.monotonic()
            to_deadline = min(w.started + self.timeout - now for w in running)
            wait_for = max(0.0, to_deadline) if wait_for is None else max(0.0, min(wait_for, to_deadline))
        ready = set(wait([w.conn for w in running + starting], wait_for))
        out: list[RunResult] = []
        for i, w in enumerate(self.workers):
            if not w.ready and w.conn in ready:
                try:
                    w.ready = w.conn.recv() == "ready"
                except (EOFError, OSError):
                    w.process.join(timeout=5)
                    self.close()
                    raise RuntimeError(
                        f"a pool worker exited while starting (exit code {w.process.exitcode}). Workers are "
                        "started with 'spawn', which imports the main script again: a script that calls "
                        "loadwise must guard that call with `if __name__ == \"__main__\":`") from None
                continue
            if w.task is None:
                continue
            if w.conn in ready:
                try:
                    out.extend(w.conn.recv())
                    w.task = None
                    continue
                except (EOFError, OSError):
                    w.process.join(timeout=5)
                    reason = f"worker process crashed (exit code {w.process.exitcode})"
            elif self.timeout is not None and time.monotonic() - w.started >= self.timeout:
                reason = f"timeout after {self.timeout:g} s"
            else:
                continue
            out.extend(RunResult(spec, False, reason=reason, seconds=time.monotonic() - w.started) for spec in w.task)
            w.kill()
            self.workers[i] = _Worker(self.ctx, self.system)
        self._dispatch()
        return out

    def close(self) -> None:
        self.queue.clear()
        for w in self.workers:
            if w.task is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
        for w in self.workers:
            w.process.join(timeout=2)
            if w.process.is_alive():
                w.kill()


class RayBackend:
    """The same runs as Ray tasks: a local Ray instance, or a cluster with `address`."""

    def __init__(self, system: System, jobs: int | None = None, timeout: float | None = None,
                 address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("backend", "ray is not installed; pip install 'loadwise[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=jobs or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        self.capacity = jobs or int(ray.cluster_resources().get("CPU", 1))
        self.timeout = timeout
        self.system_ref = ray.put(system)
        # a task lost with its node or worker process is run again elsewhere (a run is a pure
        # function); a simulator's own exceptions come back as failed results, never retried
        self.remote_run = ray.remote(num_cpus=1, max_retries=3, retry_exceptions=False)(execute_task)
        self.queue: deque[Task] = deque()
        self.running: dict[Any, tuple[Task, float]] = {}

    def submit(self, task: Task) -> None:
        self.queue.append(task)
        self._dispatch()

    def busy(self) -> int:
        return len(self.queue) + len(self.running)

    def _dispatch(self) -> None:
        while self.queue and len(self.running) < self.capacity:
            task = self.queue.popleft()
            self.running[self.remote_run.remote(self.system_ref, task)] = (task, time.monotonic())

    def results(self, timeout: float | None) -> list[RunResult]:
        if not self.running:
            return []
        wait_for = timeout
        if self.timeout is not None:
            to_deadline = min(t + self.timeout for _, t in self.running.values()) - time.monotonic()
            wait_for = max(0.0, to_deadline if wait_for is None else min(wait_for, to_deadline))
        done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=wait_for)
        out: list[RunResult] = []
        for ref in done:
            task, started = self.running.pop(ref)
            try:
                out.extend(self.ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - a worker that died or a task Ray failed is a failed run
                reason = f"ray task failed: {type(exc).__name__}: {exc}"[:500]
                out.extend(RunResult(spec, False, reason=reason, seconds=time.monotonic() - started) for spec in task)
        if self.timeout is not None:
            for ref, (task, started) in list(self.running.items()):
                if time.monotonic() - started >= self.timeout:
                    self.ray.cancel(ref, force=True)
                    del self.running[ref]
                    out.extend(RunResult(spec, False, reason=f"timeout after {self.timeout:g} s",
                                         seconds=time.monotonic() - started) for spec in task)
        self._dispatch()
        return out

    def close(self) -> None:
        for ref in self.running:
            self.ray.cancel(ref, force=True)
        self.running.clear()
        self.queue.clear()


def make_backend(name: str, system: System, jobs: int | None = None, timeout: float | None = None,
                 address: str | None = None, on_progress: Callable[[int, int], None] | None = None) -> Backend:
    """A backend by name: local (default), ray, or inline (which reports `on_progress` within tasks)."""
    if address and name != "ray":
        raise ConfigError("address", "only the ray backend takes an address")
    if name == "local":
        return LocalPool(system, jobs, timeout)
    if name == "ray":
        return RayBackend(system, jobs, timeout, address)
    if name == "inline":
        return InlineBackend(system, on_progress)
    raise ConfigError("backend", f"{name!r} is not allowed (one of local, ray, inline)")
