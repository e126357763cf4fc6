"""`loadwise router train|eval|serve|loadtest`: train the load-aware router, compare it, serve it, load-test it."""

from __future__ import annotations

import json
import sys

import typer

from loadwise.report.format import number, percent

app = typer.Typer(help="Train the load-aware router (PPO-Lagrangian) and evaluate it.", no_args_is_help=True)


@app.command("train")
def train_command(
    rates: str = typer.Option(None, "--rates", help="Arrival rates, req/min (default 20,30,50,100,150,200)."),
    budgets: str = typer.Option(None, "--budgets", help="Budget tiers, s (default 10,50,200,600,1800)."),
    epochs: int = typer.Option(20, "--epochs", help="Training epochs (each visits the grid once)."),
    workflows: int = typer.Option(500, "--workflows", help="Workflows per cell and epoch."),
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
    imitation_teacher: str = typer.Option(None, "--imitation-teacher", help="Warm-start the networks by "
                                          "imitating this router's decisions before the first epoch, or none "
                                          "(default greedy with the learned planner, none with --planner reference)."),
    imitation_headroom: float = typer.Option(0.4, "--imitation-headroom", help="The greedy teacher's share of "
                                             "each step's budget allowance (below 1: room for queueing)."),
    entropy_decay_epochs: int = typer.Option(20, "--entropy-decay-epochs", help="The entropy bonus decays "
                                             "linearly to 0 over this many epochs (0: constant)."),
    seed: int = typer.Option(0, "--seed"),
    no_telemetry: bool = typer.Option(False, "--no-telemetry", help="Do not write role-step telemetry."),
    out: str = typer.Option(None, "--out", help="Run folder (an existing one resumes)."),
) -> None:
    """Train the router; checkpoints every epoch, resumes from --out."""
    from loadwise.app.progress import console
    from loadwise.app.train_router import train_router
    from loadwise.cli.options import number_list, weight_list
    from loadwise.rl.config import TrainConfig
    from loadwise.scenarios.grid import RECOMMENDED_GRID

    if planner_congestion_price is None:  # the charge needs a learned plan to land on
        planner_congestion_price = 0.0 if planner == "reference" else TrainConfig.planner_congestion_price
    if imitation_teacher is None:  # the teacher's plans need a learned planner to imitate them
        imitation_teacher = "none" if planner == "reference" else TrainConfig.imitation_teacher
    config = TrainConfig(
        rates=tuple(sorted(number_list(rates, "rates") or RECOMMENDED_GRID.rates)),
        budgets=tuple(sorted(number_list(budgets, "budgets") or RECOMMENDED_GRID.budgets)),
        workflows=workflows, sampling=sampling, weights=weight_list(weights, "weights"),
        curriculum_epochs=curriculum_epochs, epochs=epochs, constraint=constraint, reward=reward,
        lambda_init=lambda_init, lambda_lr=lambda_lr, warmup_epochs=warmup_epochs,
        lambda_scope=_lambda_scope(per_tier_lambda, shared_lambda),
        ppo_epochs=ppo_epochs, minibatch_size=minibatch_size, learning_rate=learning_rate, seed=seed,
        planner_congestion_price=planner_congestion_price,
        observation=observation, planner=planner, advantage_normalization=advantage_normalization,
        imitation_teacher=imitation_teacher, imitation_headroom=imitation_headroom,
        entropy_decay_epochs=entropy_decay_epochs, telemetry=not no_telemetry,
    )
    run = train_router(config, out)
    last = run.history[-1]
    console.print(f"trained {run.epochs_done} epochs: goodput {number(last['goodput'], 4)}, "
                  f"bust rate {number(last['bust_rate'], 4)}, accuracy {number(last['accuracy'], 4)}")
    console.print(f"run folder: {run.run_dir}  (checkpoint: {run.run_dir / 'checkpoints' / 'checkpoint.pt'})")


def _lambda_scope(per_tier: bool, shared: bool) -> str:
    from loadwise.errors import ConfigError

    if per_tier and shared:
        raise ConfigError("per_tier_lambda", "cannot be combined with --shared-lambda")
    return "tier" if per_tier else "shared" if shared else "cell"


