"""The trained router in front of real servers: the gateway, the emulator and the load test.

- `build_gateway`: an OpenAI-compatible gateway (`proxy.Gateway`) that routes every
  request with a trained checkpoint or any baseline router, from live backend state.
- `Emulator` (`emulator`): vLLM-like servers of the profiled models, driven by the
  simulator's server model in real time or sped up.
- `loadtest.run_cell`: the simulator's workload of one cell driven through any
  OpenAI-compatible gateway with the `openai` client; telemetry in the agentserve schema.
- `compare.compare`: load-test cells beside the simulator's, with confidence intervals.
- `asgi`: serving these apps with uvicorn on sockets we bind (in this process's loop or in
  a background thread).
"""

from __future__ import annotations

from pathlib import Path

from loadwise.errors import ConfigError
from loadwise.gateway.asgi import Served, bind, make_server
from loadwise.gateway.emulator import Emulator
from loadwise.gateway.live import Backend
from loadwise.gateway.proxy import Gateway, GatewayConfig
from loadwise.systems.agentserve.profiles import Profiles
from loadwise.systems.agentserve.routers import make_router
from loadwise.systems.agentserve.routing import Router, model_size


def model_index(text: str, profiles: Profiles, field: str) -> int:
    """A profiled model by full name or size (`Llama-3.2-3B-Instruct`, `3B`)."""
    names = profiles.model_names
    for i, name in enumerate(names):
        if text.lower() in (name.lower(), model_size(name).lower()):
            return i
    raise ConfigError(field, f"unknown model {text!r}; allowed: {', '.join(names)} (or a size: "
                      f"{', '.join(model_size(n) for n in names)})")


def parse_backends(specs: list[str], profiles: Profiles) -> list[Backend]:
    """`MODEL=URL` specs (MODEL a profiled name or size) as Backends, one per model."""
    if not specs:
        raise ConfigError("backends", "at least one MODEL=URL is required")
    backends: dict[int, Backend] = {}
    for spec in specs:
        model, sep, url = spec.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ConfigError("backends", f"expected MODEL=http://HOST:PORT, got {spec!r}")
        m = model_index(model.strip(), profiles, "backends")
        if m in backends:
            raise ConfigError("backends", f"model {profiles.model_names[m]} is given twice")
        url = url.strip().rstrip("/").removesuffix("/v1")
        p = profiles
        one_request = (float(p.mean_tokens.mean()) + p.prefill_cost[m] * p.workflow.prompt_tokens) * \
            p.tpot_table(m)[1]
        backends[m] = Backend(m, p.model_names[m], url, p.model_names[m], int(p.max_num_seqs[m]), one_request)
    return list(backends.values())


def load_gateway_router(router: str | None, checkpoint: str | Path | None, seed: int = 0) -> tuple[Router, str]:
    """The router a gateway serves, and its label: a trained checkpoint (file or `router train`
    folder) or a baseline by name (default `greedy`)."""
    if checkpoint is not None and router is not None:
        raise ConfigError("router", "give a checkpoint or --router NAME, not both")
    if checkpoint is not None:
        from loadwise.rl.router import load_router

        policy, _ = load_router(checkpoint, seed=seed)
        return policy, str(checkpoint)
    chosen = make_router(router or "greedy")
    if getattr(chosen, "needs_oracle", False):
        raise ConfigError("router", f"{router} needs the simulator's hidden draws and cannot route live requests")
    return chosen, router or "greedy"


def build_gateway(router: Router, label: str, profiles: Profiles, backends: list[str], speedup: float = 1.0,
                  default_budget: float = 600.0, max_inflight: int = 512, poll_interval: float = 0.05,
                  seed: int = 0) -> Gateway:
    """A Gateway for `backends` (MODEL=URL specs); serve `gateway.app` with `asgi`."""
    if not (speedup > 0):
        raise ConfigError("speedup", f"must be positive, got {speedup}")
    if not (default_budget > 0):
        raise ConfigError("default_budget", f"must be positive, got {default_budget}")
    if max_inflight < 1:
        raise ConfigError("max_inflight", f"must be at least 1, got {max_inflight}")
    if not (0 < poll_interval <= 1):
        raise ConfigError("poll_interval", f"must be in (0, 1] s, got {poll_interval}")
    config = GatewayConfig(label, profiles.path, float(speedup), float(default_budget), int(max_inflight),
                           float(poll_interval))
    return Gateway(router, profiles, parse_backends(backends, profiles), config, seed)


__all__ = [
    "Backend", "Emulator", "Gateway", "GatewayConfig", "Served", "bind", "build_gateway", "load_gateway_router",
    "make_server", "model_index", "parse_backends",
]
