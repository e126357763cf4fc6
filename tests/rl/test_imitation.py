"""The warm start (behaviour cloning of the greedy router) and the entropy schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loadwise.errors import ConfigError
from loadwise.rl.config import TrainConfig
from loadwise.rl.imitation import TeacherRecorder, plan_actions
from loadwise.rl.train import Trainer
from loadwise.systems.agentserve import Cell, Lockstep
from loadwise.systems.agentserve.routers import budget_aware_plan


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As `router train` runs: small networks are fastest on one thread (two spin on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = dict(rates=(20.0, 200.0), budgets=(10.0, 1800.0), minibatch_size=256, telemetry=False, seed=3)


def test_plans_become_planner_action_rows_with_unused_roles_zero():
    recorder = TeacherRecorder(1.0, "full")
    driver = Lockstep([Cell(20.0, 20.0, 30), Cell(20.0, 1800.0, 30)], 1)
    driver.run(recorder)
    log = recorder.plan_log.arrays()
    actions = log["actions"]
    assert len(actions) == 60
    agents = actions[:, 1] + 1
    assert set(agents[log["sim_index"] == 0]) == {1}  # budget under 30 s: one agent
    assert agents[log["sim_index"] == 1].min() >= 2    # loose budget: the reference plan's 2-3 agents
    unused = np.arange(actions.shape[1] - 2)[None, :] >= agents[:, None]
    assert (actions[:, 2:][unused] == 0).all()


def test_plan_actions_round_trip_the_teachers_plan():
    from loadwise.systems.agentserve.routing import PlanBatch

    driver = Lockstep([Cell(50.0, 60.0, 20)], 4)
    batch: PlanBatch | None = None
    while batch is None:
        batch = driver.next_plans()
    plan = budget_aware_plan(batch)
    rows = plan_actions(plan)
    assert (rows[:, 0] == plan.topology).all() and (rows[:, 1] + 1 == plan.n_agents).all()
    used = plan.roles >= 0
    assert (rows[:, 2:][used] == plan.roles[used]).all()


def test_the_cloned_router_decides_like_its_teacher_and_earns_what_it_earns():
    config = TrainConfig(workflows=100, imitation_passes=40, epochs=1, **SMALL)
    trainer = Trainer.create(config)
    line = trainer.run_epoch().line
    warm = line["imitation"]
    assert warm["teacher"] == "greedy" and warm["decisions"] > 1000
    # sampled from the cloned networks, before any PPO step: the teacher's goodput within a few points
    assert line["goodput"] == pytest.approx(warm["teacher_goodput"], abs=0.08)
    # on fresh states the cloned executor's most likely pair is mostly the teacher's
    recorder = TeacherRecorder(config.imitation_headroom, "full")
    Lockstep([Cell(r, b, 40) for r in SMALL["rates"] for b in SMALL["budgets"]], 99).run(recorder)
    steps = recorder.step_log.arrays()
    with torch.no_grad():
        chosen = trainer.executor.logits(torch.from_numpy(steps["obs"])).argmax(-1).numpy()
    assert (chosen == steps["actions"]).mean() > 0.8


def test_training_without_a_teacher_starts_from_random_networks():
    line = Trainer.create(TrainConfig(workflows=20, epochs=1, imitation_teacher="none", **SMALL)).run_epoch().line
    assert "imitation" not in line


def test_the_warm_start_is_reproducible():
    lines = [Trainer.create(TrainConfig(workflows=15, epochs=1, **SMALL)).run_epoch().line for _ in range(2)]
    assert {k: v for k, v in lines[0].items() if "seconds" not in k} == \
           {k: v for k, v in lines[1].items() if "seconds" not in k}


def test_entropy_bonus_decays_linearly_to_zero_over_its_epochs_whatever_the_run_length():
    for epochs in (3, 6):
        config = TrainConfig(epochs=epochs, entropy_coef=0.01, entropy_decay_epochs=4)
        assert [config.ppo(e).entropy_coef for e in range(6)] == pytest.approx([0.01, 0.0075, 0.005, 0.0025, 0, 0])
    constant = TrainConfig(epochs=4, entropy_coef=0.01, entropy_decay_epochs=0)
    assert {constant.ppo(e).entropy_coef for e in range(4)} == {0.01}


@pytest.mark.parametrize("field, value, message", [
    ("imitation_teacher", "clairvoyant", "^imitation_teacher: 'clairvoyant'; allowed: none, greedy$"),
    ("entropy_decay_epochs", -1, "^entropy_decay_epochs: must be >= 0"),
    ("imitation_passes", 0, "^imitation_passes: must be at least 1$"),
    ("imitation_headroom", 0.0, "^imitation_headroom: must be a finite number > 0$"),
])
def test_bad_warm_start_options_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})


def test_the_reference_planner_cannot_imitate_plans():
    with pytest.raises(ConfigError, match="^imitation_teacher: needs the learned planner"):
        TrainConfig(planner="reference", planner_congestion_price=0.0)
    assert TrainConfig(planner="reference", planner_congestion_price=0.0, imitation_teacher="none").planner == "reference"


def test_runs_saved_before_the_warm_start_load_as_trained():
    saved = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("imitation_teacher", "entropy_decay_epochs")}
    old = TrainConfig.from_dict(saved)
    assert old.imitation_teacher == "none" and old.entropy_decay_epochs == 0


def test_the_teacher_keeps_room_for_queueing_so_it_busts_less_at_tight_budgets():
    assert TrainConfig().imitation_headroom < 1.0  # the default keeps room
    busts = {}
    for headroom in (1.0, 0.65, 0.4):
        driver = Lockstep([Cell(50.0, 50.0, 200)], 5)
        driver.run(TeacherRecorder(headroom, "full"))
        busts[headroom] = driver.results(record=False)[0].metrics["violation_rate"]
    assert busts[0.4] < busts[0.65] < busts[1.0]
    assert busts[0.65] < 0.07 < busts[1.0]


def test_old_runs_load_with_the_teacher_they_had():
    saved = {k: v for k, v in TrainConfig().to_dict().items() if k != "imitation_headroom"}
    assert TrainConfig.from_dict(saved).imitation_headroom == 1.0
