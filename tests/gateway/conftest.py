"""Servers on real sockets on 127.0.0.1: the emulator and gateways in background threads, or as
subprocesses of the real command line (for timing checks, where threads would share one GIL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadwise.gateway import Emulator, Served, bind, build_gateway, load_gateway_router
from loadwise.systems.agentserve import load_profiles

FIXTURES = Path(__file__).parent / "fixtures"
FAST = 50.0  # emulator speedup for functional tests: a 10 s call takes 0.2 s


@pytest.fixture(scope="session")
def profiles():
    return load_profiles()


@contextmanager
def emulator(profiles, speedup: float = FAST, models: list[int] | None = None) -> Iterator[tuple[Served, dict]]:
    emu = Emulator(profiles, speedup, models)
    socks = [bind("127.0.0.1", 0) for _ in emu.models]
    served = Served(emu.app([s.getsockname()[1] for s in socks]), socks)
    try:
        yield served, {m.name: url for m, url in zip(emu.models, served.urls)}
    finally:
        served.stop()


@contextmanager
def gateway(profiles, backends: dict[str, str], router: str | None = None, speedup: float = FAST,
            **config) -> Iterator[tuple[str, object]]:
    policy, label = load_gateway_router(router, None)
    gw = build_gateway(policy, label, profiles, [f"{k}={v}" for k, v in backends.items()], speedup, **config)
    served = Served(gw.app, [bind("127.0.0.1", 0)])
    try:
        time.sleep(0.15)  # a first scrape of every backend
        yield served.urls[0], gw
    finally:
        served.stop()


@pytest.fixture(scope="module")
def stack(profiles):
    """The emulator (all five models) and a greedy gateway in front of it."""
    with emulator(profiles) as (_, urls), gateway(profiles, urls) as (url, gw):
        yield url, gw, urls


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from loadwise.cli import main; main()", *args]


@contextmanager
def process(*args: str, timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen, dict]]:
    """A `loadwise` server as a subprocess; yields it and its ready line (JSON). Stopped (SIGTERM,
    then SIGKILL) on exit, so no server outlives the test."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and not line:
            line = proc.stdout.readline()
            if proc.poll() is not None and not line:
                raise RuntimeError(f"server exited: {proc.stderr.read()[-2000:]}")
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
