"""`loadwise router serve` and `loadwise serve emulate`: the gateway and the emulator as servers.

Both bind their sockets first (port 0: a free port the system picks), announce where they
listen through `on_ready` once they can answer, and serve until SIGINT or SIGTERM, then
shut down gracefully: no new connections, in-flight requests finish (up to
`GRACEFUL_SHUTDOWN_S`). They write no run folder: what a gateway saw is in its `/metrics`
and in the telemetry of the load test that drove it.

`server_process` runs either as a subprocess of the current Python (the demo, the
benchmark and the tests use it), and stops it when its block ends, however it ends.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadwise.errors import ConfigError
from loadwise.gateway import Emulator, bind, build_gateway, load_gateway_router, make_server, model_index
from loadwise.gateway.asgi import GRACEFUL_SHUTDOWN_S, url_of
from loadwise.systems.agentserve.profiles import load_profiles

PARENT_ENV = "LOADWISE_SERVER_PARENT"  # set by server_process: the pid whose death stops the server


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
            models: Sequence[str] | None = None, seed: int = 0, discipline: str = "fcfs",
            on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Serve every profiled model (or `models`) as a vLLM-like endpoint on port, port + 1, ...
    (all on free ports when port is 0) until interrupted."""
    if not speedup > 0:
        raise ConfigError("speedup", f"must be positive, got {speedup}")
    prof = load_profiles(profiles)
    chosen = None if not models else [model_index(m, prof, "models") for m in models]
    emulator = Emulator(prof, speedup, chosen, seed, discipline)
    sockets = _bind_all(host, [0 if port == 0 else port + i for i in range(len(emulator.models))])
    ports = [s.getsockname()[1] for s in sockets]
    urls = {m.name: url_of(s) for m, s in zip(emulator.models, sockets)}
    announce = None if on_ready is None else (
        lambda: on_ready({"event": "ready", "kind": "emulator", "speedup": speedup, "discipline": discipline,
                          "models": urls}))
    app = emulator.app(ports, announce)
    _serve(make_server(app, graceful_s=GRACEFUL_SHUTDOWN_S), sockets)


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
    _serve(make_server(gateway.app, graceful_s=GRACEFUL_SHUTDOWN_S), sockets)


def _serve(server, sockets: list) -> None:
    """Run a uvicorn server until SIGINT/SIGTERM; when started by `server_process`, also until that
    parent process is gone (so a killed demo or test leaves no server behind)."""
    parent = os.environ.get(PARENT_ENV)
    if parent is not None:
        def watch() -> None:
            while os.getppid() == int(parent):
                time.sleep(1.0)
            server.should_exit = True

        threading.Thread(target=watch, name="loadwise-parent-watch", daemon=True).start()
    server.run(sockets=sockets)


@contextmanager
def server_process(*args: str, log: Path | None = None,
                   timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen, dict[str, Any]]]:
    """`loadwise serve emulate ...` or `loadwise router serve ...` (pass `--port 0`) as a subprocess;
    yields the process and its ready line (URLs). On leaving the block, even by Ctrl-C, the server
    gets SIGTERM (a graceful stop), then SIGKILL if it is still there after 15 s; if this process is
    killed without leaving the block, the server notices within a second and stops by itself."""
    command = [sys.executable, "-c", "from loadwise.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    err = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 -- closed below
    env[PARENT_ENV] = str(os.getpid())
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"`loadwise {' '.join(args)}` did not start within {timeout:g} s "
                               f"(exit code {proc.poll()})")
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if log is not None:
            err.close()
