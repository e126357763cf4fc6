"""`loadwise router train` and `loadwise router eval`: train the load-aware router, compare it."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Train the load-aware router (PPO-Lagrangian) and evaluate it.", no_args_is_help=True)


@app.command("train")
def train_command(
    rates: str = typer.Option(None, "--rates", help="Arrival rates, req/min (default 20,30,50,100,150,200)."),
    budgets: str = typer.Option(None, "--budgets", help="Budget tiers, s (default 10,50,200,600,1800)."),
    epochs: int = typer.Option(30, "--epochs", help="Training epochs (each visits the grid once)."),
    workflows: int = typer.Option(1000, "--workflows", help="Workflows per cell and epoch."),
    lambda_init: float = typer.Option(0.2, "--lambda-init", help="Initial Lagrange multiplier."),
    lambda_lr: float = typer.Option(1.0, "--lambda-lr", help="Step size of the multiplier's ascent."),
    warmup_epochs: int = typer.Option(0, "--warmup-epochs", help="Epochs with λ held at 0."),
    ppo_epochs: int = typer.Option(3, "--ppo-epochs", help="PPO passes over each epoch's decisions."),
    constraint: str = typer.Option("bust:0.05", "--constraint", help="bust:EPS (P(L>B) ≤ EPS) or ratio:C (E[L/B] ≤ C)."),
    per_tier_lambda: bool = typer.Option(False, "--per-tier-lambda",
                                         help="One multiplier per budget tier (default: one per (rate, budget) cell)."),
    shared_lambda: bool = typer.Option(False, "--shared-lambda", help="One multiplier for the whole grid "
                                       "(the reference's choice)."),
    reward: str = typer.Option("goodput", "--reward", help="goodput (solved within budget), solved, or reference "
                               "(solved − max(0, L/B − 1); the reference system's policy collapsed with it)."),
    observation: str = typer.Option("full", "--observation", help="What the executor sees: full, or reference "
                                    "(the reference's budget-blind inputs: no budget, latencies in seconds). The reference's whole setup: "
                                    "--reward reference --constraint ratio:1 --shared-lambda --observation reference "
                                    "--planner reference --advantage-normalization batch."),
    planner: str = typer.Option("learned", "--planner", help="learned (a trained planner network that sees the "
                                "budget) or reference (the reference's fixed budget-blind plan)."),
    advantage_normalization: str = typer.Option("tier", "--advantage-normalization", help="Advantages "
                                                "standardized per budget tier, over the whole batch, or none."),
    sampling: str = typer.Option("uniform", "--sampling", help="uniform or weighted cell sampling."),
    weights: str = typer.Option(None, "--weights", help="Weighted sampling: one weight per cell, rate-major."),
    curriculum_epochs: int = typer.Option(0, "--curriculum-epochs", help="Epochs of easy-to-hard curriculum."),
    learning_rate: float = typer.Option(3e-3, "--learning-rate", help="Adam step size."),
    minibatch_size: int = typer.Option(1024, "--minibatch-size", help="Decisions per gradient step."),
    planner_congestion_price: float = typer.Option(
        None, "--planner-congestion-price", help="Charge each plan this price × Σ over its calls of the calls "
        "waiting at the chosen server / max_num_seqs: plans pay for the queueing they cause the other "
        "workflows (the executor is not charged). Default 0.01 with the learned planner, 0 with --planner "
        "reference."),
    seed: int = typer.Option(0, "--seed"),
    no_telemetry: bool = typer.Option(False, "--no-telemetry", help="Do not write role-step telemetry."),
    out: str = typer.Option(None, "--out", help="Run folder (an existing one resumes)."),
) -> None:
    """Train the router; checkpoints every epoch, resumes from --out."""
    from loadwise.app.progress import console
    from loadwise.rl.grid import DEFAULT_BUDGETS, DEFAULT_RATES, parse_numbers, parse_weights
    from loadwise.rl.train import TrainConfig, train

    if planner_congestion_price is None:  # the charge needs a learned plan to land on
        planner_congestion_price = 0.0 if planner == "reference" else TrainConfig.planner_congestion_price
    config = TrainConfig(
        rates=parse_numbers(rates, "--rates", DEFAULT_RATES), budgets=parse_numbers(budgets, "--budgets", DEFAULT_BUDGETS),
        workflows=workflows, sampling=sampling,
        weights=parse_weights(weights) if weights else None,
        curriculum_epochs=curriculum_epochs, epochs=epochs, constraint=constraint, reward=reward,
        lambda_init=lambda_init, lambda_lr=lambda_lr, warmup_epochs=warmup_epochs,
        lambda_scope=_lambda_scope(per_tier_lambda, shared_lambda),
        ppo_epochs=ppo_epochs, minibatch_size=minibatch_size, learning_rate=learning_rate, seed=seed,
        planner_congestion_price=planner_congestion_price,
        observation=observation, planner=planner, advantage_normalization=advantage_normalization,
        telemetry=not no_telemetry,
    )
    trainer = train(config, out)
    last = trainer.history[-1]
    console.print(f"trained {trainer.epochs_done} epochs: goodput {last['goodput']:.3f}, "
                  f"bust rate {last['bust_rate']:.3f}, accuracy {last['accuracy']:.3f}")
    console.print(f"run folder: {trainer.run_dir}  (checkpoint: {trainer.run_dir / 'checkpoints' / 'checkpoint.pt'})")


def _lambda_scope(per_tier: bool, shared: bool) -> str:
    from loadwise.errors import ConfigError

    if per_tier and shared:
        raise ConfigError("--per-tier-lambda", "cannot be combined with --shared-lambda")
    return "tier" if per_tier else "shared" if shared else "cell"


@app.command("eval")
def eval_command(
    checkpoint: str = typer.Argument(..., help="A checkpoint file or a `router train` run folder."),
    rates: str = typer.Option(None, "--rates", help="Rates to evaluate (default: the training grid's)."),
    budgets: str = typer.Option(None, "--budgets", help="Budget tiers to evaluate (default: the training grid's)."),
    workflows: int = typer.Option(1000, "--workflows", help="Workflows per cell."),
    seed: int = typer.Option(12345, "--seed", help="Evaluation seed (the same for every router)."),
    baselines: str = typer.Option("all", "--baselines", help="Comma-separated baseline names, or all."),
    greedy: bool = typer.Option(False, "--greedy", help="Most likely action instead of sampling."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sample from the policy sharpened to this "
                                      "temperature (1: as trained)."),
    as_json: bool = typer.Option(False, "--json", help="Print every number as JSON."),
    out: str = typer.Option(None, "--out", help="Folder for the report (default: runs/router-eval-<time>)."),
) -> None:
    """Compare a trained router with every baseline and the clairvoyant oracle."""
    from loadwise.app.progress import console, make_progress
    from loadwise.rl.evaluate import ALL_BASELINES, evaluate_checkpoint
    from loadwise.rl.report import build_report
    from loadwise.app.rundir import new_run_dir, write_run_info
    from loadwise.files import write_json
    from loadwise.systems.agentserve import make_router
    from loadwise.rl.grid import parse_numbers

    names = ALL_BASELINES if baselines == "all" else tuple(b.strip() for b in baselines.split(",") if b.strip())
    for name in names:
        make_router(name)  # a bad name is a ConfigError before any work
    rate_values = parse_numbers(rates, "--rates", ()) or None
    budget_values = parse_numbers(budgets, "--budgets", ()) or None
    with make_progress(disable=as_json) as progress:
        task = progress.add_task("evaluate", total=len(names) + 2)
        ev = evaluate_checkpoint(checkpoint, rate_values, budget_values, workflows, seed, names, greedy,
                                 on_router=lambda name: progress.update(task, advance=1, info=name),
                                 temperature=temperature)
    run_dir = new_run_dir("router-eval", out)
    write_run_info(run_dir, "router-eval", {"checkpoint": checkpoint, "rates": rate_values, "budgets": budget_values,
                                            "workflows": workflows, "seed": seed, "baselines": list(names),
                                            "greedy": greedy, "temperature": temperature})
    result = ev.to_json()
    write_json(run_dir / "evaluation.json", result)
    ev.cells.to_csv(run_dir / "cells.csv", index=False)
    paths = build_report(ev).write(run_dir)
    if as_json:
        typer.echo(json.dumps(result, default=float))
        return
    t = result["targets"]
    console.print(f"targets met in {t['cells_met_where_oracle_meets']} of the {t['cells_where_oracle_meets']} cells "
                  f"where the oracle meets the constraint; grid goodput {t['grid_share_of_oracle_goodput']:.1%} "
                  "of the oracle's")
    console.print(f"report: {paths['markdown']} and {paths['html']}")
