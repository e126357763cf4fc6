"""Scenarios, weighted scenario sets, presets, scenario files and fidelity schedules."""

from loadwise.scenarios.fidelity import (
    FidelitySchedule,
    Stage,
    make_schedule,
    single_stage,
    staged_schedule,
)
from loadwise.scenarios.files import load_scenario_file
from loadwise.scenarios.presets import PRESETS, get_scenario_set
from loadwise.scenarios.scenario import Draw, Scenario, ScenarioSet

__all__ = [
    "PRESETS", "Draw", "FidelitySchedule", "Scenario", "ScenarioSet", "Stage",
    "get_scenario_set", "load_scenario_file", "make_schedule", "single_stage", "staged_schedule",
]
