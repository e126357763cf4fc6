"""Model profiles: the shipped file reproduces the spec's accuracies; bad files are clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy.special import expit

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.profiles import (
    MATH_LEVEL_WEIGHTS,
    fit_theta,
    load_profiles,
    profiles_from_dict,
    profiles_yaml,
    shipped_profile_path,
)
from loadwise.systems.agentserve.routing import MODELS, STRATEGIES

SPEC_ACCURACY = {  # spec 04, single-model MATH accuracy
    "Llama-3.2-3B-Instruct": 0.246,
    "Llama-3.1-8B-Instruct": 0.394,
    "Qwen2.5-Coder-14B-Instruct": 0.473,
    "Mistral-Small-24B-Instruct": 0.521,
    "DeepSeek-R1-Distill-Qwen-32B": 0.798,
}


def test_shipped_profile_matches_spec_accuracies_and_names():
    p = load_profiles()
    assert p.model_names == MODELS
    acc = p.math_accuracy()
    for name, want in SPEC_ACCURACY.items():
        assert abs(acc[MODELS.index(name)] - want) < 0.001
    assert list(p.max_num_seqs) == [32] * 5
    assert list(p.mean_tokens) == [276, 380, 410]  # spec: measured averages


def test_every_figure_has_a_source():
    raw = yaml.safe_load(shipped_profile_path().read_text())
    for m in raw["models"]:
        for key in ("max_num_seqs", "tpot", "tpot_growth", "prefill_cost", "kv_capacity", "theta", "math_accuracy"):
            assert m["source"].get(key), (m["name"], key)
    for s in raw["strategies"]:
        for key in ("mean_tokens", "sigma", "delta", "kappa", "gamma"):
            assert s["source"].get(key), (s["name"], key)


def test_strategy_effects_follow_the_spec():
    p = load_profiles()
    logit = p.logit(np.array([1, 5]))  # (level, model, strategy)
    flash, concise, deep = (STRATEGIES.index(s) for s in ("flash", "concise", "deepthink"))
    # Flash costs accuracy on hard items, more than on easy ones
    assert np.all(logit[1, :, flash] < logit[1, :, concise])
    assert np.all(logit[1, :, concise] - logit[1, :, flash] > logit[0, :, concise] - logit[0, :, flash])
    # DeepThink helps most on hard items and on strong models
    gain = expit(logit[..., deep]) - expit(logit[..., concise])
    assert np.all(gain[1] > 0) and np.all(gain[1] > gain[0])
    dlogit = logit[1, :, deep] - logit[1, :, concise]
    assert np.all(np.diff(dlogit) > 0)  # models are in order of strength


def test_fit_theta_inverts_the_level_mix():
    theta = fit_theta(0.6, delta=0.1, kappa=0.7, gamma=0.2)
    levels = np.arange(1, 6) - 3
    assert abs(MATH_LEVEL_WEIGHTS @ expit(theta * 1.2 + 0.1 - 0.7 * levels) - 0.6) < 1e-9


def _raw() -> dict:
    return yaml.safe_load(shipped_profile_path().read_text())


@pytest.mark.parametrize(
    "edit, field, words",
    [
        (lambda r: r["models"][2].__setitem__("tpot", -1), "profiles: models.2.tpot", "greater than 0"),
        (lambda r: r["models"].pop(), "profiles: models", "exactly 5 models"),
        (lambda r: r["strategies"].reverse(), "profiles: strategies", "flash, concise, deepthink"),
        (lambda r: r["models"][0].__setitem__("speed", 3), "profiles: models.0.speed", "Extra inputs"),
        (lambda r: r["workflow"].pop("peer_weight"), "profiles: workflow.peer_weight", "Field required"),
        (lambda r: r["models"][1].__setitem__("name", r["models"][0]["name"]), "profiles: models", "unique"),
    ],
)
def test_bad_profiles_name_the_field(edit, field, words):
    raw = _raw()
    edit(raw)
    with pytest.raises(ConfigError) as err:
        profiles_from_dict(raw)
    assert err.value.field == field
    assert words in err.value.problem


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="profile file not found"):
        load_profiles(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n  - name: x\n   tpot: 1\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_profiles(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_profiles(bad)


def test_write_then_load_round_trips(tmp_path):
    p = load_profiles()
    path = tmp_path / "p.yaml"
    path.write_text(profiles_yaml(p.spec))
    q = load_profiles(path)
    assert np.allclose(q.theta, p.theta) and np.allclose(q.tpot, p.tpot) and q.model_names == p.model_names
