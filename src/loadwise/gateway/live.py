"""The backends as the gateway sees them: its own in-flight counts plus each backend's `/metrics`.

The router's view of the servers is `routing.ServerLoad`, the structure the simulator
fills from its server models; here it is filled from live sources:

- running / waiting: from the last scrape of the backend's vLLM metrics while it is fresh
  (younger than `STALE_AFTER_S`, the endpoint picker's default of the Gateway API
  Inference Extension), corrected by what the gateway itself sent and got back since that
  scrape, and never below the gateway's own in-flight requests; from the gateway's
  in-flight requests alone once the scrape is stale or the backend has no metrics. The
  total is split into running (up to `max_num_seqs`, from the profile) and waiting.
- KV-cache use: the last scrape's (0 before any).
- recent latency: an exponentially weighted mean of the per-call latencies the gateway
  measured (weight 0.1, started at the profile's one-request latency, as the simulator's
  servers keep it).
- mean work in each backend (for the latency prediction): the expected work of the
  gateway's own in-flight calls (their strategy's mean length plus prefill) and the
  profile's mean for the rest.

Durations are in profile seconds: measured real durations are multiplied by `speedup`
(1 for real servers; K for an emulator run K times faster).

A backend is unhealthy after a connection error or a 5xx answer, or when its `/metrics`
cannot be reached or answers an error (a scrape that is only slow leaves the metrics
stale); it is healthy again after a successful scrape at least `RECOVERY_S` later. An unhealthy
backend is shown to the router as full (all slots running, a long waiting line), and the
gateway never sends to it. A backend is *saturated* as the Inference Extension defines it
by default: waiting ≥ 5 or KV cache ≥ 80 % (reported in `/metrics` and `/healthz`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np

from loadwise.gateway import vllm_metrics as vm
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import ServerLoad

STALE_AFTER_S = 0.2
SATURATED_WAITING = 5
SATURATED_KV = 0.8
RECOVERY_S = 1.0
SCRAPE_TIMEOUT_S = 2.0
RECENT_WEIGHT = 0.1
POLL_INTERVAL_S = 0.05
UNHEALTHY_WAITING_PER_SLOT = 8  # an unhealthy backend looks this many batches deep


@dataclass
class Backend:
    """One model's server behind the gateway."""

    model: int                 # profile index
    name: str                  # profile model name
    url: str                   # base URL, without /v1
    served: str                # the model name the backend serves (its /v1/models id)
    cap: int                   # max_num_seqs from the profile
    recent: float              # recent per-call latency, profile seconds
    inflight: int = 0
    inflight_work: float = 0.0
    scraped: vm.BackendMetrics | None = None
    scraped_at: float = -1e18  # loop time the scrape was sent
    has_metrics: bool = True
    since_dispatched: int = 0  # own requests sent / finished since the last scrape was sent
    since_completed: int = 0
    healthy: bool = True
    failed_at: float = -1e18
    errors: dict[str, int] = field(default_factory=dict)

    def fresh(self, now: float) -> bool:
        return self.scraped is not None and now - self.scraped_at <= STALE_AFTER_S

    def in_system(self, now: float) -> int:
        own = self.inflight
        if self.fresh(now):
            s = self.scraped
            scraped = (s.running or 0.0) + (s.waiting or 0.0)
            return max(own, round(scraped) + self.since_dispatched - self.since_completed)
        return own

    def saturated(self, now: float) -> bool:
        total = self.in_system(now)
        waiting = max(0, total - self.cap)
        kv = self.scraped.kv_use if self.scraped is not None and self.scraped.kv_use is not None else 0.0
        return waiting >= SATURATED_WAITING or kv >= SATURATED_KV


