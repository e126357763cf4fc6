"""Named scenario sets and the seed's published figures that go with them.

`seed5` is built from the submit-queue simulator's own scenario table (one source of
truth); `seed-stochastic` is the seed's stochastic-sampling example; `synthetic5` is
the synthetic system's analogue of seed5 (see `loadwise.systems.synthetic`).
"""

from __future__ import annotations

from pathlib import Path

from loadwise.errors import ConfigError
from loadwise.scenarios.scenario import Draw, Scenario, ScenarioSet

# The seed's "expected differences" of the robust optimum from the single-scenario
# optimum (seed 003, section "Expected Differences in Optimal Configs").
SEED5_EXPECTED_DIFFERENCES = {
    "resources": ("higher", "28–32", "headroom for spikes"),
    "maxbatch": ("lower", "600–700", "better under high culprit rates"),
    "maxk": ("higher", "12–14", "better isolation when culprits are frequent"),
    "flaketol": ("lower", "0.05", "keep more tests active in crisis mode"),
}


def seed5() -> ScenarioSet:
    """The seed's five weighted scenarios, from `loadwise.systems.submitqueue.scenarios`."""
    from loadwise.systems.submitqueue.scenarios import SEED_SCENARIOS

    return ScenarioSet(tuple(Scenario(s.name, s.weight, s.params()) for s in SEED_SCENARIOS.values()), name="seed5")


def seed_stochastic() -> ScenarioSet:
    """The seed's stochastic sampling: traffic from {4..20}, culprits U(0.01, 0.08), stability U(0.9, 1)."""
    return ScenarioSet(
        (),
        mode="stochastic",
        draws={
            "traffic": Draw("choice", (4.0, 8.0, 12.0, 16.0, 20.0)),
            "culprit_prob": Draw("uniform", (0.01, 0.08)),
            "test_stability": Draw("uniform", (0.90, 1.0)),
        },
        name="seed-stochastic",
    )


def synthetic5() -> ScenarioSet:
    from loadwise.systems.synthetic import SCENARIOS

    return ScenarioSet(tuple(Scenario(n, w, p) for n, w, p in SCENARIOS), name="synthetic5")


def synthetic_stochastic() -> ScenarioSet:
    from loadwise.systems.synthetic import STOCHASTIC_DRAWS

    return ScenarioSet((), mode="stochastic", draws={k: Draw(kind, v) for k, (kind, v) in STOCHASTIC_DRAWS.items()},
                       name="synthetic-stochastic")


PRESETS = {
    "seed5": seed5,
    "seed-stochastic": seed_stochastic,
    "synthetic5": synthetic5,
    "synthetic-stochastic": synthetic_stochastic,
}


def get_scenario_set(spec: str | Path | ScenarioSet) -> ScenarioSet:
    """A ScenarioSet as given, a preset by name, or a YAML/TOML file."""
    if isinstance(spec, ScenarioSet):
        return spec
    if str(spec) in PRESETS:
        return PRESETS[str(spec)]()
    path = Path(spec)
    if path.suffix.lower() in {".yaml", ".yml", ".toml"}:
        from loadwise.scenarios.files import load_scenario_file

        return load_scenario_file(path)
    raise ConfigError("--scenarios", f"unknown scenario set {str(spec)!r}; allowed: {', '.join(PRESETS)}, "
                      "or a .yaml/.toml file")
