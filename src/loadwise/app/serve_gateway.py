"""`loadwise router serve` and `loadwise serve emulate`: the gateway and the emulator as servers.

Both bind their sockets first (port 0: a free port the system picks), announce where they
listen through `on_ready` once they can answer, and serve until SIGINT or SIGTERM, then
shut down gracefully: no new connections, in-flight requests finish (up to
`GRACEFUL_SHUTDOWN_S`). They write no run folder: what a gateway saw is in its `/metrics`
and in the telemetry of the load test that drove it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadwise.errors import ConfigError
from loadwise.gateway import Emulator, bind, build_gateway, load_gateway_router, make_server, model_index
from loadwise.gateway.asgi import GRACEFUL_SHUTDOWN_S, url_of
from loadwise.systems.agentserve.profiles import load_profiles


def _bind_all(host: str, ports: Sequence[int]) -> list:
    sockets = []
    for port in ports:
        try:
            sock = bind(host, port)
        except OSError as exc:
            for s in sockets:
                s.close()
            raise ConfigError("port", f"cannot listen on {host}:{port} ({exc.strerror})") from None
        sockets.append(sock)
    return sockets


def emulate(port: int = 8100, host: str = "127.0.0.1", profiles: str | Path | None = None, speedup: float = 1.0,
            models: Sequence[str] | None = None, seed: int = 0,
            on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Serve every profiled model (or `models`) as a vLLM-like endpoint on port, port + 1, ...
    (all on free ports when port is 0) until interrupted."""
    if not speedup > 0:
        raise ConfigError("speedup", f"must be positive, got {speedup}")
    prof = load_profiles(profiles)
    chosen = None if not models else [model_index(m, prof, "models") for m in models]
    emulator = Emulator(prof, speedup, chosen, seed)
    sockets = _bind_all(host, [0 if port == 0 else port + i for i in range(len(emulator.models))])
    ports = [s.getsockname()[1] for s in sockets]
    urls = {m.name: url_of(s) for m, s in zip(emulator.models, sockets)}
    announce = None if on_ready is None else (
        lambda: on_ready({"event": "ready", "kind": "emulator", "speedup": speedup, "models": urls}))
    app = emulator.app(ports, announce)
    make_server(app, graceful_s=GRACEFUL_SHUTDOWN_S).run(sockets=sockets)


def serve_router(checkpoint: str | Path | None = None, router: str | None = None,
                 backends: Sequence[str] = (), port: int = 8000, host: str = "127.0.0.1",
                 profiles: str | Path | None = None, speedup: float = 1.0, default_budget: float = 600.0,
                 max_inflight: int = 512, poll_interval: float = 0.05, seed: int = 0,
                 on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Serve the gateway in front of `backends` (MODEL=URL) until interrupted; the router is the
    checkpoint's trained policy, or a baseline by name (default greedy)."""
    prof = load_profiles(profiles)
    policy, label = load_gateway_router(router, checkpoint, seed)
    if checkpoint is not None:
        import torch

        torch.set_num_threads(1)  # one request at a time: a single thread decides fastest
    gateway = build_gateway(policy, label, prof, list(backends), speedup, default_budget, max_inflight,
                            poll_interval, seed)
    sockets = _bind_all(host, [port])
    if on_ready is not None:
        gateway.on_ready.append(lambda: on_ready({
            "event": "ready", "kind": "gateway", "url": url_of(sockets[0]), "router": label,
            "backends": {b.name: b.url for b in gateway.live.backends}}))
    make_server(gateway.app, graceful_s=GRACEFUL_SHUTDOWN_S).run(sockets=sockets)
