"""The robust tuner: Optuna ask/tell over fidelity stages, racing, CRN, RDB storage, resume.

Each fidelity stage is its own Optuna study (`<name>.stage<k>`) in one RDB storage, so
a sampler and a best value only ever see values of one scenario set at one simulation
length. When a stage begins, the best configs of the previous stage are enqueued first
(promotion); the reported best always comes from the last stage, which is the full set at
full length. If a study ends before reaching it, the best configs are promoted into it
and evaluated there before anything is reported.

Dropped challengers (racing) are told to Optuna as pruned with their partial estimate
as the intermediate value, so samplers treat them as bad without mixing their partial
values with complete ones.

The search proceeds in rounds whose size does not depend on the number of workers
(`TuneSettings.parallel_trials`, `round_width`), and takes results in the order it asked
for them, so a tune is a function of its seed: the same trials, runs and answer with one
worker or many. Every finished run is in the run cache (same database), so after a
kill -9 or Ctrl-C a resume replays the search from its first trial, answering every
finished run from the cache, and goes on as if it had not been interrupted. Processes
sharing a study keep their running trials alive with heartbeats; a trial whose process
died is failed and asked again.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import TrialState

from loadwise.errors import ConfigError
from loadwise.evaluate import Evaluator, RunCache
from loadwise.evaluate.cache import check_storage_url, database_url, engine_options
from loadwise.evaluate.runs import RunResult, RunSpec, canonical
from loadwise.params import resolve
from loadwise.scenarios import FidelitySchedule, ScenarioSet
from loadwise.systems.base import Objective, System, family, get_objective, identity
from loadwise.tuning.aggregate import Aggregate
from loadwise.tuning.constraints import Constraint, parse_constraints
from loadwise.tuning.progress import OnProgress
from loadwise.tuning.racing import ConfigEvaluation, StageData, StagePlan
from loadwise.tuning.space import search_distributions

# Default absolute CI tolerances (objective units) for the built-in systems' objectives.
DEFAULT_CI_TOL = {
    ("submitqueue", "default"): 15.0,  # developer-hours per 1000 changes; a run's sd is ~2-60 by scenario
    ("submitqueue", "classic"): 3000.0,  # the published classic score: about -40,000 to -60,000 over sq-weighted5
    ("synthetic", "cost"): 0.25,
    ("synthetic", "score"): 0.25,
    ("agentserve", "goodput"): 0.02,  # share of workflows; a 200-workflow cell's sd is ~0.03
    ("agentserve", "accuracy"): 0.02,
    ("agentserve", "violation_rate"): 0.02,
    ("mergequeue", "default"): 25.0,  # developer-hours per 1000 pull requests; a week's sd is ~10-300 by scenario
}
ACTIVE = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S = 2  # how often a running trial says it is alive
STALE_AFTER_S = 10  # a running trial silent this long belongs to a process that died
SAMPLERS = ("tpe", "random")
SCENARIO_ORDERS = ("information", "weight")


@dataclass
class TuneSettings:
    """Everything that defines a tuning run; saved in run.json so resume uses the same."""

    system: str
    scenarios: str
    trials: int
    fidelity: str = "short"
    early_fidelity: float = 1.0
    aggregate: str = "mean"
    objective: str | None = None
    constraints: list[str] = field(default_factory=list)
    sampler: str = "tpe"
    seed: int = 0
    storage: str | None = None
    study_name: str = "loadwise"
    min_replicates: int = 1
    max_replicates: int = 3
    ci_tol: float | None = None
    racing: bool = True
    delta: float = 0.05
    promote: int = 3
    scenario_order: str = "information"
    budget: float | None = None
    timeout: float | None = None
    # The search proceeds in rounds: up to `parallel_trials` trials are evaluated together,
    # each round asks for at most `round_width` runs (round-robin over those trials), runs
    # them all, then takes their results in request order. Neither depends on the number of
    # workers, so a tune is a function of its seed alone, whatever runs it.
    parallel_trials: int = 2
    round_width: int = 4


@dataclass
class TrialRecord:
    number: int  # 1-based over the whole tune
    stage: int
    config: dict[str, Any]
    state: str  # complete | dropped
    value: float
    ci: float
    scenario_means: dict[str, float]
    replicates: dict[str, int]
    note: str = ""


def check_settings(settings: TuneSettings, system: System) -> None:
    """Raise ConfigError for any setting a Tuner would reject.

    It touches no storage and starts nothing, so the application can check a tune
    before it creates a run folder.
    """
    get_objective(system, settings.objective)
    Aggregate.parse(settings.aggregate)
    parse_constraints(settings.constraints)
    search_distributions(system)
    if settings.sampler not in SAMPLERS:
        raise ConfigError("sampler", f"{settings.sampler!r} is not allowed (one of {', '.join(SAMPLERS)})")
    if settings.scenario_order not in SCENARIO_ORDERS:
        raise ConfigError("scenario_order", f"{settings.scenario_order!r} is not allowed "
                                            f"(one of {', '.join(SCENARIO_ORDERS)})")
    if settings.storage is not None:
        check_storage_url(settings.storage)
    if settings.min_replicates < 1 or settings.max_replicates < settings.min_replicates:
        raise ConfigError("min_replicates", "need 1 <= min_replicates <= max_replicates")
    for name in ("parallel_trials", "round_width"):
        if getattr(settings, name) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(settings, name)}")


class Tuner:
    """One tuning run on one RDB storage: its stage studies and run cache; `run()` searches.

    The storage URL is the only place it writes: Optuna's tables and the run cache.
    """

    def __init__(self, settings: TuneSettings, storage_url: str, system: System, scenario_set: ScenarioSet,
                 schedule: FidelitySchedule, replay: bool = False) -> None:
        check_settings(settings, system)
        self.settings = s = settings
        self.system = system
        self.objective: Objective = get_objective(system, s.objective)
        self.scenario_set = scenario_set.checked(system.scenario_params)
        self.schedule = schedule.checked(self.scenario_set)
        self.aggregate = Aggregate.parse(s.aggregate)
        self.constraints: list[Constraint] = parse_constraints(s.constraints)
        self.space = search_distributions(system)
        self.storage_url = storage_url
        self.storage = _open_storage(storage_url)
        self.cache = RunCache(storage_url, s.study_name, identity(system))
        if replay:
            self._forget_trials()
        self.plans = [
            StagePlan(k, self.scenario_set.subset(st.scenarios), st.fidelity, s.seed, self.objective,
                      self.aggregate, s.min_replicates, s.max_replicates, s.ci_tol,
                      s.racing, s.delta, s.scenario_order)
            for k, st in enumerate(self.schedule.stages)
        ]
        self.studies = [self._study(k) for k in range(len(self.plans))]
        self.data = [StageData(p) for p in self.plans]
        self.records: list[TrialRecord] = []
        self.evaluator: Evaluator | None = None  # the one `run` was given
        self.on_progress: OnProgress | None = None
        self.total = settings.trials
        self.finalized_from: int | None = None  # set when the study stopped before its full-set stage
        self.seen: set[tuple[int, int]] = set()  # (stage, Optuna trial number) already taken in
        self.heartbeat = _Heartbeat(self.storage)

    # Optuna plumbing

    def _study(self, k: int) -> optuna.Study:
        s = self.settings
        if s.sampler == "random":
            sampler: optuna.samplers.BaseSampler = optuna.samplers.RandomSampler(seed=s.seed * 1000 + k)
        else:
            sampler = optuna.samplers.TPESampler(
                seed=s.seed * 1000 + k, multivariate=True, constant_liar=True,
                n_startup_trials=10 if k == 0 else max(1, s.promote),
            )
        direction = self.objective.direction
        return optuna.create_study(storage=self.storage, sampler=sampler, study_name=f"{s.study_name}.stage{k}",
                                   direction=direction, load_if_exists=True)

    def _asked(self) -> int:
        return sum(len(st.get_trials(deepcopy=False, states=ACTIVE)) for st in self.studies)

    def _forget_trials(self) -> None:
        """Delete this tune's stage studies: a resume replays the search from its first trial.

        The search is a function of its seed and of its runs' results, and every finished
        run is in the cache, so the replay takes the same trials as the interrupted run
        did (answering its runs from the cache) and goes on where it stopped, as if it had
        never been interrupted. Only a tune that owns its storage replays; one that shares
        a study with other processes joins it instead (`sync`, stale trials).
        """
        for k in range(len(self.schedule.stages)):
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=f"{self.settings.study_name}.stage{k}", storage=self.storage)

    def sync(self) -> None:
        """Take in finished trials this process has not seen (earlier runs, other processes on the storage).

        Their run values come from the shared run cache, so incumbents and the
        reported best cover every process's work.
        """
        for k, study in enumerate(self.studies):
            plan, data = self.plans[k], self.data[k]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
                if (k, t.number) in self.seen:
                    continue
                self.seen.add((k, t.number))
                config = resolve(self.system.knobs, t.params)
                for scenario, rep in t.user_attrs.get("cells", []):
                    hit = self.cache.get(plan.spec(config, (scenario, rep)), include_failed=True)
                    if hit is not None:
                        data.record(hit)
                if t.user_attrs.get("finalization"):  # a full-set evaluation after the study stopped early
                    self.finalized_from = t.user_attrs.get("promoted_from_stage")
                if t.state == TrialState.COMPLETE:
                    key = canonical(config)
                    data.configs.setdefault(key, dict(config))  # also when none of its runs is in the cache
                    data.completed[key] = t.value
                    data.feasible[key] = all(c <= 0 for c in t.user_attrs.get("constraints", []))
                self.records.append(_record_from_trial(t, k, config))
            data.incumbent = data.best_key()
        self.records.sort(key=lambda r: r.number)

    def _promote(self, k: int, src: int, **attrs: Any) -> None:
        """Enqueue the best configs of stage `src` as the first trials of stage k (feasible first)."""
        done = list(self.studies[src].get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        sign = self.plans[src].loss_sign
        done.sort(key=lambda t: (any(c > 0 for c in t.user_attrs.get("constraints", [])), sign * t.value))
        for t in done[: self.settings.promote]:
            self.studies[k].enqueue_trial(t.params, user_attrs={"promoted_from_stage": src, **attrs})

    # the loop

    def run(self, evaluator: Evaluator, on_progress: OnProgress | None = None) -> list[TrialRecord]:
        """Run trials on `evaluator` until `trials` (or the budget) is reached; returns every finished trial.

        The caller owns the evaluator: it goes on to validation and slices with the
        same workers, and the caller closes it.
        """
        self.evaluator, self.on_progress = evaluator, on_progress
        self.sync()
        self.total = self.settings.trials
        self._report_progress()
        with self.heartbeat:
            self._loop(self.settings.trials)
            self._drain()
            if not self.studies[-1].get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                self._finalize()
        self.sync()
        self._report_progress()
        return self.records

    def _loop(self, trials: int, only_stage: int | None = None) -> None:
        """Rounds until no trial is left: start trials, ask their runs, run them all, take the results.

        Results are taken in the order the runs were asked for, never in the order they
        finish, and a trial is told to Optuna in trial order, so racing, replication and
        the samplers see the same sequence with one worker or many.
        """
        active: list[ConfigEvaluation] = []
        stage_of: dict[int, int] = {}
        while True:
            while len(active) < self.settings.parallel_trials:
                started = self._start_trial(active, stage_of, trials, only_stage)
                if started is None:
                    break
                active.append(started)
            if not active:
                return
            specs = self._round(active)
            if specs:
                results = self.evaluator.run_all(specs)
                for spec in specs:
                    self._deliver(results[spec.key], active, stage_of)
            for e in [e for e in active if e.status != "running" and not e.waiting]:
                active.remove(e)
                self._finish(e, stage_of.pop(id(e)))
            self._report_progress()

    def _round(self, active: list[ConfigEvaluation]) -> list[RunSpec]:
        """The runs of one round: the active trials' next runs, round-robin in trial order, distinct."""
        specs: dict[str, RunSpec] = {}
        wanting = list(active)
        while wanting and len(specs) < self.settings.round_width:
            for e in list(wanting):
                if len(specs) >= self.settings.round_width:
                    break
                spec = e.next_spec()
                if spec is None:
                    wanting.remove(e)
                else:
                    specs.setdefault(spec.key, spec)
        return list(specs.values())

    def _start_trial(self, active: list[ConfigEvaluation], stage_of: dict[int, int], trials: int,
                     only_stage: int | None) -> ConfigEvaluation | None:
        if only_stage is None:
            number = self._asked() + 1
            if number > trials or self._over_budget():
                return None
            k = self.schedule.stage_index(number)
        else:
            k = only_stage
            if not any(t.state == TrialState.WAITING for t in self.studies[k].get_trials(deepcopy=False)):
                return None
        if any(stage_of[id(e)] != k for e in active):
            return None  # a stage starts once the previous one has finished (promotion needs its results)
        self._fail_stale_trials()
        self.sync()
        if k > 0 and only_stage is None and not self.studies[k].get_trials(deepcopy=False):
            self._promote(k, k - 1)
        with warnings.catch_warnings():  # heartbeats are recorded by `_Heartbeat`, not by Study.optimize
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = self.studies[k].ask(self.space)
        self.heartbeat.add(trial._trial_id)
        config = resolve(self.system.knobs, trial.params)
        trial.set_user_attr("number", self._asked())
        evaluation = ConfigEvaluation(self.data[k], config, trial)
        stage_of[id(evaluation)] = k
        return evaluation

    def _over_budget(self) -> bool:
        budget = self.settings.budget
        return budget is not None and self.evaluator.executed_cost >= budget

    def _deliver(self, result: RunResult, active: list[ConfigEvaluation], stage_of: dict[int, int]) -> None:
        for e in active:
            if e.wants(result.spec.key):
                self.data[stage_of[id(e)]].record(result)
        for e in active:
            if e.wants(result.spec.key):
                e.on_result(result)

    def _drain(self) -> None:
        """Wait for other processes' running trials: each finishes, or its process died and it
        is failed and asked again here, so a shared study never ends with a trial left running."""
        while any(self.studies[k].get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                  for k in range(len(self.studies))):
            time.sleep(HEARTBEAT_S / 2)
            self._fail_stale_trials()
            for k, study in enumerate(self.studies):
                if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    self._loop(trials=10**9, only_stage=k)

    def _fail_stale_trials(self) -> None:
        """Trials of processes that died (no heartbeat for STALE_AFTER_S) are failed and asked again."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for study in self.studies:
                optuna.storages.fail_stale_trials(study)

    def _finish(self, e: ConfigEvaluation, k: int) -> None:
        data, study, trial = self.data[k], self.studies[k], e.trial
        self.heartbeat.discard(trial._trial_id)
        self.seen.add((k, trial.number))
        cells = sorted(data.values[e.key])
        trial.set_user_attr("cells", [list(c) for c in cells])
        trial.set_user_attr("stage", k)
        constraint_values = self._constraint_values(data, e.key)
        trial.set_user_attr("constraints", constraint_values)
        for c, v in zip(self.constraints, constraint_values):
            trial.set_constraint(str(c), v)  # Optuna 5: samplers read constraints from the trial
        by = data.scenario_means(e.key)
        means = {s: float(sum(v) / len(v)) for s, v in by.items()}
        trial.set_user_attr("scenario_means", means)
        number = trial.user_attrs["number"]
        if e.status == "complete":
            trial.set_user_attr("ci", e.ci if math.isfinite(e.ci) else None)
            study.tell(trial, e.value)
            data.completed[e.key] = e.value
            data.feasible[e.key] = all(c <= 0 for c in constraint_values)
            data.incumbent = data.best_key()
            state, value = "complete", e.value
        else:
            estimate = e.partial_estimate()
            if math.isfinite(estimate):
                trial.report(estimate, step=len(cells))
            trial.set_user_attr("dropped", e.drop_reason)
            study.tell(trial, state=TrialState.PRUNED)
            state, value = "dropped", estimate
        self.records.append(TrialRecord(number, k, e.config, state, value, e.ci, means,
                                        {s: len(v) for s, v in by.items()}, e.drop_reason))

    def _constraint_values(self, data: StageData, key: str) -> list[float]:
        weights = data.plan.scenarios.weights
        return [c.violation(data.metrics[key], weights) for c in self.constraints]

    def _finalize(self) -> None:
        """The study stopped before its last stage: evaluate the best configs found on the full set."""
        last = len(self.studies) - 1
        reached = [k for k, st in enumerate(self.studies) if st.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if not reached:
            return
        self._promote(last, reached[-1], finalization=True)
        self.finalized_from = reached[-1]
        self.total += self.settings.promote
        self._loop(trials=10**9, only_stage=last)

    def _report_progress(self) -> None:
        if self.on_progress is None:
            return
        ev = self.evaluator
        best = self.best()
        best_text = f"best {best[1]:.5g} (full set)" if best else "best: none on the full set yet"
        self.on_progress(len(self.records), self.total, f"sims {ev.executed} run + {ev.reused} cached · {best_text}")

    # results

    def best(self) -> tuple[dict[str, Any], float, float] | None:
        """(config, value, CI half-width) of the best complete trial of the last (full-set) stage."""
        data = self.data[-1]
        key = data.best_key()
        if key is None:
            return None
        ci = next((r.ci for r in reversed(self.records) if r.stage == len(self.data) - 1
                   and canonical(r.config) == key), math.nan)
        return data.configs[key], data.completed[key], ci

    def top(self, k: int) -> list[dict[str, Any]]:
        """The k best complete configs of the full-set stage (feasible first)."""
        data = self.data[-1]
        sign = self.plans[-1].loss_sign
        keys = sorted(data.completed, key=lambda c: (not data.feasible.get(c, True), sign * data.completed[c]))
        return [data.configs[c] for c in keys[:k]]

    def stage_best(self, k: int) -> dict[str, Any] | None:
        key = self.data[k].best_key()
        return self.data[k].configs[key] if key else None


def _record_from_trial(t: optuna.trial.FrozenTrial, k: int, config: dict[str, Any]) -> TrialRecord:
    """A finished trial of an earlier process, as this process would have recorded it."""
    means = t.user_attrs.get("scenario_means", {})
    cells = t.user_attrs.get("cells", [])
    reps = {s: sum(1 for c in cells if c[0] == s) for s in means}
    ci = t.user_attrs.get("ci")
    number = t.user_attrs.get("number", t.number + 1)
    if t.state == TrialState.COMPLETE:
        return TrialRecord(number, k, config, "complete", t.value, math.nan if ci is None else ci, means, reps)
    partial = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else math.nan
    return TrialRecord(number, k, config, "dropped", partial, math.nan, means, reps, t.user_attrs.get("dropped", ""))


class _Heartbeat:
    """Records, every HEARTBEAT_S, that this process's running trials are alive.

    Processes sharing a study fail a trial whose heartbeat is older than STALE_AFTER_S
    (its process died) and ask it again (`Tuner._fail_stale_trials`). Optuna records
    heartbeats itself only inside `Study.optimize`; the tuner asks and tells.
    """

    def __init__(self, storage: optuna.storages.RDBStorage) -> None:
        self.storage = storage
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.add(trial_id)
        self.storage.record_heartbeat(trial_id)

    def discard(self, trial_id: int) -> None:
        with self.lock:
            self.trial_ids.discard(trial_id)

    def _beat(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with self.lock:
                alive = list(self.trial_ids)
            for trial_id in alive:
                self.storage.record_heartbeat(trial_id)

    def __enter__(self) -> _Heartbeat:
        self.stop.clear()
        self.thread = threading.Thread(target=self._beat, name="loadwise-heartbeat", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _open_storage(url: str, attempts: int = 10) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage with heartbeats; retried because processes starting together race to create its tables."""
    url = database_url(url)
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_options(url), heartbeat_interval=HEARTBEAT_S,
                    grace_period=STALE_AFTER_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
        except sqlalchemy.exc.DBAPIError as exc:  # "table exists", duplicate schema version
            if attempt == attempts - 1:
                if isinstance(exc, sqlalchemy.exc.OperationalError):  # no server, no such file
                    raise ConfigError("storage", f"cannot open the database: {' '.join(str(exc.orig).split())}") from None
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def ci_tol_default(system: System, objective: Objective) -> float | None:
    return DEFAULT_CI_TOL.get((family(system), objective.name))

