"""One model server with continuous batching, in virtual time.

Up to `max_num_seqs` requests run at once; all of them advance one output token every
tpot(n) seconds, n = number running. Instead of updating every running request at
every event (O(batch)), the server keeps the virtual progress V(t) = integral of
dt / tpot(n(t)), the tokens any request running since time 0 would have produced. A
request that starts at V0 with `work` tokens finishes when V reaches V0 + work, so the
running requests sit in a heap keyed by that target and every event costs O(log n).
Waiting requests start in FCFS order or earliest-deadline-first (EDF) order.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

INF = math.inf


class Server:
    __slots__ = (
        "V", "area", "cap", "completed", "edf", "kv_capacity", "n", "next_finish", "recent", "recent_weight",
        "running", "seq", "sojourn", "sum_prompt", "sum_vstart", "sum_work", "t", "tpot", "waiting",
    )

    def __init__(self, tpot_table: list[float], cap: int, kv_capacity: float, edf: bool,
                 recent0: float, recent_weight: float = 0.1) -> None:
        self.tpot = tpot_table        # seconds per token with n running, index n
        self.cap = cap
        self.kv_capacity = kv_capacity
        self.edf = edf
        self.V = 0.0                  # virtual progress at time self.t
        self.t = 0.0
        self.n = 0                    # running requests
        self.running: list[tuple[float, int, float, float, Any]] = []  # (target V, seq, V0, prompt, payload)
        self.waiting: list[tuple[float, int, float, float, float, Any]] = []  # (key, seq, work, prompt, submit t, payload)
        self.seq = 0
        self.next_finish = INF
        self.sum_vstart = 0.0
        self.sum_prompt = 0.0
        self.sum_work = 0.0           # work (tokens) of all requests in the system, running or waiting
        self.area = 0.0               # integral of (running + waiting) dt, for time averages
        self.completed = 0
        self.sojourn = 0.0            # total submit-to-finish time of completed requests
        self.recent = recent0         # exponentially weighted recent per-call latency
        self.recent_weight = recent_weight

    def advance(self, t: float) -> None:
        """Move the clock to t (no event in between)."""
        dt = t - self.t
        if dt > 0.0:
            n = self.n
            if n:
                self.V += dt / self.tpot[n]
                self.area += dt * (n + len(self.waiting))
            self.t = t

    def _refresh(self) -> None:
        self.next_finish = self.t + (self.running[0][0] - self.V) * self.tpot[self.n] if self.n else INF

    def _start(self, work: float, prompt: float, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.running, (self.V + work, self.seq, self.V, prompt, payload))
        self.n += 1
        self.sum_vstart += self.V
        self.sum_prompt += prompt

    def kv_use(self) -> float:
        """Share of the KV cache held by running requests (prompt + tokens produced so far)."""
        if not self.n:
            return 0.0
        held = self.sum_prompt + self.n * self.V - self.sum_vstart
        return min(1.0, max(0.0, held / self.kv_capacity))

    def submit(self, t: float, work: float, prompt: float, deadline: float, payload: Any) -> None:
        """A request arrives at time t; it starts now if a slot is free, else waits."""
        self.advance(t)
        self.sum_work += work
        if self.n < self.cap:
            self._start(work, prompt, (payload, t))
        else:
            self.seq += 1
            key = deadline if self.edf else t
            heapq.heappush(self.waiting, (key, self.seq, work, prompt, t, payload))
        self._refresh()

    def finish(self) -> tuple[Any, float, float]:
        """Complete the request due at next_finish: (payload, submit time, finish time)."""
        t = self.next_finish
        self.advance(t)
        target, _, v0, prompt, (payload, submitted) = heapq.heappop(self.running)
        self.n -= 1
        self.sum_vstart -= v0
        self.sum_prompt -= prompt
        self.sum_work -= target - v0
        if not self.n:  # re-anchor to keep V and the sums small and exact
            self.V = self.sum_vstart = self.sum_prompt = self.sum_work = 0.0
        if self.waiting:
            _, _, work, p, sub, pay = heapq.heappop(self.waiting)
            self._start(work, p, (pay, sub))
        self._refresh()
        latency = t - submitted
        self.completed += 1
        self.sojourn += latency
        self.recent += self.recent_weight * (latency - self.recent)
        return payload, submitted, t

    def load(self, t: float, default_work: float) -> tuple[int, int, float, float, float]:
        """What a router may see at time t (no event since the last one): running, waiting,
        recent latency, mean work in the system (`default_work` when empty) and the tokens
        the running requests hold in the KV cache (their prompts plus what they produced)."""
        n = self.n
        k = n + len(self.waiting)
        if not n:
            return 0, k, self.recent, self.sum_work / k if k else default_work, 0.0
        held = self.sum_prompt + n * (self.V + (t - self.t) / self.tpot[n]) - self.sum_vstart
        return n, k - n, self.recent, self.sum_work / k, held

    def remove(self, payload: Any) -> bool:
        """Drop a request (running or waiting) that its client abandoned; False when it is not here.

        The clock must be at the current time (`advance`). A freed batch slot goes to the
        next waiting request, as on a finish.
        """
        for i, (_, _, work, _, _, pay) in enumerate(self.waiting):
            if pay is payload:
                self.waiting[i] = self.waiting[-1]
                self.waiting.pop()
                heapq.heapify(self.waiting)
                self.sum_work -= work
                return True
        for i, (target, _, v0, prompt, (pay, _)) in enumerate(self.running):
            if pay is payload:
                self.running[i] = self.running[-1]
                self.running.pop()
                heapq.heapify(self.running)
                self.n -= 1
                self.sum_vstart -= v0
                self.sum_prompt -= prompt
                self.sum_work -= target - v0
                if self.waiting:
                    _, _, w, p, sub, nxt = heapq.heappop(self.waiting)
                    self._start(w, p, (nxt, sub))
                self._refresh()
                return True
        return False

    def waiting_keys(self) -> list[float]:
        """Queue keys (deadline under EDF, submit time under FCFS) of the waiting requests."""
        return [w[0] for w in self.waiting]
