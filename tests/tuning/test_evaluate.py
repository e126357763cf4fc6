"""Seeds and common random numbers, the process pool's failure handling, Ray, the run cache."""

import numpy as np
import pytest

from loadwise.evaluate import Evaluator, InlineBackend, LocalPool, RunCache, RunSpec, execute, run_seed
from loadwise.scenarios import get_scenario_set
from loadwise.systems.agentserve import AgentServe
from loadwise.systems.synthetic import Synthetic
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.racing import StagePlan

SYSTEM = Synthetic()


def plan(set_name="synthetic5", seed=7):
    return StagePlan(0, get_scenario_set(set_name), 1.0, seed, SYSTEM.objectives["cost"], Aggregate("mean"))


def test_seeds_depend_on_study_scenario_replicate_and_purpose_only():
    p = plan()
    a = p.spec({"x1": 0.1}, ("spike", 2))
    b = p.spec({"x1": 0.9, "x2": 0.2}, ("spike", 2))
    assert a.seed == b.seed == run_seed(7, "spike", 2)
    assert a.params == b.params
    seeds = {run_seed(7, s, r) for s in ("normal", "spike") for r in range(50)}
    assert len(seeds) == 100
    fresh = {run_seed(7, s, r, "validate") for s in ("normal", "spike") for r in range(50)}
    assert not seeds & fresh
    assert run_seed(8, "spike", 2) != run_seed(7, "spike", 2)


def test_stochastic_draws_are_common_across_configs():
    p = plan("synthetic-stochastic")
    a, b = p.spec({"x1": 0.1}, ("stochastic", 3)), p.spec({"x1": 0.8}, ("stochastic", 3))
    assert a.params == b.params and a.seed == b.seed
    assert p.spec({"x1": 0.1}, ("stochastic", 4)).params != a.params


def test_crn_cuts_variance_of_a_difference():
    x, y = {"x1": 0.40, "x2": 0.5}, {"x1": 0.45, "x2": 0.55}
    scenario = dict(get_scenario_set("synthetic5")["normal"].params)
    crn = [SYSTEM.run(x, scenario, run_seed(1, "normal", r))["cost"] - SYSTEM.run(y, scenario, run_seed(1, "normal", r))["cost"]
           for r in range(300)]
    ind = [SYSTEM.run(x, scenario, run_seed(1, "normal", r))["cost"] - SYSTEM.run(y, scenario, run_seed(2, "normal", r))["cost"]
           for r in range(300)]
    assert np.var(ind) > 3 * np.var(crn)


def test_execute_turns_exceptions_into_failed_runs():
    spec = RunSpec({"x1": 0.95}, "s", {"fault": "raise"}, 0, 1)
    result = execute(SYSTEM, spec)
    assert not result.ok and result.reason == "injected failure (fault=raise)"
    assert result.value(SYSTEM.objectives["cost"]) == 100.0
    bad = execute(SYSTEM, RunSpec({"x1": 2.0}, "s", {}, 0, 1))
    assert not bad.ok and "x1" in bad.reason


def test_pool_survives_crash_and_hang_and_keeps_good_runs():
    pool = LocalPool(SYSTEM, jobs=2, timeout=3.0)
    specs = {
        "ok": RunSpec({"x1": 0.2}, "s", {}, 0, 1),
        "crash": RunSpec({"x1": 0.95}, "s", {"fault": "crash"}, 0, 1),
        "hang": RunSpec({"x1": 0.95}, "s", {"fault": "hang"}, 0, 1),
        "ok2": RunSpec({"x1": 0.3}, "s", {}, 0, 2),
    }
    try:
        done = Evaluator(pool).run_all(specs.values())
    finally:
        pool.close()
    by = {name: done[s.key] for name, s in specs.items()}
    assert by["ok"].ok and by["ok2"].ok
    assert by["ok"].metrics == SYSTEM.run({"x1": 0.2}, {}, 1)
    assert not by["crash"].ok and by["crash"].reason == "worker process crashed (exit code 3)"
    assert not by["hang"].ok and by["hang"].reason == "timeout after 3 s"


def test_cache_answers_finished_runs(tmp_path):
    cache = RunCache(f"sqlite:///{tmp_path / 'c.db'}", "study", "system-a")
    ev = Evaluator(InlineBackend(SYSTEM), cache)
    specs = [RunSpec({"x1": v}, "s", {}, 0, 1) for v in (0.1, 0.2)]
    first = ev.run_all(specs)
    assert ev.executed == 2
    again = Evaluator(InlineBackend(SYSTEM), RunCache(f"sqlite:///{tmp_path / 'c.db'}", "study", "system-a"))
    second = again.run_all(specs)
    assert again.executed == 0 and again.reused == 2
    assert all(second[k].metrics == first[k].metrics and second[k].cached for k in first)
    table = cache.table()
    assert set(table["config.x1"]) == {0.1, 0.2} and "metric.cost" in table and "seconds" in table


