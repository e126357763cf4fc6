"""Progressive fidelity: cheap evaluations early in a study, the full set near the end.

A schedule is a list of stages, each starting at a trial number, with a scenario subset
and a simulation length (fidelity in (0, 1]). Values from different stages are
different objectives, so the tuner keeps one Optuna study per stage and never compares
them (see `loadwise.tuning`); the last stage must be the full set at full length, so the
reported best is always a full-set value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadwise.errors import ConfigError
from loadwise.scenarios.scenario import ScenarioSet


@dataclass(frozen=True)
class Stage:
    first_trial: int  # 1-based trial number at which the stage starts
    scenarios: tuple[str, ...]
    fidelity: float = 1.0

    def label(self) -> str:
        names = "+".join(self.scenarios)
        length = "" if self.fidelity == 1.0 else f" @{self.fidelity:g}"
        return f"trials {self.first_trial}+: {names}{length}"


@dataclass(frozen=True)
class FidelitySchedule:
    stages: tuple[Stage, ...]
    name: str = "custom"

    def stage_index(self, trial_number: int) -> int:
        """The stage of 1-based trial `trial_number`."""
        index = 0
        for i, stage in enumerate(self.stages):
            if trial_number >= stage.first_trial:
                index = i
        return index

    def checked(self, scenario_set: ScenarioSet) -> FidelitySchedule:
        """Stages must start at trial 1, increase, name known scenarios, and end on the full set."""
        if not self.stages or self.stages[0].first_trial != 1:
            raise ConfigError("fidelity", "the first stage must start at trial 1")
        for a, b in zip(self.stages, self.stages[1:]):
            if b.first_trial <= a.first_trial:
                raise ConfigError("fidelity", "stages must start at increasing trial numbers")
        for stage in self.stages:
            for name in stage.scenarios:
                scenario_set[name]  # raises ConfigError naming the allowed scenarios
            if not 0 < stage.fidelity <= 1:
                raise ConfigError("fidelity", f"stage fidelity must be in (0, 1], got {stage.fidelity}")
        last = self.stages[-1]
        if set(last.scenarios) != set(scenario_set.names) or last.fidelity != 1.0:
            raise ConfigError("fidelity", "the last stage must evaluate every scenario at fidelity 1")
        return self


def single_stage(scenario_set: ScenarioSet) -> FidelitySchedule:
    """No progressive fidelity: every trial on the full set."""
    return FidelitySchedule((Stage(1, tuple(scenario_set.names)),), name="none")


def staged_schedule(scenario_set: ScenarioSet, early_fidelity: float = 1.0) -> FidelitySchedule:
    """Trials 1–10 on the heaviest scenario, 11–25 on the two heaviest, 26+ on all.

    This is the schedule of the scenario-weighting study; on the submit queue's five
    weighted scenarios it is normal / normal+spike / all five. The early stages may use
    shorter simulations (`early_fidelity`); the last is always full.
    """
    order = scenario_set.by_weight()
    stages: list[Stage] = []
    if len(order) > 1:
        stages.append(Stage(1, (order[0],), early_fidelity))
    if len(order) > 2:
        stages.append(Stage(11, tuple(order[:2]), early_fidelity))
    first_full = 26 if len(order) > 2 else (11 if len(order) == 2 else 1)
    stages.append(Stage(first_full, tuple(scenario_set.names), 1.0))
    return FidelitySchedule(tuple(stages), name="staged")


SCHEDULES = ("staged", "short", "none")
# alias -> schedule: the name the staged schedule had when it was named after the study's document
SCHEDULE_ALIASES = {"seed": "staged"}


def make_schedule(spec: str | FidelitySchedule | None, scenario_set: ScenarioSet,
                  early_fidelity: float = 1.0) -> FidelitySchedule:
    """A schedule from a preset name or alias (see SCHEDULES), or an explicit schedule, checked."""
    if isinstance(spec, FidelitySchedule):
        return spec.checked(scenario_set)
    name = SCHEDULE_ALIASES.get(spec, spec) if spec is not None else "none"
    if name == "none":
        return single_stage(scenario_set)
    if name == "staged":
        if scenario_set.mode == "stochastic":
            return single_stage(scenario_set)
        return staged_schedule(scenario_set, early_fidelity).checked(scenario_set)
    if name == "short":
        return short_first(scenario_set).checked(scenario_set)
    aliases = ", ".join(f"{a} for {n}" for a, n in SCHEDULE_ALIASES.items())
    raise ConfigError("fidelity", f"{spec!r} is not allowed (one of {', '.join(SCHEDULES)}; alias: {aliases})")


def short_first(scenario_set: ScenarioSet, fidelity: float = 0.25) -> FidelitySchedule:
    """Every scenario from the start, quarter-length runs for trials 1–25, full length from 26.

    Unlike the staged schedule, early trials already see the scenarios that decide
    robustness (on the submit queue the crisis scenario moves the optimum far from the
    normal-only one); they are cheap because the runs are short.
    """
    names = tuple(scenario_set.names)
    return FidelitySchedule((Stage(1, names, fidelity), Stage(26, names, 1.0)), name="short")


def stages_from(pairs: Sequence[tuple[int, Sequence[str], float]], name: str = "custom") -> FidelitySchedule:
    """A schedule from (first trial, scenario names, fidelity) triples."""
    return FidelitySchedule(tuple(Stage(t, tuple(s), f) for t, s, f in pairs), name=name)
