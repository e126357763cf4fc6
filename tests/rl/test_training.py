"""Training on the serving simulator: resume, run folder, telemetry, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from loadwise.app.train_router import train_router as train
from loadwise.errors import ConfigError
from loadwise.rl.config import TrainConfig

SMALL = dict(rates=(20.0, 200.0), budgets=(10.0, 200.0), workflows=25, minibatch_size=256, learning_rate=3e-3)
TIMING = ("seconds", "rollout_seconds", "cpu_seconds")


def _strip(line):
    return {k: v for k, v in line.items() if k not in TIMING}


def test_resume_repeats_the_next_epoch_of_an_uninterrupted_run(tmp_path):
    straight = train(TrainConfig(epochs=3, telemetry=False, **SMALL), tmp_path / "a", progress=False)
    train(TrainConfig(epochs=2, telemetry=False, **SMALL), tmp_path / "b", progress=False)
    resumed = train(TrainConfig(epochs=3, telemetry=False, **SMALL), tmp_path / "b", progress=False)
    assert resumed.epochs_done == 3
    assert [_strip(x) for x in resumed.history] == [_strip(x) for x in straight.history]
    for a, b in zip(straight.trainer.executor.state_dict().values(), resumed.trainer.executor.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(straight.trainer.multipliers.values, resumed.trainer.multipliers.values)


def test_run_folder_holds_checkpoints_history_and_role_step_telemetry(tmp_path):
    from loadwise.systems.agentserve import telemetry

    trainer = train(TrainConfig(epochs=1, **SMALL), tmp_path / "run", progress=False)
    line = trainer.history[0]
    assert (tmp_path / "run" / "checkpoints" / "checkpoint.pt").is_file()
    assert (tmp_path / "run" / "checkpoints" / "epoch-0001.pt").is_file()
    assert json.loads((tmp_path / "run" / "history.json").read_text())[0]["epoch"] == 0
    tel = telemetry.load(tmp_path / "run" / "telemetry" / "epoch-0000")
    assert len(tel.steps) == line["role_steps"] and len(tel.workflows) == line["workflows"] == 4 * 25
    assert set(tel.steps["budget"]) == {10.0, 200.0} and set(tel.steps["rate"]) == {20.0, 200.0}
    assert set(line["violation_per_tier"]) == {"10", "200"} and len(line["lambda"]) == 4  # one per cell


def test_resuming_with_another_configuration_is_refused(tmp_path):
    train(TrainConfig(epochs=1, telemetry=False, **SMALL), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="^out: .* another configuration"):
        train(TrainConfig(epochs=2, telemetry=False, constraint="ratio:1", **SMALL), tmp_path / "r",
              progress=False)


@pytest.mark.parametrize("field, value, message", [
    ("reward", "accuracy", "^reward: 'accuracy'; allowed: goodput, solved, reference"),
    ("constraint", "bust:2", "^constraint: 'bust:2' has a limit out of range"),
    ("epochs", 0, "^epochs: must be at least 1"),
    ("sampling", "random", "^sampling: 'random'; allowed: uniform, weighted"),
    ("observation", "blind", "^observation: 'blind'; allowed: full, reference$"),
    ("planner", "fixed", "^planner: 'fixed'; allowed: learned, reference$"),
    ("advantage_normalization", "cell", "^advantage_normalization: 'cell'; allowed: tier, batch, none$"),
    ("planner_congestion_price", -0.01, "^planner_congestion_price: must be a finite number >= 0$"),
    ("planner_congestion_price", float("inf"), "^planner_congestion_price: must be a finite number >= 0$"),
    ("planner_congestion_price", float("nan"), "^planner_congestion_price: must be a finite number >= 0$"),
])
def test_bad_training_options_name_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{field: value})


def test_planner_congestion_price_trains_and_logs_plans_and_queues(tmp_path):
    from loadwise.systems.agentserve.routing import MAX_AGENTS

    line = train(TrainConfig(epochs=1, telemetry=False, planner_congestion_price=0.05, **SMALL), tmp_path / "p",
                 progress=False).history[0]
    assert 1.0 <= line["agents_per_plan"] <= MAX_AGENTS and line["waiting_per_call"] >= 0.0


def test_planner_congestion_price_needs_the_learned_planner():
    with pytest.raises(ConfigError, match="^planner_congestion_price: needs the learned planner"):
        TrainConfig(planner="reference", planner_congestion_price=0.01)


def test_plans_pay_the_congestion_price_by_default_but_not_in_old_runs_or_the_reference_setup(tmp_path, capsys):
    from loadwise.cli import main
    from loadwise.rl import checkpoint
    from loadwise.rl.config import REFERENCE_SETUP

    assert TrainConfig().planner_congestion_price == 0.01  # BENCHMARKS.md, router_training.py
    assert TrainConfig(**REFERENCE_SETUP).planner_congestion_price == 0.0
    saved = {k: v for k, v in TrainConfig().to_dict().items() if k != "planner_congestion_price"}
    assert TrainConfig.from_dict(saved).planner_congestion_price == 0.0  # trained before the option existed
    with pytest.raises(SystemExit) as exc:  # the CLI's default follows the planner
        main(["router", "train", "--planner", "reference", "--rates", "20", "--budgets", "200", "--workflows", "10",
              "--epochs", "1", "--no-telemetry", "--out", str(tmp_path / "ref")])
    assert exc.value.code == 0
    assert checkpoint.load(tmp_path / "ref")["config"]["planner_congestion_price"] == 0.0


def test_cli_train_then_eval_prints_every_number_as_json(tmp_path, capsys):
    from loadwise.cli import main

    run = tmp_path / "cli"
    with pytest.raises(SystemExit) as exc:
        main(["router", "train", "--rates", "20,200", "--budgets", "10,200", "--workflows", "15", "--epochs", "1",
              "--no-telemetry", "--out", str(run)])
    assert exc.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["router", "eval", str(run), "--workflows", "15", "--baselines", "greedy,random", "--json",
              "--out", str(tmp_path / "ev")])
    assert exc.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["routers"]) == {"ppo", "greedy", "random", "clairvoyant"}
    cells = result["routers"]["ppo"]["cells"]
    assert len(cells) == 4 and {"goodput", "accuracy", "violation_rate", "mean_latency"} <= set(cells[0])
    assert 0 <= result["routers"]["greedy"]["grid"]["goodput"] <= 1
    assert result["targets"]["cells_total"] == 4
    assert (tmp_path / "ev" / "report.md").is_file() and (tmp_path / "ev" / "pareto.png").is_file()
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "Table 1: mean workflow latency" in report and "Table 4: strategy selection" in report


def test_cli_bad_constraint_is_one_line_and_exit_2(tmp_path, capsys):
    from loadwise.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["router", "train", "--constraint", "p99:5", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --constraint: 'p99:5' is not a constraint") and "\n" not in err


def test_one_multiplier_per_cell_follows_each_cells_own_violation(tmp_path):
    config = TrainConfig(epochs=1, telemetry=False, lambda_scope="cell", lambda_init=0.5, lambda_lr=1.0,
                         imitation_teacher="none", **SMALL)
    trainer = train(config, tmp_path / "cell", progress=False)
    lam = np.asarray(trainer.history[0]["lambda"]).reshape(2, 2)  # rates × budgets
    # an untrained router busts 10 s budgets far more often at 200 req/min than at 20
    assert lam[1, 0] > lam[0, 0] > 0.5 - 0.05
    # at 200 s nothing busts at low load: λ falls by the limit, 0.05
    assert lam[0, 1] == pytest.approx(0.45)
