"""Scenario sets: weights, files, parameter checks, fidelity schedules."""

import math

import pytest

from loadwise.errors import ConfigError
from loadwise.scenarios import (
    Scenario,
    ScenarioSet,
    get_scenario_set,
    load_scenario_file,
    make_schedule,
)
from loadwise.scenarios.fidelity import stages_from
from loadwise.systems.synthetic import Synthetic


def test_weights_are_normalized():
    s = ScenarioSet((Scenario("a", 2.0, {}), Scenario("b", 6.0, {})))
    assert s.weights == {"a": 0.25, "b": 0.75}


@pytest.mark.parametrize("weight", [0.0, -1.0, math.inf, math.nan, True])
def test_bad_weight_names_the_scenario(weight):
    with pytest.raises(ConfigError) as info:
        ScenarioSet((Scenario("ok", 1.0, {}), Scenario("spike", weight, {})))
    assert str(info.value).startswith("scenarios.spike.weight: must be a positive finite number")


def test_duplicate_names_rejected():
    with pytest.raises(ConfigError, match="scenarios.a: scenario names must be unique"):
        ScenarioSet((Scenario("a", 1.0, {}), Scenario("a", 1.0, {})))


def test_unknown_scenario_parameter_lists_the_allowed_ones():
    s = ScenarioSet((Scenario("normal", 1.0, {"load": 1.0, "trafic": 8}),))
    with pytest.raises(ConfigError) as info:
        s.checked(Synthetic.scenario_params)
    assert str(info.value) == ("scenarios.normal.trafic: unknown parameter; allowed: "
                               "load, noise, severity, fault, fault_above, seconds")


def test_yaml_and_toml_files(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text("name: two\nscenarios:\n  - {name: calm, weight: 3, load: 0.5}\n  - {name: busy, weight: 1, load: 2}\n")
    t = tmp_path / "s.toml"
    t.write_text('[[scenarios]]\nname = "calm"\nweight = 3\nload = 0.5\n[[scenarios]]\nname = "busy"\nweight = 1\nload = 2\n')
    for path in (y, t):
        s = load_scenario_file(path).checked(Synthetic.scenario_params)
        assert s.weights == {"calm": 0.75, "busy": 0.25}
        assert s["busy"].params == {"load": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios:\n  - {name: calm, weight: -2}\n", "scenarios.calm.weight: must be a positive finite number, got -2.0"),
        ("scenarios:\n  - {name: calm, weight: .inf}\n", "scenarios.calm.weight: must be a positive finite number, got inf"),
        ("scenarios:\n  - {name: calm}\n", "scenarios.calm.weight: Field required"),
        ("scenario: []\n", "scenario: Extra inputs are not permitted"),
        ("mode: stochastic\ndraws:\n  load: {uniform: [2, 1]}\n", "draws.load: uniform needs low < high"),
        ("scenarios: [\n", "not valid YAML/TOML"),
    ],
)
def test_bad_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario_file(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))


def test_stochastic_set_draws_per_replicate_reproducibly():
    s = get_scenario_set("synthetic-stochastic").checked(Synthetic.scenario_params)
    assert s.names == ["stochastic"]
    a, b = s.params_for("stochastic", 0, 11), s.params_for("stochastic", 0, 11)
    assert a == b and a != s.params_for("stochastic", 1, 12)
    assert a["load"] in (0.5, 1.0, 1.5, 2.0, 2.5) and 0.7 <= a["noise"] <= 3.0


def test_staged_schedule_on_five_weighted_scenarios():
    s = get_scenario_set("synthetic5")
    sched = make_schedule("staged", s)
    assert [(st.first_trial, st.scenarios) for st in sched.stages] == [
        (1, ("normal",)), (11, ("normal", "spike")), (26, ("normal", "spike", "low", "flaky", "crisis"))]
    assert [sched.stage_index(t) for t in (1, 10, 11, 25, 26, 50)] == [0, 0, 1, 1, 2, 2]


def test_short_first_schedule():
    sched = make_schedule("short", get_scenario_set("synthetic5"))
    assert [(st.first_trial, len(st.scenarios), st.fidelity) for st in sched.stages] == [(1, 5, 0.25), (26, 5, 1.0)]


def test_schedule_must_end_on_the_full_set():
    s = get_scenario_set("synthetic5")
    with pytest.raises(ConfigError, match="the last stage must evaluate every scenario at fidelity 1"):
        make_schedule(stages_from([(1, ["normal"], 1.0), (5, ["normal", "spike"], 1.0)]), s)
    with pytest.raises(ConfigError, match="unknown scenario 'storm'"):
        make_schedule(stages_from([(1, ["storm"], 1.0)]), s)


def test_old_preset_and_schedule_names_are_aliases():
    weighted, old = get_scenario_set("sq-weighted5"), get_scenario_set("seed5")
    assert old == weighted and old.name == "sq-weighted5"
    assert weighted.names == ["normal", "spike", "low", "flaky", "crisis"]
    assert get_scenario_set("seed-stochastic") == get_scenario_set("sq-stochastic")
    synthetic = get_scenario_set("synthetic5")
    assert make_schedule("seed", synthetic) == make_schedule("staged", synthetic)
    assert make_schedule("seed", synthetic).name == "staged"


def test_unknown_names_list_the_aliases():
    with pytest.raises(ConfigError) as info:
        get_scenario_set("seed6")
    assert str(info.value) == ("scenarios: unknown scenario set 'seed6'; allowed: sq-weighted5, sq-stochastic, "
                               "synthetic5, synthetic-stochastic, inframind-grid, mq-weighted4 (aliases: seed5 for "
                               "sq-weighted5, seed-stochastic for sq-stochastic), or a .yaml/.toml file")
    with pytest.raises(ConfigError) as info:
        make_schedule("fast", get_scenario_set("synthetic5"))
    assert str(info.value) == "fidelity: 'fast' is not allowed (one of staged, short, none; alias: seed for staged)"
