"""The gateway: an OpenAI-compatible HTTP server that routes every request with a loadwise router.

Endpoints: `POST /v1/chat/completions` and `/v1/completions` (streamed or not), `GET
/v1/models`, `GET /metrics` (its own Prometheus metrics), `GET /healthz`, and two loadwise
extensions: `POST /loadwise/v1/plan` (the router's planner: topology, agents and roles for
a workflow that is starting; it also starts the workflow's budget clock) and `GET
/loadwise/v1/info` (router, profiles, speedup).

Per request: read and check it (400 naming the parameter); refuse it with 429 and
`Retry-After` when `max_inflight` requests are already in flight; find its workflow's
budget clock; let the router pick (model, strategy) from the live state (`decide`);
apply the strategy on the wire (`wire.apply_strategy`); forward it with aiohttp. A backend
that cannot be reached or answers 5xx is marked unhealthy and the request is retried once
on the next-best pair, if nothing was streamed yet; after that the client gets a 502 with
an OpenAI-style error. A client that disconnects cancels its backend request. Any other
failure is a 500 with an OpenAI-style error and no traceback. The answer's `loadwise`
object adds what the gateway decided and saw (model, strategy, the chosen server's
running/waiting/KV use at dispatch, budget left, attempts, decision time) to what the
backend reported.

A request names the model `auto` (or the gateway's name) to be routed; a backend's own
model name sends it there unchanged (pinned, no strategy applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from loadwise.gateway import openai_api as api
from loadwise.gateway.asgi import ClientGone, unless_disconnected
from loadwise.gateway.decide import Decider, Decision, NoBackend, Workflow, WorkflowClocks
from loadwise.gateway.live import STALE_AFTER_S, Backend, LiveState
from loadwise.gateway.wire import CALL_HEADER, CallContext, apply_strategy, parse_context
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import ROLES, STRATEGIES, SUBJECTS, TOPOLOGIES, Router

log = logging.getLogger("loadwise.gateway")
ROUTED_NAMES = ("auto", "loadwise")
DEFAULT_BUDGET_S = 600.0
MAX_INFLIGHT = 512
BACKEND_TIMEOUT_S = 600.0
RETRY_AFTER_S = 1.0
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0,
                    120.0, 300.0, 600.0)
_DECISION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)


@dataclass(frozen=True)
class GatewayConfig:
    router_label: str               # what `info` reports: a router name or a checkpoint path
    profiles_path: str
    speedup: float = 1.0
    default_budget: float = DEFAULT_BUDGET_S
    max_inflight: int = MAX_INFLIGHT
    poll_interval: float = 0.05
    backend_timeout: float = BACKEND_TIMEOUT_S


@dataclass
class _Answer:
    """A backend's answer: whole (`body`), or an open stream to relay."""

    status: int
    content_type: str
    body: bytes
    stream: aiohttp.ClientResponse | None


class _Metrics:
    """The gateway's own Prometheus metrics."""

    def __init__(self, gateway: Gateway) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("loadwise_gateway_requests", "Requests by outcome.", ["outcome"], registry=r)
        self.decisions = Counter("loadwise_gateway_decisions", "Routing decisions by model and strategy.",
                                 ["model", "strategy", "routed_by"], registry=r)
        self.duration = Histogram("loadwise_gateway_request_duration_seconds", "Request latency through the "
                                  "gateway, real seconds.", ["model"], buckets=_LATENCY_BUCKETS, registry=r)
        self.decision_time = Histogram("loadwise_gateway_decision_seconds", "Time to build the state and decide "
                                       "(model, strategy), real seconds.", buckets=_DECISION_BUCKETS, registry=r)
        self.violations = Counter("loadwise_gateway_budget_violations", "Requests answered after their "
                                  "workflow's budget ran out.", registry=r)
        self.retries = Counter("loadwise_gateway_retries", "Requests retried on the next-best choice.", registry=r)
        self.cancelled = Counter("loadwise_gateway_client_disconnects", "Requests whose client went away; their "
                                 "backend request was cancelled.", registry=r)
        r.register(_StateCollector(gateway))