class LiveState:
    """Every profiled model's backend (None where none is configured) and the poller that scrapes them."""

    def __init__(self, profiles: Profiles, backends: list[Backend], speedup: float = 1.0,
                 poll_interval: float = POLL_INTERVAL_S) -> None:
        self.profiles = profiles
        self.speedup = float(speedup)
        self.poll_interval = poll_interval
        self.by_model: list[Backend | None] = [None] * len(profiles.model_names)
        for b in backends:
            self.by_model[b.model] = b
        p = profiles
        self.default_work = float(p.mean_tokens.mean()) + p.prefill_cost * p.workflow.prompt_tokens  # (M,)
        self.cap = p.max_num_seqs.astype(np.int64)

    @property
    def backends(self) -> list[Backend]:
        return [b for b in self.by_model if b is not None]

    def usable(self) -> np.ndarray:
        """bool (M,): models with a healthy backend."""
        return np.array([b is not None and b.healthy for b in self.by_model])

    def load(self, now: float) -> tuple[ServerLoad, np.ndarray]:
        """The servers now as a one-row ServerLoad, and the mean work (tokens) in each (1, M)."""
        m = len(self.by_model)
        running = np.zeros((1, m), dtype=np.int64)
        waiting = np.zeros((1, m), dtype=np.int64)
        kv = np.zeros((1, m))
        recent = np.zeros((1, m))
        work = self.default_work.reshape(1, m).copy()
        for i, b in enumerate(self.by_model):
            cap = int(self.cap[i])
            if b is None or not b.healthy:
                running[0, i], waiting[0, i] = cap, UNHEALTHY_WAITING_PER_SLOT * cap
                recent[0, i] = b.recent if b is not None else 0.0
                continue
            total = b.in_system(now)
            running[0, i], waiting[0, i] = min(total, cap), max(0, total - cap)
            if b.scraped is not None and b.scraped.kv_use is not None:
                kv[0, i] = b.scraped.kv_use
            recent[0, i] = b.recent
            if total:
                others = max(0, total - b.inflight)
                work[0, i] = (b.inflight_work + others * self.default_work[i]) / max(total, 1)
        return ServerLoad(running=running, waiting=waiting, kv_use=kv, recent_latency=recent,
                          max_num_seqs=self.profiles.max_num_seqs), work

    # what the gateway sends and gets back

    def dispatched(self, b: Backend, work: float) -> None:
        b.inflight += 1
        b.inflight_work += work
        b.since_dispatched += 1

    def finished(self, b: Backend, work: float, latency_real_s: float | None) -> None:
        """A request left the backend; `latency_real_s` when it completed (not when it failed)."""
        b.inflight -= 1
        b.inflight_work = max(0.0, b.inflight_work - work)
        b.since_completed += 1
        if latency_real_s is not None:
            b.recent += RECENT_WEIGHT * (latency_real_s * self.speedup - b.recent)

    def failed(self, b: Backend, kind: str, now: float) -> None:
        b.healthy = False
        b.failed_at = now
        b.errors[kind] = b.errors.get(kind, 0) + 1

    # the poller

    async def scrape(self, session: aiohttp.ClientSession, b: Backend, now: float) -> None:
        sent_dispatched, sent_completed = b.since_dispatched, b.since_completed
        try:
            async with session.get(f"{b.url}/metrics", timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)) as resp:
                status = resp.status
                text = await resp.text() if status == 200 else ""
        except TimeoutError:  # slow, not down: its metrics just go stale
            return
        except (aiohttp.ClientError, OSError):
            if b.healthy:
                self.failed(b, "metrics", now)
            return
        if status == 404:  # an OpenAI-compatible server without metrics: own counts only
            b.has_metrics = False
        elif status >= 400:
            if b.healthy:
                self.failed(b, "metrics", now)
            return
        else:
            b.has_metrics = True
            b.scraped = vm.parse(text, b.served)
            b.scraped_at = now
            b.since_dispatched -= sent_dispatched
            b.since_completed -= sent_completed
        if not b.healthy and now - b.failed_at >= RECOVERY_S:
            b.healthy = True

    async def poll(self, session: aiohttp.ClientSession) -> None:
        """Scrape every backend every `poll_interval` seconds, until cancelled."""
        while True:
            now = time.perf_counter()
            await asyncio.gather(*(self.scrape(session, b, now) for b in self.backends))
            await asyncio.sleep(max(0.0, self.poll_interval - (time.perf_counter() - now)))
