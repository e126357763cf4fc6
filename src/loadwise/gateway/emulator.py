"""The emulator: one OpenAI-compatible, vLLM-like server per profiled model, on a CPU.

Each model is served by the simulator's own server model (`systems.agentserve.server.
Server`: continuous batching, at most `max_num_seqs` running, every running request
advancing one token per tpot(n) seconds; the waiting line in FCFS order, as vLLM's
scheduler, or EDF by the workflow's deadline, now + the budget left that a loadwise
gateway forwards) run against a real clock: the server's virtual time is (clock −
start) × `speedup`, so at speedup 1 a request takes as long as the profile says and at
speedup 20 twenty times less. A timer fires at the next finish the model predicts; every
arrival, cancellation and scrape first completes
the finishes that are due, so the server model sees events in their virtual-time order.

A request's work is drawn as the simulator draws it: output tokens from the strategy's
lognormal length (times the CoT length factor), capped by its `max_tokens`, plus the
prefill of its prompt; its correctness is a Bernoulli draw with the profile's success
probability for the model, strategy, item level, role and the answers it sees
(`workflows.call_bonus`, `workflows.evidence`). The strategy, item and draws come from
the `X-Loadwise-Call` header a loadwise gateway sends (a load test's common random
numbers pass through it); without it the strategy is recognized by its system prompt and
the draws are fresh. The answer's text is synthetic, streamed as the model produces it,
and the response's `loadwise` object reports `correct`, the output tokens and the
modeled service time, so a load test can score goodput without a GPU.

`/metrics` speaks vLLM's names (`vllm_metrics`): running, waiting, KV-cache use, token
counters and the TTFT and end-to-end latency histograms, in emulated seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from scipy.special import expit, ndtri
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from loadwise.errors import ConfigError
from loadwise.gateway import openai_api as api
from loadwise.gateway import vllm_metrics as vm
from loadwise.gateway.asgi import ClientGone, PortDispatcher, unless_disconnected
from loadwise.gateway.wire import CALL_HEADER, CallContext, context_from_header
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routing import STRATEGIES
from loadwise.systems.agentserve.server import INF, Server
from loadwise.systems.agentserve.simulator import DISCIPLINES
from loadwise.systems.agentserve.workflows import call_bonus, evidence

STREAM_INTERVAL = 0.02  # s of real time between streamed chunks (tokens produced meanwhile go together)
_WORDS = ("sum ", "let ", "one ", "two ", "and ", "the ", "so, ", "now ", "add ", "=42 ")  # 4 chars: 1 token each
_DEFAULT_STRATEGY = STRATEGIES.index("concise")
# vLLM's bucket edges for these two histograms (vllm/v1/metrics/loggers.py)
_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
_E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
                480.0, 960.0, 1920.0, 7680.0)


def _counter(name: str) -> str:
    """A counter's name as prometheus_client wants it: it appends `_total` itself."""
    return name.removesuffix("_total")


def synthetic_text(tokens: int, offset: int = 0) -> str:
    return "".join(_WORDS[(offset + i) % len(_WORDS)] for i in range(tokens))


