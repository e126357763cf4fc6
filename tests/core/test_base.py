"""The System protocol's parameter checks and the external-command system."""

import json
import sys
import textwrap

import pytest

from loadwise.errors import ConfigError, RunFailed
from loadwise.params import Param, resolve
from loadwise.systems import get_system
from loadwise.systems.command import CommandSystem, parse_metrics

PARAMS = [
    Param("resources", int, 32, low=1, search=(16, 128), log=True),
    Param("flaketol", float, 0.08, low=0.0, high=1.0),
    Param("queue", str, "fcfs", choices=("fcfs", "edf")),
]


def test_resolve_fills_defaults_and_coerces():
    assert resolve(PARAMS, {"resources": 40.0}) == {"resources": 40, "flaketol": 0.08, "queue": "fcfs"}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"resources": -3}, "resources: -3 is below the minimum (integer >= 1)"),
        ({"resources": "many"}, "resources: expected an integer"),
        ({"resources": 2.5}, "resources: expected an integer"),
        ({"flaketol": 1.5}, "flaketol: 1.5 is above the maximum (number in [0, 1])"),
        ({"flaketol": float("nan")}, "flaketol: expected a finite number"),
        ({"queue": "lifo"}, "queue: 'lifo' is not allowed (one of fcfs, edf)"),
        ({"resourcez": 3}, "resourcez: unknown parameter; allowed: resources, flaketol, queue"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(values, fragment):
    with pytest.raises(ConfigError) as info:
        resolve(PARAMS, values)
    assert fragment in str(info.value)


SIM = textwrap.dedent(
    """
    import json, sys
    job = json.load(sys.stdin)
    x = job["config"]["x"]
    if x > 9:
        sys.exit("x too large")
    print("log line that is not JSON")
    print(json.dumps({"loss": (x - 3) ** 2 + job["scenario"]["noise"], "seed": job["seed"]}))
    """
)


@pytest.fixture
def command_spec(tmp_path):
    script = tmp_path / "sim.py"
    script.write_text(SIM)
    spec = {
        "name": "toy",
        "command": [sys.executable, str(script), "--seed", "{seed}"],
        "timeout": 20,
        "knobs": [{"name": "x", "type": "float", "default": 0, "search": [0, 10]}],
        "scenario_params": [{"name": "noise", "type": "float", "default": 0}],
        "objective": {"metric": "loss", "direction": "minimize", "failure_value": 1e9},
    }
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps(spec))  # JSON is valid YAML
    return path


def test_command_system_runs_and_reads_metrics(command_spec):
    system = get_system(str(command_spec))
    assert isinstance(system, CommandSystem)
    metrics = system.run({"x": 5}, {"noise": 0.5}, seed=7)
    assert metrics == {"loss": 4.5, "seed": 7.0}
    assert system.objectives["loss"](metrics) == 4.5


def test_command_system_failure_is_a_run_failed_with_reason(command_spec):
    system = get_system(str(command_spec))
    with pytest.raises(RunFailed, match="exit code 1: x too large"):
        system.run({"x": 9.5}, {}, seed=1)


def test_command_spec_errors_name_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ncommand: [echo]\nknobs: []\nobjective: {metric: m, direction: up, failure_value: 0}\n")
    with pytest.raises(ConfigError, match=r"objective\.direction"):
        CommandSystem.from_file(path)


def test_parse_metrics_rejects_non_numbers():
    with pytest.raises(RunFailed, match="metric 'a' is not a number"):
        parse_metrics('{"a": "x"}')


def test_unknown_system_lists_allowed():
    with pytest.raises(ConfigError, match="allowed: submitqueue"):
        get_system("nope")
