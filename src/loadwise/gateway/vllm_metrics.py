"""vLLM's Prometheus metrics: the names, old and new, in one place, and the parser of `/metrics`.

vLLM renamed some metrics between versions (`vllm:gpu_cache_usage_perc`, deprecated in
0.9, became `vllm:kv_cache_usage_perc`; v1 engines add an `engine` label); `NAMES` maps
each quantity the gateway reads to every name it has had, newest first, so one table
says what is accepted. Samples carry the served model in the `model_name` label; a
server with several engines (data parallel) reports one sample per engine, which are
summed (KV use is averaged).

Parsing goes through `prometheus_client`'s text parser, on the lines of the wanted
metrics only: a real vLLM `/metrics` page is mostly histogram buckets the gateway does
not read, and skipping them keeps a poll cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# quantity -> accepted metric names, newest first (vLLM docs, "Production Metrics"; v0 names
# from vllm/engine/metrics.py, v1 names from vllm/v1/metrics/loggers.py)
NAMES: dict[str, tuple[str, ...]] = {
    "running": ("vllm:num_requests_running",),
    "waiting": ("vllm:num_requests_waiting",),
    "kv_use": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "prompt_tokens": ("vllm:prompt_tokens_total",),
    "generation_tokens": ("vllm:generation_tokens_total",),
}
# histograms the emulator exports under vLLM's names
TTFT = "vllm:time_to_first_token_seconds"
E2E = "vllm:e2e_request_latency_seconds"
MODEL_LABEL = "model_name"

_WANTED = {name for names in NAMES.values() for name in names}


@dataclass(frozen=True)
class BackendMetrics:
    """One scrape of a backend: what the router needs (None where the page lacks it)."""

    running: float | None
    waiting: float | None
    kv_use: float | None
    prompt_tokens: float | None = None
    generation_tokens: float | None = None


def _metric_name(line: str) -> str:
    end = len(line)
    for sep in ("{", " "):
        i = line.find(sep)
        if 0 <= i < end:
            end = i
    return line[:end]


def parse(text: str, model: str | None = None) -> BackendMetrics:
    """The gateway's quantities from a `/metrics` page; `model` keeps the samples of that served
    model (all samples when None, or when no sample names it)."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and _metric_name(ln) in _WANTED]
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families("\n".join(lines) + "\n"):
        for s in family.samples:
            if s.name in _WANTED:
                samples.setdefault(s.name, []).append((s.labels, float(s.value)))
    values = {}
    for quantity, names in NAMES.items():
        found = next((samples[n] for n in names if n in samples), None)
        if found is None:
            values[quantity] = None
            continue
        mine = [v for labels, v in found if labels.get(MODEL_LABEL) == model] if model is not None else []
        chosen = mine or [v for _, v in found]
        values[quantity] = sum(chosen) / len(chosen) if quantity == "kv_use" else sum(chosen)
    return BackendMetrics(**values)
