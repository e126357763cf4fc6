"""vLLM's /metrics as real servers of each engine generation print it, parsed through one name table."""

from __future__ import annotations

import pytest

from loadwise.gateway import vllm_metrics as vm
from tests.gateway.conftest import FIXTURES


def test_old_engine_names_are_read():
    text = (FIXTURES / "vllm_metrics_v0.txt").read_text()
    m = vm.parse(text, "meta-llama/Llama-3.1-8B-Instruct")
    assert (m.running, m.waiting) == (32.0, 7.0)
    assert m.kv_use == pytest.approx(0.8271)  # vllm:gpu_cache_usage_perc, a fraction despite its name
    assert (m.prompt_tokens, m.generation_tokens) == (412800.0, 521344.0)


def test_new_engine_names_are_read_and_preferred():
    text = (FIXTURES / "vllm_metrics_v1.txt").read_text()
    m = vm.parse(text, "Qwen/Qwen2.5-Coder-14B-Instruct")
    assert (m.running, m.waiting, m.kv_use) == (12.0, 0.0, 0.3125)
    only_new = "\n".join(ln for ln in text.splitlines() if "gpu_cache_usage_perc" not in ln)
    assert vm.parse(only_new, "Qwen/Qwen2.5-Coder-14B-Instruct").kv_use == 0.3125
    assert vm.NAMES["kv_use"][0] == "vllm:kv_cache_usage_perc"  # the new name wins when both are there


def test_samples_of_other_models_are_left_out_and_engines_are_summed():
    text = (
        'vllm:num_requests_running{engine="0",model_name="a"} 3.0\n'
        'vllm:num_requests_running{engine="1",model_name="a"} 2.0\n'
        'vllm:num_requests_running{engine="0",model_name="b"} 9.0\n'
        'vllm:kv_cache_usage_perc{engine="0",model_name="a"} 0.2\n'
        'vllm:kv_cache_usage_perc{engine="1",model_name="a"} 0.4\n'
    )
    m = vm.parse(text, "a")
    assert m.running == 5.0 and m.kv_use == pytest.approx(0.3) and m.waiting is None
    assert vm.parse(text, "unknown-name").running == 14.0  # no sample names it: all of them


def test_a_page_without_vllm_metrics_reads_as_unknown():
    m = vm.parse("# HELP python_gc_objects_collected_total x\npython_gc_objects_collected_total 5.0\n", "a")
    assert m == vm.BackendMetrics(None, None, None, None, None)
