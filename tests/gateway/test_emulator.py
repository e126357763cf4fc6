"""The emulator: vLLM-like endpoints driven by the simulator's server model, through the openai client."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request

import openai
import pytest
from scipy.special import expit

from loadwise.errors import ConfigError
from loadwise.gateway import vllm_metrics as vm
from loadwise.gateway.emulator import Emulator, ModelServer, _Call
from loadwise.gateway.wire import CALL_HEADER, CallContext
from loadwise.systems.agentserve.routing import DECISION_ROLE, ROLES, STRATEGIES, TOPOLOGIES
from loadwise.systems.agentserve.server import Server
from loadwise.systems.agentserve.workflows import evidence
from tests.gateway.conftest import emulator


def test_answers_stream_and_report_their_draws(profiles):
    with emulator(profiles, models=[0]) as (_, urls):
        name, url = next(iter(urls.items()))
        client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
        ctx = CallContext(level=5, strategy="flash", u_correct=0.999, z_length=0.0)
        whole = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "1+1?"}],
                                               extra_headers={CALL_HEADER: ctx.header()})
        ext = whole.model_extra["loadwise"]
        tokens = round(math.exp(profiles.length_mu[0]))  # z = 0: the lognormal's median
        assert ext["output_tokens"] == tokens == whole.usage.completion_tokens and ext["correct"] is False
        assert ext["strategy"] == "flash" and len(whole.choices[0].message.content) == 4 * tokens
        chunks = list(client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "1+1?"}], stream=True,
            stream_options={"include_usage": True}, extra_headers={CALL_HEADER: ctx.header()}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert len(text) == 4 * tokens and chunks[-1].usage.completion_tokens == tokens
        assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["loadwise"]["output_tokens"]
        text_completion = client.completions.create(model=name, prompt="1+1?", max_tokens=5)
        assert text_completion.choices[0].finish_reason == "length" and text_completion.usage.completion_tokens == 5
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
        assert err.value.body["param"] == "model"


def test_draws_follow_the_simulators_formulas(profiles):
    async def check():
        m = ModelServer(profiles, 4, 1.0, seed=0)
        ctx = CallContext(level=4, subject=0, role=ROLES.index("AlgebraExpert"), topology=TOPOLOGIES.index("CoT"),
                          seen=3, seen_correct=2, u_correct=0.5, z_length=1.0)
        s = STRATEGIES.index("deepthink")
        tokens, correct, capped = m.draw(ctx, s, 300, None)
        w = profiles.workflow
        raw = math.exp(profiles.length_mu[s] + profiles.length_sigma[s]) * w.cot_length
        assert tokens == round(raw) and not capped
        logit = profiles.logit(4)[4, s] + w.role_bonus + w.cot_bonus + evidence(w.peer_weight, 3, 2)
        assert correct == (expit(logit) > 0.5)
        decision = CallContext(role=DECISION_ROLE, z_length=30.0, u_correct=0.0)
        assert m.draw(decision, s, 300, 100) == (100, True, True)  # capped by max_tokens

    asyncio.run(check())


def test_service_time_is_the_server_models(profiles):
    """One request alone on a model takes (tokens + prefill) x tpot(1); queued ones wait for a slot."""
    async def check():
        m = ModelServer(profiles, 0, 200.0, seed=0)
        m.start()
        call = _Call(tokens=400, prefill=6.0, prompt=300.0)
        m.submit(call)
        await asyncio.wait_for(call.done.wait(), 5)
        expected = 406 * profiles.tpot_table(0)[1]
        assert call.finished - call.submitted == pytest.approx(expected, rel=1e-9)

    asyncio.run(check())


def test_an_abandoned_request_frees_its_batch_slot():
    s = Server([0.0, 1.0, 1.0], cap=2, kv_capacity=1e6, edf=False, recent0=1.0)
    a, b, c = object(), object(), object()
    for p in (a, b, c):
        s.submit(0.0, 10.0, 1.0, math.inf, p)
    assert (s.n, len(s.waiting)) == (2, 1)
    s.advance(4.0)
    assert s.remove(a) and (s.n, len(s.waiting)) == (2, 0)  # c took a's slot
    assert s.remove(c) and not s.remove(c) and s.n == 1
    payload, _, t = s.finish()
    assert payload is b and t == pytest.approx(10.0)


def test_metrics_speak_vllms_names(profiles):
    with emulator(profiles, models=[1]) as (_, urls):
        name, url = next(iter(urls.items()))
        client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
        client.chat.completions.create(model=name, messages=[{"role": "user", "content": "x" * 400}])
        text = urllib.request.urlopen(url + "/metrics").read().decode()
        for metric in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                       "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                       "vllm:time_to_first_token_seconds_bucket", "vllm:e2e_request_latency_seconds_count"):
            assert metric in text
        parsed = vm.parse(text, name)
        assert parsed.running == 0 and parsed.prompt_tokens == 100 and parsed.generation_tokens > 0
        models = json.loads(urllib.request.urlopen(url + "/v1/models").read())
        assert [m["id"] for m in models["data"]] == [name]


def test_load_is_visible_while_requests_run(profiles):
    async def check(url: str, name: str) -> tuple[float, float]:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="-", max_retries=0)
        tasks = [asyncio.create_task(client.chat.completions.create(
            model=name, messages=[{"role": "user", "content": "x"}],
            extra_headers={CALL_HEADER: CallContext(strategy="deepthink", z_length=3.0).header()}))
            for _ in range(40)]
        seen = (0.0, 0.0)
        for _ in range(100):  # until every request has arrived (each runs for seconds)
            await asyncio.sleep(0.05)
            page = await asyncio.to_thread(lambda: urllib.request.urlopen(url + "/metrics").read().decode())
            m = vm.parse(page, name)
            seen = (m.running, m.waiting)
            if sum(seen) == len(tasks):
                break
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return seen

    with emulator(profiles, speedup=10.0, models=[4]) as (_, urls):
        name, url = next(iter(urls.items()))
        running, waiting = asyncio.run(check(url, name))
        assert running == profiles.max_num_seqs[4] and waiting == 40 - running


def test_edf_serves_the_tighter_deadline_first(profiles):
    async def check(edf: bool) -> bool:
        m = ModelServer(profiles, 0, 100.0, seed=0, edf=edf)
        m.start()
        for i in range(int(profiles.max_num_seqs[0])):  # a full batch, finishing one by one
            m.submit(_Call(tokens=1000 + i, prefill=0.0, prompt=1.0))
        loose, tight = _Call(tokens=5, prefill=0.0, prompt=1.0), _Call(tokens=5, prefill=0.0, prompt=1.0)
        m.submit(loose, budget_left=100.0)
        m.submit(tight, budget_left=5.0)
        await asyncio.wait_for(asyncio.gather(loose.done.wait(), tight.done.wait()), 5)
        return tight.started < loose.started

    assert asyncio.run(check(edf=True)) and not asyncio.run(check(edf=False))
    with pytest.raises(ConfigError, match="^discipline: unknown queue discipline 'lifo'"):
        Emulator(profiles, discipline="lifo")
