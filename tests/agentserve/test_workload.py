"""Workflow shapes and workloads: call order per topology, MATH mix, arrival patterns, replay files."""

from __future__ import annotations

import numpy as np
import pytest

from loadwise.errors import ConfigError
from loadwise.systems.agentserve.profiles import MATH_LEVEL_WEIGHTS
from loadwise.systems.agentserve.routing import MAX_CALLS, TOPOLOGIES
from loadwise.systems.agentserve.workflows import evidence, template
from loadwise.systems.agentserve.workload import MATH_SUBJECT_WEIGHTS, draw_workload, load_arrivals

T = {name: i for i, name in enumerate(TOPOLOGIES)}


@pytest.mark.parametrize(
    "topology, n, calls, depth",
    [("IO", 3, 4, 2), ("CoT", 2, 3, 2), ("Chain", 4, 5, 5), ("Debate", 3, 7, 3),
     ("Reflection", 3, 7, 3), ("FullConnected", 3, 4, 4), ("Debate", 6, 13, 3)],
)
def test_call_counts_and_sequential_depth(topology, n, calls, depth):
    tpl = template(T[topology], n)
    assert tpl.n_calls == calls
    assert max(tpl.depth_left) == depth
    assert tpl.agent[-1] == -1 and tpl.deps[-1] == tuple(range(calls - 1))  # decision waits for all
    assert sorted(tpl.slot) == list(range(calls)) and tpl.slot[-1] == 0  # decision always draws slot 0
    for i, deps in enumerate(tpl.deps):  # every input is finished before the call starts
        assert set(tpl.inputs[i]) <= set(deps) and all(d < i for d in deps)


def test_topology_semantics():
    chain = template(T["Chain"], 3)
    assert chain.deps[:3] == ((), (0,), (1,)) and chain.inputs[3] == (2,)
    debate = template(T["Debate"], 2)
    assert debate.inputs[2] == (0, 1) and debate.inputs[4] == (2, 3)
    refl = template(T["Reflection"], 2)
    assert refl.agent[:4] == (0, 1, 0, 1) and refl.inputs[2] == (0,) and refl.inputs[3] == (1,)
    full = template(T["FullConnected"], 3)
    assert full.inputs[2] == (0, 1) and full.inputs[3] == (0, 1, 2)


def test_evidence_rewards_agreeing_correct_answers():
    assert evidence(0.4, 0, 0) == 0.0
    assert evidence(0.4, 1, 1) == pytest.approx(0.4) and evidence(0.4, 1, 0) == pytest.approx(-0.4)
    assert evidence(0.4, 4, 4) > evidence(0.4, 1, 1)  # more agreeing correct answers help more
    assert evidence(0.4, 4, 2) == 0.0


def test_items_follow_the_math_test_distribution():
    w = draw_workload(40000, 60.0, "poisson", seed=5)
    assert np.allclose(np.bincount(w.level - 1, minlength=5) / len(w), MATH_LEVEL_WEIGHTS, atol=0.01)
    assert np.allclose(np.bincount(w.subject, minlength=7) / len(w), MATH_SUBJECT_WEIGHTS, atol=0.01)
    assert w.u_correct.shape == (40000, MAX_CALLS)


@pytest.mark.parametrize("pattern", ["poisson", "microburst", "sustained"])
def test_arrival_patterns_keep_the_mean_rate(pattern):
    w = draw_workload(20000, 120.0, pattern, seed=1)
    assert np.all(np.diff(w.arrival) >= 0)
    assert len(w) / w.arrival[-1] * 60 == pytest.approx(120.0, rel=0.03)


def test_microburst_concentrates_arrivals_in_bursts():
    w = draw_workload(20000, 60.0, "microburst", seed=2)
    in_burst = (w.arrival % 20.0) < 3.0
    # 3 s of every 20 s at 10x the base rate: 30 / 47 of the arrivals
    assert in_burst.mean() == pytest.approx(30 / 47, abs=0.02)


def test_same_seed_same_draws_across_rates():
    a, b = draw_workload(500, 20.0, "poisson", 9), draw_workload(500, 200.0, "poisson", 9)
    assert np.array_equal(a.level, b.level) and np.array_equal(a.u_correct, b.u_correct)
    assert np.allclose(a.arrival, b.arrival * 10)


def test_replay_files(tmp_path):
    plain = tmp_path / "times.txt"
    plain.write_text("5\n3.5\n10\n")
    assert list(load_arrivals(plain)) == [0.0, 1.5, 6.5]
    table = tmp_path / "times.csv"
    table.write_text("id,arrival_time\na,1\nb,2\n")
    assert list(load_arrivals(table)) == [0.0, 1.0]
    table.write_text("id,arrival_time\na,1\nb,soon\n")
    with pytest.raises(ConfigError, match="line 3: not a number: 'soon'"):
        load_arrivals(table)
    table.write_text("id,when\na,1\n")
    with pytest.raises(ConfigError, match="needs an arrival_time column"):
        load_arrivals(table)
    with pytest.raises(ConfigError, match="needs at least 5 arrival times, the file has 3"):
        draw_workload(5, 1.0, "replay", 0, load_arrivals(plain))
    with pytest.raises(ConfigError, match="unknown arrival pattern 'bursty'"):
        draw_workload(5, 1.0, "bursty", 0)