class _StateCollector:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def collect(self):
        g = self.gateway
        now = time.perf_counter()
        families = {
            "inflight": GaugeMetricFamily("loadwise_gateway_inflight", "Requests in flight per backend.",
                                          labels=["model"]),
            "healthy": GaugeMetricFamily("loadwise_gateway_backend_healthy", "1 when the backend is usable.",
                                         labels=["model"]),
            "saturated": GaugeMetricFamily("loadwise_gateway_backend_saturated", "1 when waiting >= 5 or KV "
                                           "cache >= 80 % (Gateway API Inference Extension).", labels=["model"]),
            "age": GaugeMetricFamily("loadwise_gateway_backend_metrics_age_seconds", "Age of the last scrape of "
                                     f"the backend's /metrics (stale after {STALE_AFTER_S} s).", labels=["model"]),
        }
        errors = CounterMetricFamily("loadwise_gateway_backend_errors", "Failed backend calls and scrapes by model "
                                     "and kind (each marks the backend unhealthy).", labels=["model", "kind"])
        for b in g.live.backends:
            for kind, count in sorted(b.errors.items()):
                errors.add_metric([b.name, kind], count)
            families["inflight"].add_metric([b.name], b.inflight)
            families["healthy"].add_metric([b.name], float(b.healthy))
            families["saturated"].add_metric([b.name], float(b.saturated(now)))
            families["age"].add_metric([b.name], now - b.scraped_at if b.scraped is not None else float("inf"))
        yield from families.values()
        yield errors