@dataclass(eq=False)
class _Call:
    """A request inside a model server."""

    tokens: int
    prefill: float
    prompt: float
    submitted: float = 0.0
    started: float = math.nan
    v0: float = math.nan      # the server's virtual progress when the call started
    finished: float = math.nan
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ModelServer:
    """One model's server in real time (see the module docstring)."""

    def __init__(self, profiles: Profiles, model: int, speedup: float, seed: int, edf: bool = False) -> None:
        p = self.profiles = profiles
        self.model = model
        self.name = p.model_names[model]
        self.speedup = float(speedup)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(seed), model]))
        self.server = Server(p.tpot_table(model), int(p.max_num_seqs[model]), float(p.kv_capacity[model]),
                             edf=edf, recent0=0.0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._origin = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = INF
        self.registry = CollectorRegistry()
        labels = ["model_name", "engine"]
        self.prompt_tokens = Counter(_counter(vm.NAMES["prompt_tokens"][0]), "Number of prefill tokens processed.",
                                     labels, registry=self.registry).labels(self.name, "0")
        self.generation_tokens = Counter(_counter(vm.NAMES["generation_tokens"][0]),
                                         "Number of generation tokens processed.", labels,
                                         registry=self.registry).labels(self.name, "0")
        self.ttft = Histogram(vm.TTFT, "Histogram of time to first token in seconds.", labels,
                              buckets=_TTFT_BUCKETS, registry=self.registry).labels(self.name, "0")
        self.e2e = Histogram(vm.E2E, "Histogram of e2e request latency in seconds.", labels,
                             buckets=_E2E_BUCKETS, registry=self.registry).labels(self.name, "0")
        self.registry.register(_GaugeCollector(self))

    # the clock

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin = time.perf_counter()  # the loop's own clock may be cached per iteration, at ms resolution

    def now(self) -> float:
        """Virtual (emulated) time, s."""
        assert self._loop is not None, "ModelServer.start() first"
        return (time.perf_counter() - self._origin) * self.speedup

    def _catch_up(self) -> float:
        """Complete every finish due by now; return now (virtual)."""
        v = self.now()
        s = self.server
        while s.next_finish <= v:
            nxt = s.waiting[0][5] if s.waiting else None
            call, _, t = s.finish()
            call.finished = t
            call.done.set()
            if nxt is not None:
                nxt.started, nxt.v0 = t, s.V
        s.advance(v)
        self._arm()
        return v

    def _arm(self) -> None:
        """Set the timer to the next predicted finish."""
        due = self.server.next_finish
        if due == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = due
        if due < INF:
            assert self._loop is not None
            delay = self._origin + due / self.speedup - time.perf_counter()
            self._timer = self._loop.call_later(max(0.0, delay), self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, INF
        self._catch_up()

    # requests

    def submit(self, call: _Call, budget_left: float | None = None) -> None:
        """Start or queue a call; under EDF it waits by its workflow's deadline (now + budget left;
        last when unknown), under FCFS by arrival."""
        v = self._catch_up()
        s = self.server
        call.submitted = v
        starts = s.n < s.cap
        s.submit(v, call.tokens + call.prefill, call.prompt, INF if budget_left is None else v + budget_left, call)
        if starts:
            call.started, call.v0 = v, s.V
        self._arm()

    def cancel(self, call: _Call) -> None:
        if call.done.is_set():
            return
        self._catch_up()
        s = self.server
        nxt = s.waiting[0][5] if s.waiting else None
        if s.remove(call) and nxt is not None and nxt is not call and all(w[5] is not nxt for w in s.waiting):
            nxt.started, nxt.v0 = s.t, s.V  # the freed batch slot went to the head of the line
        self._arm()

    def produced(self, call: _Call) -> int:
        """Output tokens of `call` produced so far."""
        if call.done.is_set():
            return call.tokens
        if math.isnan(call.v0):
            return 0
        s = self.server
        v = self.now()
        progress = s.V + max(0.0, v - s.t) / s.tpot[s.n] - call.v0 - call.prefill
        return int(min(call.tokens, max(0.0, progress)))

    def draw(self, ctx: CallContext, strategy: int, prompt_tokens: int, cap: int | None) -> tuple[int, bool, bool]:
        """(output tokens, correct, capped by max_tokens) of a call, as the simulator draws them."""
        p = self.profiles
        bonus, length_factor = call_bonus(p.workflow, ctx.role, ctx.subject, ctx.topology)
        z = ctx.z_length if ctx.z_length is not None else float(ndtri(self.rng.random()))
        u = ctx.u_correct if ctx.u_correct is not None else float(self.rng.random())
        limit = int(p.max_tokens[strategy]) if cap is None else min(cap, int(p.workflow.max_tokens))
        raw = math.exp(p.length_mu[strategy] + p.length_sigma[strategy] * z) * length_factor
        tokens = int(min(max(round(raw), p.workflow.min_tokens), limit))
        logit = p.logit(ctx.level)[self.model, strategy] + bonus + evidence(p.workflow.peer_weight, ctx.seen,
                                                                             ctx.seen_correct)
        return tokens, bool(u < expit(logit)), raw >= limit

    def kv_use(self) -> float:
        return self.server.kv_use(self.now())


class _GaugeCollector:
    """vLLM's scheduler gauges, computed at scrape time."""

    def __init__(self, model: ModelServer) -> None:
        self.model = model

    def collect(self):
        m = self.model
        if m._loop is not None:
            m._catch_up()
        s = m.server
        for name, doc, value in (
            (vm.NAMES["running"][0], "Number of requests in model execution batches.", s.n),
            (vm.NAMES["waiting"][0], "Number of requests waiting to be processed.", len(s.waiting)),
            (vm.NAMES["kv_use"][0], "KV-cache usage. 1 means 100 percent usage.",
             s.kv_use() if m._loop is not None else 0.0),
        ):
            family = GaugeMetricFamily(name, doc, labels=["model_name", "engine"])
            family.add_metric([m.name, "0"], float(value))
            yield family


def _strategy_of(body: dict[str, Any], ctx: CallContext, profiles: Profiles, kind: str) -> int:
    """The strategy a call runs: the gateway's word, else the one whose system prompt it carries."""
    if ctx.strategy in STRATEGIES:
        return STRATEGIES.index(ctx.strategy)
    if kind == api.CHAT:
        text = next((m.get("content") for m in body["messages"] if m.get("role") == "system"), None)
    else:
        text = body["prompt"]
    for i, spec in enumerate(profiles.spec.strategies):
        if spec.system_prompt and isinstance(text, str) and text.startswith(spec.system_prompt):
            return i
    return _DEFAULT_STRATEGY


def model_app(model: ModelServer) -> Starlette:
    """The OpenAI-compatible app of one emulated model."""

    async def completions(request: Request, kind: str) -> Response:
        try:
            body = await api.read_body(request)
            text = api.check_request(body, kind)
            if body["model"] != model.name:
                raise api.ApiError(404, f"The model `{body['model']}` does not exist.", param="model",
                                   code="model_not_found")
            ctx = context_from_header(request.headers.get(CALL_HEADER))
        except api.ApiError as err:
            return err.response()
        strategy = _strategy_of(body, ctx, model.profiles, kind)
        prompt_tokens = api.estimate_tokens(text)
        tokens, correct, capped = model.draw(ctx, strategy, prompt_tokens, api.max_tokens_of(body))
        call = _Call(tokens, float(model.profiles.prefill_cost[model.model] * prompt_tokens), float(prompt_tokens))
        rid = api.new_id(kind)
        model.prompt_tokens.inc(prompt_tokens)
        model.submit(call, ctx.budget_left)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens}
        finish = "length" if capped else "stop"

        def extra() -> dict[str, Any]:
            service = call.finished - call.submitted
            model.generation_tokens.inc(tokens)
            model.e2e.observe(service)
            work = call.tokens + call.prefill
            model.ttft.observe((call.started - call.submitted) + (call.finished - call.started) * call.prefill / work)
            return {"correct": correct, "output_tokens": tokens, "strategy": STRATEGIES[strategy],
                    "service_time": service, "time_scale": model.speedup}

        if not body.get("stream", False):
            try:
                await unless_disconnected(request, call.done.wait())
            except ClientGone:
                model.cancel(call)
                return Response(status_code=499)
            return JSONResponse(api.completion(kind, rid, model.name, synthetic_text(tokens), finish, usage, extra()))

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def stream() -> AsyncIterator[bytes]:
            sent = 0
            try:
                yield api.sse(api.chunk(kind, rid, model.name, None, first=True))
                while not call.done.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(call.done.wait(), STREAM_INTERVAL)
                    now = model.produced(call)
                    if now > sent:
                        yield api.sse(api.chunk(kind, rid, model.name, synthetic_text(now - sent, sent)))
                        sent = now
                if tokens > sent:
                    yield api.sse(api.chunk(kind, rid, model.name, synthetic_text(tokens - sent, sent)))
                yield api.sse(api.chunk(kind, rid, model.name, None, finish=finish, extra=extra(),
                                        usage=usage if include_usage else None))
                yield api.SSE_DONE
            finally:
                model.cancel(call)  # no-op once finished; a client that went away frees its slot

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def chat(request: Request) -> Response:
        return await completions(request, api.CHAT)

    async def text(request: Request) -> Response:
        return await completions(request, api.COMPLETION)

    async def models(_: Request) -> Response:
        return JSONResponse(api.models_list([model.name], "loadwise-emulator"))

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(model.registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", text, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ])


class Emulator:
    """The emulated models of a profile file, one app per listening port."""

    def __init__(self, profiles: Profiles, speedup: float = 1.0, models: list[int] | None = None,
                 seed: int = 0, discipline: str = "fcfs") -> None:
        if discipline not in DISCIPLINES:
            raise ConfigError("discipline",
                              f"unknown queue discipline {discipline!r}; allowed: {', '.join(DISCIPLINES)}")
        chosen = list(range(len(profiles.model_names))) if models is None else list(models)
        self.models = [ModelServer(profiles, m, speedup, seed, discipline == "edf") for m in chosen]

    def app(self, ports: list[int], on_ready: Callable[[], None] | None = None) -> PortDispatcher:
        """One ASGI app serving model i on ports[i]; its lifespan starts the clocks, then calls `on_ready`."""
        if len(ports) != len(self.models):
            raise ValueError(f"{len(self.models)} models need {len(self.models)} ports, got {len(ports)}")

        async def startup() -> None:
            gc.collect()
            gc.freeze()  # startup's objects stay: keep them out of the collector's full passes
            for m in self.models:
                m.start()
            if on_ready is not None:
                on_ready()

        return PortDispatcher({port: model_app(m) for port, m in zip(ports, self.models)}, startup)
