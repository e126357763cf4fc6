"""The five weighted load scenarios of the scenario-weighting study, as data.

"Scenario Variation: Stochastic vs Deterministic Weighting" tunes the submit queue
across these loads: normal, spike, low, flaky and crisis. The weights sum to 1; each
scenario sets the scenario parameters `traffic`, `culprit_prob` and `test_stability`
(the others keep their defaults).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadwise.errors import ConfigError


@dataclass(frozen=True)
class LoadScenario:
    """One weighted load condition of the submit queue."""

    name: str
    weight: float
    traffic: float
    culprit_prob: float
    test_stability: float

    def params(self) -> dict[str, float]:
        """The scenario parameters to pass to `SubmitQueue.run`."""
        return {"traffic": self.traffic, "culprit_prob": self.culprit_prob, "test_stability": self.test_stability}


WEIGHTED_SCENARIOS: dict[str, LoadScenario] = {
    s.name: s
    for s in (
        LoadScenario("normal", 0.40, 8.0, 0.03, 1.00),
        LoadScenario("spike", 0.25, 16.0, 0.04, 0.98),
        LoadScenario("low", 0.15, 4.0, 0.02, 0.99),
        LoadScenario("flaky", 0.10, 8.0, 0.03, 0.90),
        LoadScenario("crisis", 0.10, 20.0, 0.08, 0.92),
    )
}


def weighted_scenario(name: str) -> LoadScenario:
    """One of the weighted scenarios by name, or a ConfigError listing the names."""
    try:
        return WEIGHTED_SCENARIOS[name]
    except KeyError:
        raise ConfigError("scenario", f"unknown scenario {name!r}; allowed: {', '.join(WEIGHTED_SCENARIOS)}") from None
