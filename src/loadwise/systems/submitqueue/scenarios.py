"""The seed's five load scenarios (seed `003_…txt`), as data.

The weights sum to 1; each scenario sets the submit queue's scenario parameters
`traffic`, `culprit_prob` and `test_stability` (the others keep their defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadwise.errors import ConfigError


@dataclass(frozen=True)
class SeedScenario:
    """One weighted load scenario of the seed."""

    name: str
    weight: float
    traffic: float
    culprit_prob: float
    test_stability: float

    def params(self) -> dict[str, float]:
        """The scenario parameters to pass to `SubmitQueue.run`."""
        return {"traffic": self.traffic, "culprit_prob": self.culprit_prob, "test_stability": self.test_stability}


SEED_SCENARIOS: dict[str, SeedScenario] = {
    s.name: s
    for s in (
        SeedScenario("normal", 0.40, 8.0, 0.03, 1.00),
        SeedScenario("spike", 0.25, 16.0, 0.04, 0.98),
        SeedScenario("low", 0.15, 4.0, 0.02, 0.99),
        SeedScenario("flaky", 0.10, 8.0, 0.03, 0.90),
        SeedScenario("crisis", 0.10, 20.0, 0.08, 0.92),
    )
}


def seed_scenario(name: str, field: str = "scenario") -> SeedScenario:
    """A seed scenario by name, or a ConfigError listing the names."""
    try:
        return SEED_SCENARIOS[name]
    except KeyError:
        raise ConfigError(field, f"unknown scenario {name!r}; allowed: {', '.join(SEED_SCENARIOS)}") from None