def test_ray_backend_on_a_local_two_cpu_instance():
    ray = pytest.importorskip("ray")
    from loadwise.evaluate import RayBackend

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        backend = RayBackend(SYSTEM, timeout=20.0)
        specs = [RunSpec({"x1": v}, "s", {}, 0, 3) for v in (0.1, 0.5)]
        specs.append(RunSpec({"x1": 0.95}, "s", {"fault": "raise"}, 0, 3))
        done = Evaluator(backend).run_all(specs)
        backend.close()
        assert backend.capacity == 2
        for s in specs[:2]:
            assert done[s.key].ok and done[s.key].metrics == execute(SYSTEM, s).metrics
        assert done[specs[2].key].reason == "injected failure (fault=raise)"
    finally:
        ray.shutdown()


def test_unguarded_script_gets_a_clear_error_not_endless_respawns(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from loadwise.evaluate import Evaluator, LocalPool, RunSpec\n"
        "from loadwise.systems.synthetic import Synthetic\n"
        "Evaluator(LocalPool(Synthetic(), 1)).run_all([RunSpec({'x1': 0.2}, 's', {}, 0, 1)])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)
    assert done.returncode != 0
    assert 'must guard that call with `if __name__ == "__main__":`' in done.stderr


def test_a_task_runs_a_config_group_together_and_records_artifacts(tmp_path):
    from loadwise.systems.agentserve import AgentServe

    system = AgentServe("least-loaded")
    cells = [{"rate": 20.0, "budget": 50.0, "workflows": 30}, {"rate": 200.0, "budget": 50.0, "workflows": 30}]
    specs = [RunSpec({}, f"c{i}", c, 0, 5, record=True) for i, c in enumerate(cells)]
    cache = RunCache(f"sqlite:///{tmp_path / 'c.db'}", "study", "system-a")
    done = Evaluator(InlineBackend(system), cache).run_all(specs, chunks=1)
    for spec in specs:
        result = done[spec.key]
        assert result.ok and result.metrics == system.run({}, spec.params, 5)
        assert len(result.artifacts["workflows"]) == 30
    # a run that must record executes even when its metrics are cached
    again = Evaluator(InlineBackend(system), cache)
    again.run_all(specs, chunks=1)
    assert again.executed == 2 and again.reused == 0
    plain = Evaluator(InlineBackend(system), cache)
    plain.run_all([RunSpec({}, s.scenario, s.params, 0, 5) for s in specs])
    assert plain.reused == 2


def test_a_failing_group_fails_every_run_of_it():
    from loadwise.evaluate import execute_task
    from loadwise.systems.agentserve import AgentServe

    bad = {"rate": 20.0, "budget": 50.0, "pattern": "replay", "workflows": 10}  # no arrival file
    specs = (RunSpec({}, "a", {"rate": 20.0, "budget": 50.0, "workflows": 10}, 0, 1), RunSpec({}, "b", bad, 0, 1))
    results = execute_task(AgentServe(), specs)
    assert [r.ok for r in results] == [False, False]
    assert all("replay pattern needs a file" in r.reason for r in results)


def test_the_cache_never_answers_for_another_system_or_a_changed_simulator(tmp_path):
    from loadwise.systems.base import identity

    url = f"sqlite:///{tmp_path / 'c.db'}"
    spec = RunSpec({"x1": 0.2}, "s", {}, 0, 1)
    RunCache(url, "study", identity(SYSTEM)).put(execute(SYSTEM, spec))
    assert RunCache(url, "study", identity(SYSTEM)).get(spec) is not None
    assert RunCache(url, "study", "synthetic@0.1.0#changed-source").get(spec) is None
    assert identity(SYSTEM).startswith("synthetic@") and identity(SYSTEM) != identity(AgentServe())


def test_a_run_claimed_by_another_process_is_awaited_not_run_twice(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    spec = RunSpec({"x1": 0.2}, "s", {}, 0, 1)
    other = RunCache(url, "study", "sys")
    assert other.claim(spec)  # another process is running it
    mine = Evaluator(InlineBackend(SYSTEM), RunCache(url, "study", "sys"))
    mine.submit(spec)
    assert mine.busy() == 1 and mine.results(timeout=0.1) == []
    other.put(execute(SYSTEM, spec))  # ... and stores it
    done = mine.run_all([spec])
    assert done[spec.key].cached and mine.executed == 0 and mine.duplicates == 0


def test_a_claim_whose_owner_died_is_taken_over(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    spec = RunSpec({"x1": 0.2}, "s", {}, 0, 1)
    assert RunCache(url, "study", "sys").claim(spec)  # its owner never renews it
    mine = Evaluator(InlineBackend(SYSTEM), RunCache(url, "study", "sys", claim_timeout=0.5))
    done = mine.run_all([spec])
    assert done[spec.key].ok and mine.executed == 1