class Gateway:
    """The gateway's state and its Starlette app (`app`)."""

    def __init__(self, router: Router, profiles: Profiles, backends: list[Backend], config: GatewayConfig,
                 seed: int = 0) -> None:
        self.router = router
        self.profiles = profiles
        self.config = config
        self.live = LiveState(profiles, backends, config.speedup, config.poll_interval)
        self.clocks = WorkflowClocks(config.speedup)
        self.decider = Decider(router, profiles, self.live, seed)
        self.metrics = _Metrics(self)
        self.inflight = 0
        self.session: aiohttp.ClientSession | None = None  # to the backends (see _lifespan)
        self.on_ready: list[Callable[[], None]] = []  # called once the backends are known and polled
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.text, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/metrics", self.prometheus, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/loadwise/v1/plan", self.plan, methods=["POST"]),
            Route("/loadwise/v1/info", self.info, methods=["GET"]),
        ], lifespan=self._lifespan, exception_handlers={Exception: self._internal_error})

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # aiohttp keeps idle connections per host in a queue, so a request costs the same with 5 or 500
        # connections open; httpx's pool (httpcore) scans every connection whenever a request is assigned,
        # which cost milliseconds per request at the concurrency of a load test (BENCHMARKS.md)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
            total=self.config.backend_timeout, connect=2.0))
        await asyncio.gather(*(self._discover(b) for b in self.live.backends))
        poller = asyncio.create_task(self.live.poll(self.session))
        # what was loaded at startup (numpy, scipy, pandas, torch, the router) stays: keep it out of the
        # collector's full passes, which otherwise stall a request for tens of milliseconds
        gc.collect()
        gc.freeze()
        for hook in self.on_ready:
            hook()
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await self.session.close()

    async def _discover(self, backend: Backend) -> None:
        """Take the backend's served model name from its /v1/models when it lists exactly one."""
        assert self.session is not None
        try:
            async with self.session.get(f"{backend.url}/v1/models", timeout=aiohttp.ClientTimeout(total=2.0)) as r:
                listed = [m.get("id") for m in (await r.json()).get("data", [])] if r.status == 200 else []
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
            listed = []
        if len(listed) == 1 and isinstance(listed[0], str):
            backend.served = listed[0]

    async def _internal_error(self, _request: Request, exc: Exception) -> Response:
        log.exception("internal error", exc_info=exc)
        self.metrics.requests.labels("error").inc()
        return api.ApiError(500, f"internal gateway error ({type(exc).__name__})", kind="server_error").response()

    # informational endpoints

    async def models(self, _: Request) -> Response:
        names = [*ROUTED_NAMES[:1], *(b.name for b in self.live.backends)]
        return JSONResponse(api.models_list(names, "loadwise-gateway"))

    async def prometheus(self, _: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def healthz(self, _: Request) -> Response:
        now = time.perf_counter()
        backends = {b.name: {"url": b.url, "healthy": b.healthy, "saturated": b.saturated(now),
                             "metrics_fresh": b.fresh(now), "inflight": b.inflight} for b in self.live.backends}
        ok = any(b.healthy for b in self.live.backends)
        return JSONResponse({"status": "ok" if ok else "unavailable", "backends": backends},
                            status_code=200 if ok else 503)

    async def info(self, _: Request) -> Response:
        c = self.config
        return JSONResponse({"router": c.router_label, "profiles": c.profiles_path, "speedup": c.speedup,
                             "default_budget": c.default_budget,
                             "backends": {b.name: b.url for b in self.live.backends}})

    async def plan(self, request: Request) -> Response:
        """The planner's answer for a workflow that starts now (loadwise extension)."""
        try:
            body = await api.read_body(request)
            ctx = parse_context(body, request.headers)
            u_plan = body.get("u_plan")
            if u_plan is not None and not (isinstance(u_plan, (int, float)) and 0 <= u_plan <= 1):
                raise api.bad_param("u_plan", "must be a number in [0, 1]")
        except api.ApiError as err:
            return err.response()
        now = time.perf_counter()
        budget = ctx.budget_s or self.config.default_budget
        wf = self.clocks.touch(ctx.workflow_id, budget, now)
        plan = self.decider.plan(budget, ctx.level, ctx.subject, u_plan, wf, now, self.clocks)
        k = int(plan.n_agents[0])
        return JSONResponse({"topology": TOPOLOGIES[int(plan.topology[0])], "n_agents": k,
                             "roles": [ROLES[int(r)] for r in plan.roles[0][:k]], "budget_s": budget,
                             "subject": SUBJECTS[ctx.subject], "level": ctx.level})

    # completions

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, api.CHAT)

    async def text(self, request: Request) -> Response:
        return await self._complete(request, api.COMPLETION)

    async def _complete(self, request: Request, kind: str) -> Response:
        arrived = time.perf_counter()
        try:
            body = await api.read_body(request)
            text = api.check_request(body, kind)
            ctx = parse_context(body.get(api.EXTENSION, {}), request.headers)
            pinned = None
            if body["model"] not in ROUTED_NAMES:
                pinned = next((b for b in self.live.backends if body["model"] in (b.name, b.served)), None)
                if pinned is None:
                    raise api.ApiError(404, f"The model `{body['model']}` does not exist; use `auto` to let the "
                                       "router choose.", param="model", code="model_not_found")
        except api.ApiError as err:
            self.metrics.requests.labels("bad_request").inc()
            return err.response()
        if self.inflight >= self.config.max_inflight:
            self.metrics.requests.labels("rejected").inc()
            return api.ApiError(429, f"the gateway is at its limit of {self.config.max_inflight} requests in "
                                "flight; retry later", kind="rate_limit_error", code="server_is_overloaded",
                                retry_after=RETRY_AFTER_S).response()
        budget = ctx.budget_s or self.config.default_budget
        wf = self.clocks.touch(ctx.workflow_id, budget, arrived)
        prompt_tokens = api.estimate_tokens(text)
        self.inflight += 1
        try:
            return await self._forward(request, kind, body, ctx, budget, wf, prompt_tokens, pinned, arrived)
        finally:
            self.inflight -= 1

    def _decide(self, ctx: CallContext, budget: float, wf: Workflow, prompt_tokens: int, pinned: Backend | None,
                exclude: frozenset[int], now: float) -> Decision:
        remaining = self.clocks.remaining(wf, now)
        if pinned is not None:
            if not pinned.healthy or pinned.model in exclude:
                raise NoBackend(f"backend {pinned.name} is unhealthy")
            servers, _ = self.live.load(now)
            m = pinned.model
            return Decision(-1, m, -1, int(servers.running[0, m]), int(servers.waiting[0, m]),
                            float(servers.kv_use[0, m]), remaining, float("nan"),
                            float(self.live.default_work[m]), "pinned")
        return self.decider.route(ctx, budget, remaining, prompt_tokens, wf, now, exclude)

    async def _forward(self, request: Request, kind: str, body: dict[str, Any], ctx: CallContext, budget: float,
                       wf: Workflow, prompt_tokens: int, pinned: Backend | None, arrived: float) -> Response:
        path = "/v1/chat/completions" if kind == api.CHAT else "/v1/completions"
        stream = bool(body.get("stream", False))
        exclude: frozenset[int] = frozenset()
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                d = self._decide(ctx, budget, wf, prompt_tokens, pinned, exclude, time.perf_counter())
            except NoBackend as exc:
                self.metrics.requests.labels("no_backend").inc()
                return api.ApiError(503 if attempt == 1 else 502, f"no backend can serve the request: {exc}",
                                    kind="service_unavailable_error", code="no_healthy_backend",
                                    retry_after=RETRY_AFTER_S).response()
            decision_s = time.perf_counter() - t0
            self.metrics.decision_time.observe(decision_s)
            backend = self.live.by_model[d.model]
            assert backend is not None
            if pinned is None:
                out = apply_strategy(body, kind, d.strategy, backend.served, self.profiles)
                call = ctx.header_with(STRATEGIES[d.strategy], d.remaining)
            else:
                out = {k: v for k, v in body.items() if k != api.EXTENSION}
                call = ctx.header_with(None, d.remaining)
            extra = {"model": backend.name, "strategy": STRATEGIES[d.strategy] if d.strategy >= 0 else None,
                     "routed_by": d.routed_by, "running": d.running, "waiting": d.waiting, "kv_use": d.kv_use,
                     "budget_remaining": d.remaining,
                     "predicted_latency": None if math.isnan(d.predicted_latency) else d.predicted_latency,
                     "attempts": attempt, "decision_s": decision_s, "time_scale": self.config.speedup}
            self.metrics.decisions.labels(backend.name, extra["strategy"] or "none", d.routed_by).inc()
            self.live.dispatched(backend, d.expected_work)
            started = time.perf_counter()
            try:
                result = await unless_disconnected(request, self._send(f"{backend.url}{path}", out, call, stream))
            except ClientGone:
                self.live.finished(backend, d.expected_work, None)
                self.metrics.cancelled.inc()
                self.metrics.requests.labels("client_disconnected").inc()
                return Response(status_code=499)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self._backend_failed(backend, d, type(exc).__name__, time.perf_counter())
                exclude = exclude | {d.model}
                if attempt == 1:
                    self.metrics.retries.inc()
                continue
            if result.status >= 500:
                self._backend_failed(backend, d, f"http_{result.status}", time.perf_counter())
                exclude = exclude | {d.model}
                if attempt == 1:
                    self.metrics.retries.inc()
                continue
            if stream:
                return self._relay_stream(result, backend, d, extra, wf, started, arrived)
            latency = time.perf_counter() - started
            self.live.finished(backend, d.expected_work, latency)
            self._count_done(backend, wf, latency, time.perf_counter(), "ok" if result.status < 400 else "backend_4xx")
            if result.status >= 400:
                return Response(result.body, status_code=result.status, media_type=result.content_type)
            answer = json.loads(result.body)
            answer[api.EXTENSION] = {**(answer.get(api.EXTENSION) or {}), **extra, "gateway_s": started - arrived}
            return JSONResponse(answer)
        self.metrics.requests.labels("backend_error").inc()
        return api.ApiError(502, "the chosen backend and the next-best one both failed", kind="server_error",
                            code="backend_error").response()

    def _backend_failed(self, backend: Backend, d: Decision, kind: str, now: float) -> None:
        self.live.finished(backend, d.expected_work, None)
        self.live.failed(backend, kind, now)
        log.warning("backend %s failed (%s); marked unhealthy", backend.name, kind)

    def _count_done(self, backend: Backend, wf: Workflow, latency: float, now: float, outcome: str) -> None:
        self.metrics.duration.labels(backend.name).observe(latency)
        self.metrics.requests.labels(outcome).inc()
        if self.clocks.remaining(wf, now) < 0:
            self.metrics.violations.inc()

    async def _send(self, url: str, out: dict[str, Any], call: str, stream: bool) -> _Answer:
        """POST to a backend; a whole answer is read here, a stream is left open for the relay."""
        assert self.session is not None
        resp = await self.session.post(url, data=json.dumps(out, separators=(",", ":")),
                                       headers={CALL_HEADER: call, "Content-Type": "application/json"})
        if stream and resp.status < 400:
            return _Answer(resp.status, resp.content_type, b"", resp)
        try:
            return _Answer(resp.status, resp.content_type, await resp.read(), None)
        finally:
            resp.release()

    def _relay_stream(self, answer: _Answer, backend: Backend, d: Decision, extra: dict[str, Any], wf: Workflow,
                      started: float, arrived: float) -> Response:
        if answer.stream is None:
            self.live.finished(backend, d.expected_work, time.perf_counter() - started)
            self._count_done(backend, wf, time.perf_counter() - started, time.perf_counter(), "backend_4xx")
            return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
        resp = answer.stream

        async def relay() -> AsyncIterator[bytes]:
            done = False
            try:
                async for raw in resp.content:
                    line = raw.strip()
                    if line == b"data: [DONE]":
                        extra["gateway_s"] = started - arrived
                        yield api.sse({"id": "", "object": "chat.completion.chunk", "created": int(time.time()),
                                       "model": backend.served, "choices": [], api.EXTENSION: extra})
                        yield api.SSE_DONE
                        done = True
                    elif line:
                        yield line + b"\n\n"
            except asyncio.CancelledError:  # the client went away: closing the response cancels the backend's work
                self.metrics.cancelled.inc()
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # the backend broke off mid-stream
                self.live.failed(backend, type(exc).__name__, time.perf_counter())
                err = api.ApiError(502, f"the backend broke off the stream ({type(exc).__name__})",
                                   kind="server_error", code="backend_error")
                yield b"data: " + json.dumps(err.body()).encode() + b"\n\n"
            finally:
                resp.close()
                latency = time.perf_counter() - started
                self.live.finished(backend, d.expected_work, latency if done else None)
                if done:
                    self._count_done(backend, wf, latency, time.perf_counter(), "ok")
                else:
                    self.metrics.requests.labels("stream_incomplete").inc()

        return StreamingResponse(relay(), media_type="text/event-stream")
