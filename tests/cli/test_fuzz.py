"""Property-based fuzzing of everything a user hands loadwise.

Knob configs, scenario files (YAML/TOML), command specs, replay CSVs, telemetry CSVs and
command-line flag values are generated, valid and broken alike. Each must give either a
valid result, or one error line naming the field (exit code 2 on the command line):
never a traceback, never a half-written run folder. The default suite runs a few hundred
cases; `-m slow` runs the same properties on 10,000 cases in all. Hypothesis derives the
cases from a fixed seed (`derandomize`), so a run is reproducible.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadwise.auditing.inputs import REFERENCE_CSV_FIELDS, load_telemetry
from loadwise.cli import main
from loadwise.errors import ConfigError
from loadwise.scenarios import get_scenario_set
from loadwise.systems.command import CommandSystem
from loadwise.systems.submitqueue import SubmitQueue
from loadwise.systems.submitqueue.trace import COLUMNS

SQ = SubmitQueue()
SHORT = {"warmup_ticks": 0, "ticks": 6}


def _profile(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


FAST, SLOW = _profile(50), _profile(1700)  # six properties: about 300 and 10,000 cases

# values a user might type or a file might hold
numbers = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 2, 16, 128, 0.5, 0.99, 1e-9, 4096]))
scalars = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)
flag_text = st.one_of(st.text(max_size=12), numbers.map(str),
                      st.sampled_from(["", "-1", "1e400", "nan", "12x", "0x10", "[/x]", "[bold]", "a\nb"]))


def _one_line(err: ConfigError) -> None:
    assert err.field and "\n" not in str(err), repr(str(err))


def _cli(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def _cli_ok_or_one_line(argv: list[str], *names: str) -> int:
    code, err = _cli(argv)
    assert "Traceback" not in err, err
    if code != 0:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
        assert any(n in lines[0] for n in names), (argv, lines[0])
    return code


# 1. knob configs and scenario values, straight to the simulator

knob_names = st.sampled_from([p.name for p in (*SQ.knobs, *SQ.scenario_params)] + ["nope", "", "seed"])


@st.composite
def knob_configs(draw):
    config = draw(st.dictionaries(st.sampled_from([p.name for p in SQ.knobs] + ["nope"]), values, max_size=4))
    scenario = draw(st.dictionaries(st.sampled_from([p.name for p in SQ.scenario_params] + ["warp"]), values,
                                    max_size=3))
    return config, scenario, draw(st.one_of(st.integers(-5, 2**70), st.text(max_size=4), st.floats()))


def check_knob_config(case) -> None:
    config, scenario, seed = case
    try:
        metrics = SQ.run(config, {**scenario, **SHORT}, seed=seed)
    except ConfigError as err:
        _one_line(err)
        return
    assert math.isfinite(metrics["changes_landed"])


# 2. scenario-set files, YAML or TOML

scenario_entry = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["normal", "spike", "a"]), st.text(max_size=6))},
    optional={"weight": numbers, "traffic": numbers, "culprit_prob": numbers, "test_stability": numbers,
              "trafic": numbers})
scenario_docs = st.one_of(
    st.fixed_dictionaries({"scenarios": st.lists(scenario_entry, max_size=3)},
                          optional={"name": st.text(max_size=6), "mode": st.sampled_from(["deterministic", "x"])}),
    st.fixed_dictionaries({"mode": st.just("stochastic"),
                           "draws": st.dictionaries(st.sampled_from(["traffic", "test_stability", "x"]),
                                                    st.one_of(st.fixed_dictionaries({"choice": st.lists(numbers, max_size=3)}),
                                                              st.fixed_dictionaries({"uniform": st.lists(numbers, max_size=3)}),
                                                              values), max_size=2)}),
    values)


def _toml(data) -> str:
    """A small TOML writer for the generated documents (strings JSON-quoted, which TOML reads)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v if x is not None and not isinstance(x, dict)) + "]"
        return json.dumps(str(v))
    lines, tables = [], []
    for k, v in (data.items() if isinstance(data, dict) else []):
        if v is None:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                tables.append(f"[[{json.dumps(str(k))}]]")
                tables += [f"{json.dumps(str(a))} = {value(b)}" for a, b in item.items()
                           if b is not None and not isinstance(b, dict)]
        elif not isinstance(v, dict):
            lines.append(f"{json.dumps(str(k))} = {value(v)}")
    return "\n".join(lines + tables) + "\n"


def check_scenario_file(case) -> None:
    doc, as_toml = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("set.toml" if as_toml else "set.yaml")
        path.write_text(_toml(doc) if as_toml else yaml.safe_dump(doc, allow_unicode=True))
        try:
            scenario_set = get_scenario_set(str(path)).checked(SQ.scenario_params)
        except ConfigError as err:
            _one_line(err)
            return
        for scenario in scenario_set.scenarios[:1]:
            SQ.run({}, {**scenario.params, **SHORT}, seed=0)


# 3. command specs

param_spec = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["x", "y", "seed", "fidelity"]), st.text(max_size=5)),
     "type": st.sampled_from(["int", "float", "str", "bool"]), "default": scalars},
    optional={"low": numbers, "high": numbers, "search": st.one_of(st.lists(scalars, max_size=3), values),
              "choices": st.lists(scalars, max_size=3), "log": st.booleans()})
command_arg = st.one_of(st.sampled_from(["sim", "{x}", "{seed}", "{fidelity}", "{y}", "{", "}", "{{}}", "{x:>3}",
                                         "{}", "{0}", "{x.y}", "--n={x}{seed}"]), st.text(max_size=8))
