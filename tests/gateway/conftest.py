"""Servers on real sockets on 127.0.0.1: the emulator and gateways in background threads, or as
subprocesses of the real command line (for timing checks, where threads would share one GIL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadwise.app.serve_gateway import server_process
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


def process(*args: str):
    """A `loadwise` server subprocess (see `app.serve_gateway.server_process`)."""
    return server_process(*args)