@app.command("eval")
def eval_command(
    checkpoint: str = typer.Argument(..., help="A checkpoint file or a `router train` run folder."),
    rates: str = typer.Option(None, "--rates", help="Rates to evaluate (default: the training grid's)."),
    budgets: str = typer.Option(None, "--budgets", help="Budget tiers to evaluate (default: the training grid's)."),
    workflows: int = typer.Option(1000, "--workflows", help="Workflows per cell."),
    seeds: str = typer.Option("12345,777,2024", "--seeds", help="Evaluation seeds, comma-separated (the same "
                              "for every router); a cell's figures are means over them, its CI pools them."),
    baselines: str = typer.Option("all", "--baselines", help="Comma-separated baseline names, or all."),
    greedy: bool = typer.Option(False, "--greedy", help="Most likely action instead of sampling."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sample from the policy sharpened to this "
                                      "temperature (1: as trained)."),
    as_json: bool = typer.Option(False, "--json", help="Print every number as JSON."),
    out: str = typer.Option(None, "--out", help="Folder for the report (default: runs/router-eval-<time>)."),
) -> None:
    """Compare a trained router with every baseline and the clairvoyant oracle."""
    from loadwise.app.evaluate_router import evaluate_router
    from loadwise.app.progress import console, make_progress
    from loadwise.cli.options import number_list, seed_list
    from loadwise.rl.evaluate import ALL_BASELINES

    names = ALL_BASELINES if baselines == "all" else tuple(b.strip() for b in baselines.split(",") if b.strip())
    with make_progress(disable=as_json) as progress:
        task = progress.add_task("evaluate", total=len(names) + 2)
        done = evaluate_router(checkpoint, number_list(rates, "rates"), number_list(budgets, "budgets"), workflows,
                               seed_list(seeds, "seeds"), names, greedy, temperature, out,
                               on_router=lambda name: progress.update(task, advance=1, info=name))
    if as_json:
        typer.echo(json.dumps(done.result, default=float))
        return
    t = done.result["targets"]
    console.print(f"targets met in {t['cells_met_where_oracle_meets']} of the {t['cells_where_oracle_meets']} cells "
                  f"where the oracle meets the constraint; grid goodput {percent(t['grid_share_of_oracle_goodput'])} "
                  "of the oracle's")
    console.print(f"report: {done.report['markdown']} and {done.report['html']}")


def _announce(message: dict) -> None:
    """The ready line: one JSON object on standard output (scripts read the URLs from it)."""
    typer.echo(json.dumps(message), nl=True)
    sys.stdout.flush()


