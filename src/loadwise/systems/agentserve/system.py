"""`AgentServe`: the serving simulator as a loadwise System, so its routers and servers are tuned like any system.

A system is one router family (`greedy` by default; any shipped router name) in front
of the five servers. Its knobs are what an operator sets: the router's parameters
(`ROUTER_KNOBS`) and the servers' (`SERVER_KNOBS`: batch slots, queue order). A
scenario is one load cell: arrival rate, latency budget, arrival pattern and the number
of workflows simulated, so a rate × budget grid is a scenario set like any other
(`loadwise.scenarios.grid`). Runs on one seed see the same arrivals, items and per-call
draws whatever the knobs (common random numbers). Several cells of one config run
together in lockstep (`run_group`), one router call per round across them, which is how
sweeps stay fast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadwise.errors import ConfigError
from loadwise.params import Param, resolve
from loadwise.systems.agentserve.lockstep import Lockstep
from loadwise.systems.agentserve.profiles import Profiles, load_profiles, shipped_profile_path
from loadwise.systems.agentserve.routers import STATIC_MIX, GreedyRouter, StaticMixRouter, make_router
from loadwise.systems.agentserve.routing import Router
from loadwise.systems.agentserve.simulator import DISCIPLINES, Cell
from loadwise.systems.agentserve.workload import PATTERNS, load_arrivals
from loadwise.systems.base import Metrics, Objective, RunRecord, files_fingerprint

MIN_WORKFLOWS = 50  # a low-fidelity run still simulates this many workflows (or all, if fewer)
_MIX_KNOBS = tuple(f"weight_{size}" for size in ("3b", "8b", "14b", "24b", "32b"))

ROUTER_KNOBS: dict[str, tuple[Param, ...]] = {
    "greedy": (
        Param("headroom", float, 1.0, low=0.01, high=100.0, search=(0.25, 4.0), log=True,
              help="a pair fits a step when its predicted latency is within headroom × the step's share of "
                   "the remaining budget: below 1 favours fast, lightly loaded pairs, above 1 accurate ones"),
    ),
    "static-mix": (
        Param("mix_temperature", float, 1.0, low=0.01, high=100.0, search=(0.25, 4.0), log=True,
              help="reshapes the model mix (weights ** (1 / temperature)): below 1 concentrates it, "
                   "above 1 spreads it"),
        *(Param(name, float, float(w), low=0.0, high=1e6, help=f"share of calls of the {name[7:].upper()} model "
                "before the temperature (weights are normalized)")
          for name, w in zip(_MIX_KNOBS, STATIC_MIX)),
    ),
}
SERVER_KNOBS: tuple[Param, ...] = (
    Param("max_num_seqs", int, 0, low=0, high=4096, search=(8, 128), log=True,
          help="batch slots per server, the same for every server (vLLM's --max-num-seqs); 0 keeps "
               "each model's profile value"),
    Param("discipline", str, "fcfs", choices=DISCIPLINES, search=DISCIPLINES,
          help="order in which waiting requests get a batch slot: first come first served, or "
               "earliest deadline (arrival + budget) first"),
)
SCENARIO_PARAMS: tuple[Param, ...] = (
    Param("rate", float, 50.0, low=1e-3, high=1e5, help="workflow arrival rate, requests per minute"),
    Param("budget", float, 200.0, low=1e-3, high=1e6, help="each workflow's latency budget, s"),
    Param("pattern", str, "poisson", choices=PATTERNS,
          help="arrival pattern (replay: the arrival times in the `arrivals` file)"),
    Param("workflows", int, 200, low=1, high=10**7, help="workflows simulated at full fidelity"),
    Param("arrivals", str, "", help="file of arrival times in seconds to replay (pattern replay)"),
)


def _goodput(m: Mapping[str, float]) -> float:
    return m["goodput"]


def _accuracy(m: Mapping[str, float]) -> float:
    return m["accuracy"]


def _violation(m: Mapping[str, float]) -> float:
    return m["violation_rate"]


def _latency(m: Mapping[str, float]) -> float:
    return m["mean_latency"]


OBJECTIVES = {
    "goodput": Objective("goodput", "maximize", _goodput, -1.0,
                         "share of workflows solved within their budget"),
    "accuracy": Objective("accuracy", "maximize", _accuracy, -1.0, "share of workflows solved, late or not"),
    "violation_rate": Objective("violation_rate", "minimize", _violation, 2.0,
                                "share of workflows over their budget"),
    "mean_latency": Objective("mean_latency", "minimize", _latency, 1e9, "mean workflow latency, s"),
}


class AgentServe:
    """Multi-agent LLM serving with one router family; see the module docstring.

    Instances hold only the router name and the profile file's path, so they pickle to
    worker processes cheaply; profiles are loaded once per process.
    """

    scenario_params = SCENARIO_PARAMS
    objectives = OBJECTIVES
    default_objective = "goodput"

    def __init__(self, router: str = "greedy", profiles: str | None = None) -> None:
        make_router(router)  # an unknown router is an error naming the allowed ones
        self.router = router
        self.profiles_path = profiles
        self.name = f"agentserve:{router}"
        self.knobs: tuple[Param, ...] = (*ROUTER_KNOBS.get(router, ()), *SERVER_KNOBS)
        self._profiles: Profiles | None = None
        self._replays: dict[str, tuple[float, ...]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"router": self.router, "profiles": self.profiles_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["router"], state["profiles"])

    def __repr__(self) -> str:
        return f"AgentServe(router={self.router!r}, profiles={self.profiles_path!r})"

    def fingerprint(self) -> str:
        """The simulator's source and the profile file in use define its results."""
        profiles = self.profiles_path or shipped_profile_path()
        return files_fingerprint([Path(__file__).parent, profiles])

    # building a run

    def profiles(self, config: Mapping[str, Any]) -> Profiles:
        """The servers' profiles with the config's batch slots applied."""
        if self._profiles is None:
            self._profiles = load_profiles(self.profiles_path)
        slots = config["max_num_seqs"]
        if slots == 0:
            return self._profiles
        return dataclasses.replace(self._profiles, max_num_seqs=np.full(len(self._profiles.model_names), slots))

    def build_router(self, config: Mapping[str, Any]) -> Router:
        """The router with the config's parameters."""
        if self.router == "greedy":
            return GreedyRouter(headroom=config["headroom"])
        if self.router == "static-mix":
            weights = np.array([config[name] for name in _MIX_KNOBS])
            if not weights.sum() > 0:
                raise ConfigError(_MIX_KNOBS[0], "the static-mix weights must not all be 0")
            return StaticMixRouter(weights, temperature=config["mix_temperature"])
        return make_router(self.router)

    def cell(self, config: Mapping[str, Any], scenario: Mapping[str, Any], fidelity: float) -> Cell:
        params = resolve(self.scenario_params, scenario)
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, float)) or not 0 < fidelity <= 1:
            raise ConfigError("fidelity", f"expected a number in (0, 1], got {fidelity!r}")
        workflows = params["workflows"]
        scaled = max(min(workflows, MIN_WORKFLOWS), math.ceil(workflows * fidelity))
        replay = None
        if params["pattern"] == "replay":
            if not params["arrivals"]:
                raise ConfigError("arrivals", "the replay pattern needs a file of arrival times")
            replay = self._arrivals(params["arrivals"])
            if len(replay) < scaled:
                raise ConfigError("arrivals", f"needs at least {scaled} arrival times, the file has {len(replay)}")
        return Cell(params["rate"], params["budget"], scaled, params["pattern"], config["discipline"], replay).check()

    def _arrivals(self, path: str) -> tuple[float, ...]:
        if path not in self._replays:
            self._replays[path] = tuple(load_arrivals(path).tolist())
        return self._replays[path]

    def run_cost(self, scenario: Mapping[str, Any], fidelity: float) -> float:
        """Workflows a run at `fidelity` simulates, per workflow of a full-length run."""
        workflows = resolve(self.scenario_params, scenario)["workflows"]
        return max(min(workflows, MIN_WORKFLOWS), math.ceil(workflows * fidelity)) / workflows

    # running

    def run(self, config: Mapping[str, Any], scenario: Mapping[str, Any], seed: int, fidelity: float = 1.0) -> Metrics:
        """Metrics of one cell (see `simulator._metrics` for their names)."""
        return self.run_group(config, [scenario], [seed], fidelity)[0].metrics

    def run_group(self, config: Mapping[str, Any], scenarios: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                  fidelity: float = 1.0, record: bool = False,
                  on_progress: Callable[[int, int], None] | None = None) -> list[RunRecord]:
        """Several cells of one config in lockstep; with `record`, each with its telemetry
        tables (`steps`, `workflows`) and per-server statistics (`servers`).
        `on_progress(workflows finished, workflows)` is called every 100 rounds."""
        knobs = resolve(self.knobs, config)
        cells = [self.cell(knobs, s, fidelity) for s in scenarios]
        driver = Lockstep(cells, [int(s) for s in seeds], self.profiles(knobs))

        def tick(d: Lockstep) -> None:
            if d.rounds % 100 == 0:
                on_progress(*d.progress())

        driver.run(self.build_router(knobs), tick if on_progress is not None else None)
        out = []
        for result in driver.results(record=record):
            artifacts = {"steps": result.steps, "workflows": result.workflows, "servers": result.servers} if record else {}
            out.append(RunRecord(result.metrics, artifacts))
        return out
