"""Named scenario sets.

`sq-weighted5` is the submit queue's five weighted scenarios of the scenario-weighting
study, built from the simulator's own scenario table (one source of truth);
`sq-stochastic` is that study's stochastic-sampling example; `synthetic5` and
`synthetic-stochastic` are the synthetic system's analogues (see
`loadwise.systems.synthetic`); `mq-weighted4` is the merge queue's four weighted worlds
(normal, peak, flaky storm, bad week; `loadwise.systems.mergequeue.world`); `inframind-grid` is the serving system's InfraMind training
grid, 4 rates × 5 budget tiers (`scenarios.grid`). The names the sets had before they
were named for what they hold stay accepted as aliases, so older run folders and
scripts keep working.
"""

from __future__ import annotations

from pathlib import Path

from loadwise.errors import ConfigError
from loadwise.scenarios.grid import inframind_grid
from loadwise.scenarios.scenario import Draw, Scenario, ScenarioSet


def sq_weighted5() -> ScenarioSet:
    """The submit queue's five weighted scenarios, from `loadwise.systems.submitqueue.scenarios`."""
    from loadwise.systems.submitqueue.scenarios import WEIGHTED_SCENARIOS

    scenarios = tuple(Scenario(s.name, s.weight, s.params()) for s in WEIGHTED_SCENARIOS.values())
    return ScenarioSet(scenarios, name="sq-weighted5")


def sq_stochastic() -> ScenarioSet:
    """Stochastic sampling of the submit queue's load: traffic from {4..20}, culprits U(0.01, 0.08), stability U(0.9, 1)."""
    return ScenarioSet(
        (),
        mode="stochastic",
        draws={
            "traffic": Draw("choice", (4.0, 8.0, 12.0, 16.0, 20.0)),
            "culprit_prob": Draw("uniform", (0.01, 0.08)),
            "test_stability": Draw("uniform", (0.90, 1.0)),
        },
        name="sq-stochastic",
    )


def synthetic5() -> ScenarioSet:
    from loadwise.systems.synthetic import SCENARIOS

    return ScenarioSet(tuple(Scenario(n, w, p) for n, w, p in SCENARIOS), name="synthetic5")


def synthetic_stochastic() -> ScenarioSet:
    from loadwise.systems.synthetic import STOCHASTIC_DRAWS

    return ScenarioSet((), mode="stochastic", draws={k: Draw(kind, v) for k, (kind, v) in STOCHASTIC_DRAWS.items()},
                       name="synthetic-stochastic")


def mq_weighted4() -> ScenarioSet:
    """The merge queue's four weighted worlds, from `loadwise.systems.mergequeue.world`."""
    from loadwise.systems.mergequeue.world import WEIGHTED_WORLDS

    return ScenarioSet(tuple(Scenario(n, w, p) for n, w, p in WEIGHTED_WORLDS), name="mq-weighted4")


PRESETS = {
    "sq-weighted5": sq_weighted5,
    "sq-stochastic": sq_stochastic,
    "synthetic5": synthetic5,
    "synthetic-stochastic": synthetic_stochastic,
    "inframind-grid": inframind_grid,
    "mq-weighted4": mq_weighted4,
}

# alias -> preset: the names the submit-queue sets had when they were named after the study's document
ALIASES = {"seed5": "sq-weighted5", "seed-stochastic": "sq-stochastic"}


def get_scenario_set(spec: str | Path | ScenarioSet) -> ScenarioSet:
    """A ScenarioSet as given, a preset by name or alias, or a YAML/TOML file."""
    if isinstance(spec, ScenarioSet):
        return spec
    name = ALIASES.get(str(spec), str(spec))
    if name in PRESETS:
        return PRESETS[name]()
    path = Path(spec)
    if path.suffix.lower() in {".yaml", ".yml", ".toml"}:
        from loadwise.scenarios.files import load_scenario_file

        return load_scenario_file(path)
    aliases = ", ".join(f"{a} for {n}" for a, n in ALIASES.items())
    raise ConfigError("scenarios", f"unknown scenario set {str(spec)!r}; allowed: {', '.join(PRESETS)} "
                      f"(aliases: {aliases}), or a .yaml/.toml file")