@app.command("serve")
def serve_command(
    checkpoint: str = typer.Argument(None, help="A trained checkpoint file or `router train` run folder."),
    router: str = typer.Option(None, "--router", help="Serve a baseline instead: fixed:MODEL:STRATEGY, random, "
                               "static-mix, least-loaded, quality-first or greedy (the default without a "
                               "checkpoint)."),
    backends: list[str] = typer.Option([], "--backend", help="MODEL=URL of an OpenAI-compatible server (vLLM, the "
                                      "emulator, ...); MODEL is a profiled name or size (3B). Repeat per model."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    profiles: str = typer.Option(None, "--profiles", help="Model profile file: strategies on the wire, latency "
                                 "predictions (default: shipped)."),
    speedup: float = typer.Option(1.0, "--speedup", help="How much faster than their profiles the backends run "
                                  "(an emulator's --speedup; 1 for real servers)."),
    default_budget: float = typer.Option(600.0, "--default-budget", help="Budget (s) of a request that gives none."),
    max_inflight: int = typer.Option(512, "--max-inflight", help="Requests in flight before new ones get 429."),
    poll_interval: float = typer.Option(0.05, "--poll-interval", help="Seconds between scrapes of each "
                                        "backend's /metrics (stale after 0.2 s)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the router's own random draws."),
) -> None:
    """Serve the router as an OpenAI-compatible gateway in front of the backends (Ctrl-C stops it gracefully)."""
    from loadwise.app.serve_gateway import serve_router

    serve_router(checkpoint, router, backends, port, host, profiles, speedup, default_budget, max_inflight,
                 poll_interval, seed, on_ready=_announce)


@app.command("loadtest")
def loadtest_command(
    gateway: str = typer.Option(..., "--gateway", help="Base URL of an OpenAI-compatible gateway."),
    rates: str = typer.Option("20,100,200", "--rates", help="Arrival rates, workflows/min, comma-separated."),
    budgets: str = typer.Option("10,50,600", "--budgets", help="Budgets, s, comma-separated."),
    workflows: int = typer.Option(300, "--workflows", help="Workflows per cell."),
    pattern: str = typer.Option("poisson", "--pattern", help="poisson, microburst or sustained."),
    seed: int = typer.Option(0, "--seed", help="Workload seed (the simulator's, for --compare-sim)."),
    speedup: float = typer.Option(None, "--speedup", help="Servers' speedup over their profiles (default: the "
                                  "gateway's)."),
    discipline: str = typer.Option("fcfs", "--discipline", help="The servers' waiting-line order (fcfs or edf), "
                                   "for --compare-sim."),
    stream: bool = typer.Option(False, "--stream", help="Stream every answer (and measure time to first token)."),
    planner: str = typer.Option("gateway", "--planner", help="gateway (its planner) or reference (the "
                                "reference's fixed plan, for a gateway without one)."),
    compare_sim: bool = typer.Option(False, "--compare-sim", help="Also simulate the cells and report both."),
    sim_router: str = typer.Option(None, "--sim-router", help="Router of the simulation (default: the one the "
                                   "gateway serves)."),
    profiles: str = typer.Option(None, "--profiles", help="Model profile file (default: shipped)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds a call may take before it counts as failed."),
    as_json: bool = typer.Option(False, "--json", help="Print every number as JSON."),
    out: str = typer.Option(None, "--out", help="Run folder (default runs/router-loadtest-<time>); an existing "
                            "one resumes."),
) -> None:
    """Drive the simulator's workflows through a gateway; print router eval's per-cell tables."""
    from loadwise.app.loadtest import loadtest
    from loadwise.app.progress import console
    from loadwise.cli.options import number_list
    from loadwise.systems.agentserve.routing import model_size

    result = loadtest(gateway, number_list(rates, "rates") or (), number_list(budgets, "budgets") or (), workflows,
                      pattern, seed, out, speedup, discipline, stream, planner, compare_sim, sim_router, profiles,
                      timeout, progress=not as_json)
    if as_json:
        typer.echo(json.dumps({"cells": result.cells.to_dict(orient="records"),
                               "comparison": None if result.comparison is None
                               else result.comparison.to_dict(orient="records"),
                               "pooled": result.pooled, "run_dir": str(result.run_dir)}, default=float))
        return
    shown = result.cells[["rate", "budget", "goodput", "accuracy", "violation_rate", "mean_latency", "p95_latency",
                          "errors"]]
    console.print(shown.to_string(index=False, float_format=number), highlight=False)
    for prefix in ("model", "strategy"):
        cols = [c for c in result.cells.columns if c.startswith(prefix + ":")]
        mix = result.cells[["rate", "budget", *cols]].rename(columns=lambda c: model_size(c.split(":", 1)[-1]))
        console.print(f"{prefix} mix (share of role steps)", highlight=False)
        console.print(mix.to_string(index=False, float_format=number), highlight=False)
    if result.comparison is not None:
        cols = ["rate", "budget", "goodput_sim", "goodput_real", "goodput_difference", "goodput_ci_low",
                "goodput_ci_high", "latency_sim", "latency_real", "latency_relative_difference", "agrees"]
        console.print("live vs simulated", highlight=False)
        console.print(result.comparison[cols].to_string(index=False, float_format=number),
                      highlight=False)
    console.print(f"run folder: {result.run_dir}  (report: {result.report['html']})", highlight=False)