command_specs = st.one_of(
    st.fixed_dictionaries(
        {"name": st.text(max_size=5), "command": st.lists(command_arg, max_size=4),
         "knobs": st.lists(param_spec, max_size=2),
         "objective": st.fixed_dictionaries({"metric": st.text(max_size=4),
                                             "direction": st.sampled_from(["minimize", "maximize", "up"]),
                                             "failure_value": numbers})},
        optional={"scenario_params": st.lists(param_spec, max_size=2), "timeout": numbers}),
    values)


def check_command_spec(doc) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        try:
            system = CommandSystem.from_file(path)
        except ConfigError as err:
            _one_line(err)
            assert str(path) in str(err), str(err)
            return
        assert system.fingerprint()
        names = {p.name for p in (*system.knobs, *system.scenario_params)}
        assert not names & {"seed", "fidelity"}


# 4. replay CSVs, through `loadwise sq replay`

csv_cell = st.one_of(st.integers(-3, 10**9).map(str), st.sampled_from(["true", "false", "0", "1", "", "x", "1.5"]),
                     st.text(max_size=6))


@st.composite
def replay_csvs(draw):
    header = draw(st.one_of(st.just(list(COLUMNS)), st.permutations(list(COLUMNS)),
                            st.lists(st.sampled_from([*COLUMNS, "extra"]), max_size=9)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):  # a well-formed row
            rows.append({"change_number": str(draw(st.integers(0, 5))), "target": draw(st.sampled_from(["t1", "t2"])),
                         "creation_time_millis": str(draw(st.integers(0, 10 * 3_600_000))),
                         "success": draw(st.sampled_from(["true", "false"])), "flake": draw(st.sampled_from(["0", "1"])),
                         "timestamp": "0", "hour": str(draw(st.integers(0, 23))),
                         "is_bad": draw(st.sampled_from(["true", "false"]))})
        else:
            rows.append({c: draw(csv_cell) for c in COLUMNS})
    lines = [",".join(header)] + [",".join(r.get(c, "") for c in header) for r in rows]
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\n,,\n"]))


def check_replay_csv(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        path.write_text(text)
        _cli_ok_or_one_line(["sq", "replay", str(path), "--json"], str(path))


# 5. telemetry CSVs

telemetry_columns = sorted({c for names in REFERENCE_CSV_FIELDS.values() for c in names}
                           | {"model", "step_latency", "workflow_latency", "workflow_id", "rate", "budget"})


@st.composite
def telemetry_csvs(draw):
    columns = draw(st.lists(st.sampled_from(telemetry_columns), min_size=1, max_size=8, unique=True))
    cell = st.one_of(st.sampled_from(["role_step", "episode", "m1", "", "0", "1.5", "true", "nan", "-3"]),
                     numbers.map(str), st.text(max_size=5))
    rows = draw(st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)), max_size=5))
    out = io.StringIO()
    import csv

    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def check_telemetry_csv(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "telemetry.csv"
        path.write_text(text)
        try:
            loaded = load_telemetry(path)
        except ConfigError as err:
            _one_line(err)
            return
        assert len(loaded.steps) + len(loaded.workflows) > 0


# 6. command-line flag values, through `loadwise sq run` and `loadwise tune`

SQ_FLAGS = ["--resources", "--maxbatch", "--maxk", "--kdiv", "--flaketol", "--verify-latency", "--fix-delay",
            "--verify-resource-mult", "--traffic", "--culprit-prob", "--test-stability", "--ntests", "--seed",
            "--scenario"]
TUNE_FLAGS = ["--trials", "--aggregate", "--fidelity", "--constraint", "--jobs", "--backend", "--storage",
              "--timeout", "--objective", "--scenarios", "--system", "--seed", "--early-fidelity", "--ci-tol"]


@st.composite
def flag_values(draw):
    if draw(st.integers(0, 3)) > 0:
        flags = draw(st.lists(st.tuples(st.sampled_from(SQ_FLAGS), flag_text), min_size=1, max_size=3))
        return "sq", flags
    return "tune", [(draw(st.sampled_from(TUNE_FLAGS)), draw(flag_text))]


class _Started(Exception):
    """Raised where a tune whose input was accepted would start its workers."""


def check_flag_values(case) -> None:
    command, flags = case
    argv = [a for pair in flags for a in pair]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        if command == "sq":
            _cli_ok_or_one_line(["sq", "run", *argv, "--warmup-ticks", "0", "--ticks", "6", "--json"],
                                *{f for f, _ in flags}, "--ticks")
            return
        # a valid tune would start a long search: it is stopped where its workers would start,
        # after every check of its input and before its run folder is made
        try:
            with mock.patch("loadwise.app.tune.make_backend", side_effect=_Started):
                code = _cli_ok_or_one_line(["tune", "--out", str(out), *argv], *{f for f, _ in flags})
            assert code == 2
        except _Started:
            pass
        assert not out.exists()


CHECKS = {
    "knob_configs": (knob_configs(), check_knob_config),
    "scenario_files": (st.tuples(scenario_docs, st.booleans()), check_scenario_file),
    "command_specs": (command_specs, check_command_spec),
    "replay_csvs": (replay_csvs(), check_replay_csv),
    "telemetry_csvs": (telemetry_csvs(), check_telemetry_csv),
    "flag_values": (flag_values(), check_flag_values),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_fuzz(name):
    strategy, check = CHECKS[name]
    FAST(given(strategy)(check))()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_fuzz_slow(name):
    strategy, check = CHECKS[name]
    SLOW(given(strategy)(check))()
