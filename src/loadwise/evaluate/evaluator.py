"""The evaluator: runs on a backend, through the cache, with live counts for progress.

`submit` answers from the cache when it can (that is how resume skips finished work),
never runs the same spec twice at the same time, and stores every fresh result. With a
cache, it claims each run before executing it: a run another live process has claimed
(several tuners sharing a study) is awaited and answered when that process stores it,
or taken over if that process dies.
`run_all` can also hand a backend several runs of one config as one task (`chunks`),
for systems that simulate them faster together. A run that must `record` more than
metrics always executes (the cache keeps metrics only), and its metrics are stored.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from loadwise.evaluate.backends import Backend
from loadwise.evaluate.cache import RunCache
from loadwise.evaluate.runs import RunResult, RunSpec


class Evaluator:
    """Runs specs on a backend through the cache; `cost(spec)` weighs a fresh run (default: its fidelity)."""

    def __init__(self, backend: Backend, cache: RunCache | None = None,
                 cost: Callable[[RunSpec], float] | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.cost = cost
        self.ready: list[RunResult] = []
        self.in_flight: dict[str, RunSpec] = {}  # executing here
        self.elsewhere: dict[str, RunSpec] = {}  # claimed by another process, awaited
        self.executed = 0  # fresh simulations finished by this process
        self.executed_cost = 0.0  # the same, in full-length runs (`cost`)
        self.reused = 0  # answered from the cache
        self.failed = 0
        self.duplicates = 0  # executed here although another process stored the run first
        self._checked = 0.0  # when claims were last renewed and awaited runs looked up

    @property
    def capacity(self) -> int:
        return self.backend.capacity

    def busy(self) -> int:
        return self.backend.busy() + len(self.elsewhere)

    def submit(self, spec: RunSpec) -> None:
        """Queue a run; a cached result is ready at once, a duplicate of one in flight is dropped."""
        self.submit_task([spec])

    def submit_task(self, specs: Iterable[RunSpec]) -> None:
        """Queue runs to execute together as one task (cached ones are answered at once)."""
        todo = []
        for spec in specs:
            if spec.key in self.in_flight or spec.key in self.elsewhere:
                continue
            hit = self.cache.get(spec) if self.cache is not None and not spec.record else None
            if hit is not None:
                self.reused += 1
                self.ready.append(hit)
                continue
            if self.cache is not None and not self.cache.claim(spec):
                self.elsewhere[spec.key] = spec
                continue
            self.in_flight[spec.key] = spec
            todo.append(spec)
        if todo:
            self.backend.submit(tuple(todo))

    def results(self, timeout: float | None = 0.5) -> list[RunResult]:
        """Finished runs (cached ones first); waits up to `timeout` when nothing is ready."""
        out, self.ready = self.ready, []
        if not out and self.elsewhere and not self.backend.busy():
            time.sleep(min(timeout or 0.0, 0.2))  # only other processes' runs to wait for
        if not out or self.backend.busy():
            for r in self.backend.results(0.0 if out else timeout):
                del self.in_flight[r.spec.key]
                self.executed += 1
                self.executed_cost += self.cost(r.spec) if self.cost is not None else r.spec.fidelity
                self.failed += not r.ok
                if self.cache is not None and not self.cache.put(r):
                    self.duplicates += 1
                out.append(r)
        if self.cache is not None and time.monotonic() - self._checked > 0.5:
            self._checked = time.monotonic()
            self.cache.renew(list(self.in_flight.values()))
            out += self._awaited()
        return out

    def _awaited(self) -> list[RunResult]:
        """Runs other processes finished meanwhile; runs of processes that died are taken over."""
        out = []
        for key, spec in list(self.elsewhere.items()):
            hit = self.cache.get(spec)
            if hit is not None:
                self.reused += 1
                out.append(hit)
                del self.elsewhere[key]
            elif self.cache.claim(spec):
                del self.elsewhere[key]
                self.in_flight[key] = spec
                self.backend.submit((spec,))
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
