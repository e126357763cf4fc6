"""The evaluator: runs on a backend, through the cache, with live counts for progress.

`submit` answers from the cache when it can (that is how resume skips finished work),
never runs the same spec twice at the same time, and stores every fresh result.
`run_all` can also hand a backend several runs of one config as one task (`chunks`),
for systems that simulate them faster together. A run that must `record` more than
metrics always executes (the cache keeps metrics only), and its metrics are stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from loadwise.evaluate.backends import Backend
from loadwise.evaluate.cache import RunCache
from loadwise.evaluate.runs import RunResult, RunSpec


class Evaluator:
    def __init__(self, backend: Backend, cache: RunCache | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.ready: list[RunResult] = []
        self.in_flight: set[str] = set()
        self.executed = 0  # fresh simulations finished by this process
        self.executed_cost = 0.0  # the same, weighted by fidelity
        self.reused = 0  # answered from the cache
        self.failed = 0

    @property
    def capacity(self) -> int:
        return self.backend.capacity

    def busy(self) -> int:
        return self.backend.busy()

    def submit(self, spec: RunSpec) -> None:
        """Queue a run; a cached result is ready at once, a duplicate of one in flight is dropped."""
        self.submit_task([spec])

    def submit_task(self, specs: Iterable[RunSpec]) -> None:
        """Queue runs to execute together as one task (cached ones are answered at once)."""
        todo = []
        for spec in specs:
            if spec.key in self.in_flight:
                continue
            hit = self.cache.get(spec) if self.cache is not None and not spec.record else None
            if hit is not None:
                self.reused += 1
                self.ready.append(hit)
                continue
            self.in_flight.add(spec.key)
            todo.append(spec)
        if todo:
            self.backend.submit(tuple(todo))

    def results(self, timeout: float | None = 0.5) -> list[RunResult]:
        """Finished runs (cached ones first); waits up to `timeout` when nothing is ready."""
        out, self.ready = self.ready, []
        if not out or self.backend.busy():
            for r in self.backend.results(0.0 if out else timeout):
                self.in_flight.discard(r.spec.key)
                self.executed += 1
                self.executed_cost += r.spec.fidelity
                self.failed += not r.ok
                if self.cache is not None:
                    self.cache.put(r)
                out.append(r)
        return out

    def run_all(self, specs: Iterable[RunSpec], on_result: Callable[[RunResult], None] | None = None,
                chunks: int | None = None) -> dict[str, RunResult]:
        """Run every spec (cache first); results by spec key.

        With `chunks`, the specs of each (config, fidelity) go to the backend as that many
        tasks (round-robin), so a system that runs groups simulates each chunk together.
        """
        wanted = {s.key: s for s in specs}
        done: dict[str, RunResult] = {}
        if chunks is None:
            for spec in wanted.values():
                self.submit(spec)
        else:
            groups: dict[tuple[str, float], list[RunSpec]] = defaultdict(list)
            for spec in wanted.values():
                groups[(spec.config_key, spec.fidelity)].append(spec)
            for group in groups.values():
                n = max(1, min(chunks, len(group)))
                for i in range(n):
                    self.submit_task(group[i::n])
        while len(done) < len(wanted):
            for r in self.results(timeout=1.0):
                if r.spec.key in wanted and r.spec.key not in done:
                    done[r.spec.key] = r
                    if on_result is not None:
                        on_result(r)
        return done

    def close(self) -> None:
        self.backend.close()
