"""The gateway on real sockets: the openai client through it to the emulator, and its failure behaviour."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from loadwise.errors import ConfigError
from loadwise.gateway import Served, bind, build_gateway, load_gateway_router, parse_backends
from loadwise.gateway import vllm_metrics as vm
from tests.gateway.conftest import emulator, gateway

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def _get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read().decode(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_openai_client_through_the_gateway(stack, profiles):
    url, _, _ = stack
    client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
    headers = {"X-Loadwise-Budget-S": "600", "X-Loadwise-Workflow-Id": "wf-1"}
    answer = client.chat.completions.create(model="auto", messages=MESSAGES, extra_headers=headers,
                                            extra_body={"loadwise": {"level": 2, "subject": "Algebra"}})
    ext = answer.model_extra["loadwise"]
    assert ext["model"] in profiles.model_names and ext["strategy"] in ("flash", "concise", "deepthink")
    assert ext["routed_by"] == "greedy" and ext["attempts"] == 1 and "correct" in ext
    assert answer.choices[0].message.content and answer.usage.completion_tokens == ext["output_tokens"]
    # the strategy is on the wire: its system prompt first, its max_tokens cap
    cap = int(profiles.max_tokens[("flash", "concise", "deepthink").index(ext["strategy"])])
    assert ext["output_tokens"] <= cap
    first_left = ext["budget_remaining"]
    chunks = list(client.chat.completions.create(model="auto", messages=MESSAGES, stream=True, extra_headers=headers))
    tail = [c.model_extra["loadwise"] for c in chunks if (c.model_extra or {}).get("loadwise")]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and tail and tail[-1]["budget_remaining"] < first_left  # one workflow: one budget clock
    completion = client.completions.create(model="auto", prompt="2 + 2 =")
    assert completion.choices[0].text and completion.model_extra["loadwise"]["model"]
    assert {m.id for m in client.models.list()} >= {"auto", *profiles.model_names}
    pinned = client.chat.completions.create(model=profiles.model_names[0], messages=MESSAGES)
    assert pinned.model_extra["loadwise"]["routed_by"] == "pinned"


def test_plan_health_and_metrics(stack, profiles):
    url, _, _ = stack
    status, plan, _ = _post(url + "/loadwise/v1/plan", json.dumps(
        {"budget_s": 10, "level": 4, "subject": "Geometry", "workflow_id": "p1", "u_plan": 0.3}).encode())
    assert status == 200 and plan["topology"] == "IO" and plan["n_agents"] == 1  # greedy plans tight budgets small
    assert plan["roles"] == ["GeometryExpert"]
    status, health = _get(url + "/healthz")
    assert status == 200 and all(b["healthy"] and b["metrics_fresh"] for b in health["backends"].values())
    openai.OpenAI(base_url=url + "/v1", api_key="-").chat.completions.create(model="auto", messages=MESSAGES)
    status, text = _get(url + "/metrics")
    for name in ("loadwise_gateway_decisions_total", "loadwise_gateway_request_duration_seconds_bucket",
                 "loadwise_gateway_decision_seconds_bucket", "loadwise_gateway_budget_violations_total",
                 "loadwise_gateway_backend_errors_total", "loadwise_gateway_inflight",
                 "loadwise_gateway_backend_saturated"):
        assert name in text
    status, info = _get(url + "/loadwise/v1/info")
    assert info["router"] == "greedy" and info["speedup"] == 50.0


@pytest.mark.parametrize(("body", "headers", "param"), [
    (b"{not json", {}, None),
    (b'{"model": "auto"}', {}, "messages"),
    (b'{"model": "auto", "messages": "hi"}', {}, "messages"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -3}', {}, "max_tokens"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', {}, "stream"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}]}', {"X-Loadwise-Budget-S": "soon"},
     "X-Loadwise-Budget-S"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "loadwise": {"level": 9}}', {},
     "loadwise.level"),
    (b'{"model": "auto", "messages": [{"role": "user", "content": "x"}], "loadwise": {"role": "Chef"}}', {},
     "loadwise.role"),
])
def test_a_malformed_request_gets_a_400_naming_the_parameter(stack, body, headers, param):
    url, _, _ = stack
    status, err, _ = _post(url + "/v1/chat/completions", body, headers)
    assert status == 400 and err["error"]["type"] == "invalid_request_error" and err["error"]["param"] == param
    assert "Traceback" not in json.dumps(err)


def test_unknown_model_is_a_404(stack):
    url, _, _ = stack
    status, err, _ = _post(url + "/v1/chat/completions", json.dumps({"model": "gpt-9", "messages": MESSAGES}).encode())
    assert status == 404 and err["error"]["code"] == "model_not_found" and err["error"]["param"] == "model"


def test_overload_is_a_429_with_retry_after(profiles):
    with emulator(profiles, speedup=5.0, models=[4]) as (_, urls), \
            gateway(profiles, urls, router="fixed:32B:deepthink", speedup=5.0, max_inflight=1) as (url, _):
        results = []

        def slow():
            results.append(_post(url + "/v1/chat/completions", json.dumps(
                {"model": "auto", "messages": MESSAGES, "loadwise": {"z_length": 1.0}}).encode()))

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        status, err, headers = _post(url + "/v1/chat/completions",
                                     json.dumps({"model": "auto", "messages": MESSAGES}).encode())
        t.join()
        retry_after = int({k.lower(): v for k, v in headers.items()}["retry-after"])
        assert status == 429 and err["error"]["type"] == "rate_limit_error" and retry_after >= 1
        assert results[0][0] == 200


def test_a_dead_backend_is_avoided_and_the_request_retried(profiles):
    dead = bind("127.0.0.1", 0)
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()  # nothing listens there any more
    with emulator(profiles, models=[1]) as (_, urls):
        backends = {profiles.model_names[0]: dead_url, **urls}
        # a load-blind router that always picks the dead model: the gateway must route around it
        with gateway(profiles, backends, router="fixed:3B:flash") as (url, _):
            client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
            answer = client.chat.completions.create(model="auto", messages=MESSAGES)
            ext = answer.model_extra["loadwise"]
            assert ext["model"] == profiles.model_names[1]
            assert ext["routed_by"] == "next-best"  # the scrape found it down before the request came
            _, health = _get(url + "/healthz")
            assert health["backends"][profiles.model_names[0]]["healthy"] is False
            _, text = _get(url + "/metrics")
            assert 'loadwise_gateway_backend_errors_total{kind="metrics",model="Llama-3.2-3B-Instruct"}' in text


def test_a_backend_answering_5xx_is_retried_on_the_next_best(profiles):
    async def broken(_request):
        return JSONResponse({"error": {"message": "boom"}}, status_code=500)

    async def fine_metrics(_request):
        return JSONResponse({}, status_code=404)  # no metrics: the gateway counts its own requests

    app = Starlette(routes=[Route("/v1/chat/completions", broken, methods=["POST"]),
                            Route("/metrics", fine_metrics), Route("/v1/models", fine_metrics)])
    with Served(app, [bind("127.0.0.1", 0)]) as bad, emulator(profiles, models=[2]) as (_, urls):
        backends = {profiles.model_names[0]: bad.urls[0], **urls}
        with gateway(profiles, backends, router="fixed:3B:concise") as (url, _):
            client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
            answer = client.chat.completions.create(model="auto", messages=MESSAGES)
            ext = answer.model_extra["loadwise"]
            assert ext["attempts"] == 2 and ext["model"] == profiles.model_names[2]
            _, text = _get(url + "/metrics")
            assert "loadwise_gateway_retries_total 1.0" in text
            assert 'kind="http_500"' in text


def test_no_backend_left_is_a_clear_error(profiles):
    dead = bind("127.0.0.1", 0)
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    with gateway(profiles, {"3B": dead_url}) as (url, _):
        status, err, headers = _post(url + "/v1/chat/completions",
                                     json.dumps({"model": "auto", "messages": MESSAGES}).encode())
        assert status == 503 and err["error"]["code"] == "no_healthy_backend"
        assert "retry-after" in {k.lower() for k in headers}


def test_a_client_that_disconnects_cancels_its_backend_request(profiles):
    async def run(url: str, emu_url: str, name: str, stream: bool) -> float:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
        body = dict(model="auto", messages=MESSAGES, extra_body={"loadwise": {"z_length": 3.0}})
        if stream:
            s = await client.chat.completions.create(stream=True, **body)
            async for _ in s:
                break  # first chunk, then hang up
            await s.close()
        else:
            with pytest.raises(openai.APITimeoutError):
                await client.chat.completions.create(timeout=0.5, **body)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            page = await asyncio.to_thread(lambda: urllib.request.urlopen(emu_url + "/metrics").read().decode())
            running = vm.parse(page, name).running
            if running == 0:
                return time.monotonic()
            await asyncio.sleep(0.05)
        return -1.0

    with emulator(profiles, speedup=2.0, models=[4]) as (_, urls), \
            gateway(profiles, urls, router="fixed:32B:deepthink", speedup=2.0) as (url, gw):
        name, emu_url = next(iter(urls.items()))
        for stream in (True, False):
            assert asyncio.run(run(url, emu_url, name, stream)) > 0, f"backend still busy (stream={stream})"
        _, text = _get(url + "/metrics")
        assert "loadwise_gateway_client_disconnects_total 2.0" in text
        assert gw.live.backends[0].inflight == 0


def test_graceful_shutdown_drains_in_flight_requests(profiles):
    with emulator(profiles, speedup=10.0, models=[3]) as (_, urls):
        policy, label = load_gateway_router("fixed:24B:deepthink", None)
        gw = build_gateway(policy, label, profiles, [f"{k}={v}" for k, v in urls.items()], 10.0)
        served = Served(gw.app, [bind("127.0.0.1", 0)], graceful_s=20.0)
        results = []
        t = threading.Thread(target=lambda: results.append(_post(served.urls[0] + "/v1/chat/completions", json.dumps(
            {"model": "auto", "messages": MESSAGES, "loadwise": {"z_length": 1.5}}).encode())))
        t.start()
        time.sleep(0.3)
        started = time.monotonic()
        served.stop(timeout=30)  # returns once the in-flight request has been answered
        t.join(5)
        assert results and results[0][0] == 200 and results[0][1]["loadwise"]["output_tokens"] > 0
        assert time.monotonic() - started > 0.2  # it waited for the answer
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(served.urls[0] + "/healthz", timeout=2)


def test_an_internal_failure_is_an_openai_error_without_traceback(profiles):

    class Broken:
        name = "broken"

        def plan(self, batch):
            raise RuntimeError("router bug")

        def route(self, batch):
            raise RuntimeError("router bug")

    with emulator(profiles, models=[0]) as (_, urls):
        gw2 = build_gateway(Broken(), "broken", profiles, [f"{k}={v}" for k, v in urls.items()], 50.0)
        with Served(gw2.app, [bind("127.0.0.1", 0)]) as served:
            status, err, _ = _post(served.urls[0] + "/v1/chat/completions",
                                   json.dumps({"model": "auto", "messages": MESSAGES}).encode())
    assert status == 500 and err["error"]["type"] == "server_error" and "Traceback" not in json.dumps(err)


def test_backend_specs_and_routers_are_checked(profiles):
    with pytest.raises(ConfigError, match="^backends: expected MODEL=http"):
        parse_backends(["3B:http://x"], profiles)
    with pytest.raises(ConfigError, match="^backends: unknown model '7B'"):
        parse_backends(["7B=http://127.0.0.1:1"], profiles)
    with pytest.raises(ConfigError, match="given twice"):
        parse_backends(["3B=http://a:1", "Llama-3.2-3B-Instruct=http://b:1/v1"], profiles)
    assert parse_backends(["32b=http://h:1/v1/"], profiles)[0].url == "http://h:1"
    with pytest.raises(ConfigError, match="^router: clairvoyant needs the simulator's hidden draws"):
        load_gateway_router("clairvoyant", None)


def test_workflow_clocks_share_a_budget_and_forget_old_arrivals():
    from loadwise.gateway.decide import WorkflowClocks

    clocks = WorkflowClocks(speedup=20.0)
    first = clocks.touch("w", 10.0, now=100.0)
    assert clocks.touch("w", 99.0, now=100.2) is first  # the workflow's first budget stands
    assert clocks.remaining(first, now=100.2) == pytest.approx(10.0 - 0.2 * 20)
    for i in range(5000):  # anonymous requests: one workflow each, none kept
        clocks.touch(None, 10.0, now=200.0 + i * 0.001)
    assert len(clocks.items) == 1 and len(clocks.arrivals) <= 3001
    assert clocks.rate_per_minute(now=205.0) == pytest.approx(3000, abs=1)  # 60 profile s = 3 s real
