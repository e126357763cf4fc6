"""`loadwise router train`: train the load-aware router in a run folder that resumes.

The run folder holds `run.json` (the `TrainConfig`), `checkpoints/` (the latest and one
per epoch, `rl.checkpoint`), `history.json` (one log line per epoch) and, unless turned
off, `telemetry/epoch-NNNN/` (role-step telemetry the audit reads). Every epoch is kept
as it finishes; pointing the same command at the folder again continues from the last
finished epoch, bit for bit as an uninterrupted run (`rl.train`), and refuses a
different configuration (only the number of epochs may change).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from loadwise.app.progress import make_progress
from loadwise.app.rundir import new_run_dir, read_run_info, write_run_info
from loadwise.errors import ConfigError
from loadwise.files import read_json, write_json
from loadwise.report.format import number, signed
from loadwise.report.training import training_report
from loadwise.rl import checkpoint
from loadwise.rl.config import TrainConfig
from loadwise.rl.train import Trainer
from loadwise.systems.agentserve import telemetry

RUN_KIND = "router-train"
HISTORY_FILE = "history.json"


@dataclass
class TrainRun:
    """A training run folder and the trainer that filled it."""

    run_dir: Path
    trainer: Trainer

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.trainer.history

    @property
    def epochs_done(self) -> int:
        return self.trainer.epochs_done


def train_router(config: TrainConfig, out: str | Path | None = None, progress: bool = True,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> TrainRun:
    """Train (or resume training in `out`) until `config.epochs` epochs are done."""
    run_dir = new_run_dir(RUN_KIND, out)
    latest = run_dir / "checkpoints" / checkpoint.LATEST
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest and keeps runs reproducible
    try:
        try:
            trainer = Trainer.create(config, checkpoint.load(latest) if latest.is_file() else None)
        except ConfigError as exc:
            if exc.field != "out":
                raise
            raise ConfigError("out", f"{run_dir} {exc.problem}") from None  # say which folder
        write_run_info(run_dir, RUN_KIND, config.to_dict())
        sampling = config.cell_sampling()
        with make_progress(disable=not progress) as bar:
            task = bar.add_task("train", total=config.epochs, completed=trainer.epochs_done,
                                info=summary_info(trainer.history[-1]) if trainer.history else "")
            inner = bar.add_task("epoch", total=1, info="")
            while trainer.epochs_done < config.epochs:
                epoch = trainer.epochs_done
                total = sum(c.workflows for c in sampling.epoch_cells(epoch))
                bar.reset(inner, total=total, description=f"epoch {epoch}")
                result = trainer.run_epoch(lambda done, _total: bar.update(inner, completed=done))
                if result.steps is not None:
                    telemetry.write(run_dir / "telemetry" / f"epoch-{epoch:04d}", result.steps, result.workflows)
                checkpoint.save(run_dir / "checkpoints", trainer.epochs_done, trainer.state())
                write_json(run_dir / HISTORY_FILE, trainer.history)
                bar.update(task, advance=1, info=summary_info(result.line))
                if on_epoch is not None:
                    on_epoch(result.line)
    finally:
        torch.set_num_threads(threads)
    render(run_dir)
    return TrainRun(run_dir, trainer)


def render(run_dir: str | Path) -> dict[str, Path]:
    """Write the training report from the folder's `history.json` and `run.json` (epochs trained so far)."""
    run_dir = Path(run_dir)
    config = read_run_info(run_dir, RUN_KIND)["config"]
    history = read_json(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).is_file() else []
    return training_report(history, config, int(config["epochs"])).write(run_dir)


def summary_info(line: dict[str, Any]) -> str:
    """The progress bar's live figures: reward, cost, λ and violation per tier."""
    lam = np.asarray(line["lambda"])
    n_tiers = len(line["violation_per_tier"])
    if len(lam) > n_tiers:  # one λ per cell (rate-major): show each tier's largest
        lam = lam.reshape(-1, n_tiers).max(axis=0)
    lam_text = number(lam[0]) if len(lam) == 1 else "/".join(number(v) for v in lam)
    viol = " ".join(f"{b}:{signed(v, 2)}" for b, v in line["violation_per_tier"].items() if v is not None)
    return (f"reward {number(line['reward'], 4)}  cost {number(line['cost'], 4)}  goodput {number(line['goodput'], 4)}  "
            f"λ {lam_text}  viol {viol}")
