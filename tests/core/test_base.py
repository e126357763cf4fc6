"""The System protocol's parameter checks and the external-command system."""

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loadwise.errors import ConfigError, RunFailed
from loadwise.params import Param, resolve
from loadwise.systems import get_system
from loadwise.systems.base import identity
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


def _spec_file(tmp_path, command, knobs=None, name="bad.yaml"):
    spec = {"name": "t", "command": command,
            "knobs": knobs or [{"name": "x", "type": "float", "default": 0, "search": [0, 1]}],
            "objective": {"metric": "m", "direction": "minimize", "failure_value": 0}}
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize(("command", "message"), [
    (["sim", "--x", "{y}"], r"command\[2\]: '\{y\}': unknown placeholder \{y\}; allowed: \{seed\}, \{fidelity\}, \{x\}$"),
    (["sim", "--x={x"], r"command\[1\]: '--x=\{x': expected '\}' before end of string"),
    (["sim", "x}"], r"command\[1\]: 'x\}': Single '\}' encountered in format string"),
    (["sim", "{x:>5}"], r"command\[1\]: '\{x:>5\}': write the placeholder as \{x\}, without a format"),
    (["sim", "{}"], r"command\[1\]: '\{\}': unknown placeholder \{\}"),
])
def test_command_placeholders_are_checked_when_the_spec_is_loaded(tmp_path, command, message):
    path = _spec_file(tmp_path, command)
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        CommandSystem.from_file(path)


def test_doubled_braces_are_literal(tmp_path):
    path = _spec_file(tmp_path, [sys.executable, "-c", 'import json; print(json.dumps({{"m": {x}}}))'])
    assert CommandSystem.from_file(path).run({"x": 0.5}, {}, seed=0) == {"m": 0.5}


@pytest.mark.parametrize("name", ["seed", "fidelity"])
def test_knobs_named_like_run_fields_are_refused(tmp_path, name):
    path = _spec_file(tmp_path, ["sim"], knobs=[{"name": name, "type": "int", "default": 1}])
    with pytest.raises(ConfigError, match=f"knobs.{name}: '{name}' is reserved"):
        CommandSystem.from_file(path)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a parent to reap it counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_timeout_kills_the_command_and_every_process_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    path = _spec_file(tmp_path, ["sh", "-c", script])
    system = CommandSystem.from_file(path)
    system.timeout = 1.0
    with pytest.raises(RunFailed, match="timeout after 1 s"):
        system.run({}, {}, seed=0)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_the_fingerprint_follows_the_spec_and_the_files_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "sim.py"
    script.write_text("print('{\"m\": 1}')\n")
    path = _spec_file(tmp_path, [sys.executable, "sim.py", "{x}"])
    first = identity(CommandSystem.from_file(path))
    assert identity(CommandSystem.from_file(path)) == first
    script.write_text("print('{\"m\": 2}')\n")
    changed_script = identity(CommandSystem.from_file(path))
    assert changed_script != first
    path.write_text(path.read_text().replace('"name": "t"', '"name": "t", "timeout": 5'))
    assert identity(CommandSystem.from_file(path)) not in (first, changed_script)
