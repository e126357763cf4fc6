"""Model profiles: service-time and accuracy parameters of the five models and three strategies.

The shipped profile lives in `data/profiles.yaml` (with the source of every figure);
users can pass their own file, e.g. one written by `loadwise serve calibrate`. A bad
file raises ConfigError naming the field.

Strategies are realized on the wire by a system prompt and a `max_tokens` cap (the
gateway sends both); the cap bounds the simulated output length too.

Service time (continuous batching, see `server.py`): with n requests running, every
running request advances by one output token each `tpot * (1 + tpot_growth * ln n)`
seconds. A call's work is its output tokens plus `prefill_cost` per prompt token (the
prefill, which slows with the batch like decoding does).

Accuracy: a call of model m with strategy s on an item of level L succeeds with
probability sigmoid(theta_m * (1 + gamma_s) + delta_s - kappa_s * (L - 3) + bonuses),
where bonuses come from the workflow (role/subject match, CoT, answers the call sees;
see `workflows.py`). theta_m is the logit at level 3 with the `concise` strategy
(delta = gamma = 0) and is fitted so that the single-call accuracy averaged over the
MATH test-set level distribution equals the model's reference MATH accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.optimize import brentq
from scipy.special import expit

from loadwise.errors import ConfigError
from loadwise.files import read_user_text
from loadwise.systems.agentserve.routing import N_MODELS, STRATEGIES

LEVEL_CENTER = 3
# MATH test set (Hendrycks et al., 2021; 5,000 problems): problems per level 1..5
MATH_LEVEL_COUNTS = (437, 894, 1131, 1214, 1324)
MATH_LEVEL_WEIGHTS = np.asarray(MATH_LEVEL_COUNTS, dtype=float) / sum(MATH_LEVEL_COUNTS)
REFERENCE_STRATEGY = "concise"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    name: str
    size_b: float = Field(gt=0)
    max_num_seqs: int = Field(ge=1, le=4096)
    tpot: float = Field(gt=0, le=10)
    tpot_growth: float = Field(ge=0, le=20)
    prefill_cost: float = Field(ge=0, le=10)
    kv_capacity: int = Field(ge=1)
    theta: float = Field(ge=-20, le=20)
    math_accuracy: float | None = Field(default=None, gt=0, lt=1)
    source: dict[str, str] = Field(default_factory=dict)


class StrategySpec(_Strict):
    name: str
    mean_tokens: float = Field(gt=0)
    sigma: float = Field(ge=0, le=3)
    delta: float = Field(ge=-20, le=20)
    kappa: float = Field(ge=-20, le=20)
    gamma: float = Field(ge=-1, le=5)
    # how the strategy is realized on the wire (the gateway's system prompt and max_tokens);
    # max_tokens also caps the simulated output length; None: workflow.max_tokens
    system_prompt: str = ""
    max_tokens: int | None = Field(default=None, ge=1)
    source: dict[str, str] = Field(default_factory=dict)


class WorkflowSpec(_Strict):
    prompt_tokens: float = Field(ge=0)
    max_tokens: int = Field(ge=1)
    min_tokens: int = Field(ge=1)
    peer_weight: float = Field(ge=0, le=10)
    role_bonus: float = Field(ge=-5, le=5)
    cot_bonus: float = Field(ge=-5, le=5)
    cot_length: float = Field(gt=0, le=10)
    source: dict[str, str] = Field(default_factory=dict)


class ProfileFile(_Strict):
    version: int = Field(ge=1, le=1)
    description: str = ""
    models: list[ModelSpec]
    strategies: list[StrategySpec]
    workflow: WorkflowSpec


@dataclass(frozen=True)
class Profiles:
    """A validated profile file as arrays indexed by model / strategy (action order)."""

    spec: ProfileFile
    model_names: tuple[str, ...]
    max_num_seqs: np.ndarray  # int (M,)
    tpot: np.ndarray          # (M,)
    tpot_growth: np.ndarray   # (M,)
    prefill_cost: np.ndarray  # (M,)
    kv_capacity: np.ndarray   # (M,)
    theta: np.ndarray         # (M,)
    mean_tokens: np.ndarray   # (S,)
    length_mu: np.ndarray     # (S,) lognormal location of output length
    length_sigma: np.ndarray  # (S,)
    delta: np.ndarray         # (S,)
    kappa: np.ndarray         # (S,)
    gamma: np.ndarray         # (S,)
    max_tokens: np.ndarray    # int (S,) output-length cap per strategy (at most workflow.max_tokens)
    path: str = "<shipped>"

    @property
    def workflow(self) -> WorkflowSpec:
        return self.spec.workflow

    def tpot_table(self, model: int) -> list[float]:
        """Seconds per output token with n = 0..max_num_seqs running (entry 0 unused)."""
        n = np.arange(1, int(self.max_num_seqs[model]) + 1)
        per = self.tpot[model] * (1.0 + self.tpot_growth[model] * np.log(n))
        return [0.0, *per.tolist()]

    def logit(self, level: np.ndarray) -> np.ndarray:
        """Base success logits (..., M, S) of a lone call on items of `level` (no bonuses)."""
        lv = np.asarray(level, dtype=float)[..., None, None]
        return (
            self.theta[:, None] * (1.0 + self.gamma[None, :])
            + self.delta[None, :]
            - self.kappa[None, :] * (lv - LEVEL_CENTER)
        )

    def math_accuracy(self) -> np.ndarray:
        """Single-call accuracy per model with the reference strategy over MATH levels."""
        s = STRATEGIES.index(REFERENCE_STRATEGY)
        p = expit(self.logit(np.arange(1, 6)))[:, :, s]  # (levels, M)
        return MATH_LEVEL_WEIGHTS @ p

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump()


def fit_theta(accuracy: float, delta: float, kappa: float, gamma: float = 0.0) -> float:
    """The theta whose single-call accuracy over the MATH level mix equals `accuracy`."""
    levels = np.arange(1, 6) - LEVEL_CENTER

    def gap(theta: float) -> float:
        return float(MATH_LEVEL_WEIGHTS @ expit(theta * (1 + gamma) + delta - kappa * levels)) - accuracy

    return float(brentq(gap, -20.0, 20.0, xtol=1e-10))


def shipped_profile_path() -> Path:
    return Path(str(resources.files("loadwise.systems.agentserve").joinpath("data/profiles.yaml")))


def load_profiles(path: str | Path | None = None) -> Profiles:
    """Read and validate a profile file (None: the shipped one)."""
    source = shipped_profile_path() if path is None else Path(path)
    label = str(path) if path is not None else "profiles"
    if not source.is_file():
        raise ConfigError(label, "profile file not found")
    try:
        raw = yaml.safe_load(read_user_text(source, label))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(label, f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    profiles = profiles_from_dict(raw, label)
    return profiles if path is not None else replace(profiles, path="shipped")


def profiles_from_dict(raw: Any, label: str = "profiles") -> Profiles:
    """Validate a profile mapping; errors name the field, e.g. `profiles: models.2.tpot: ...`."""
    if not isinstance(raw, dict):
        raise ConfigError(label, "a profile file must be a mapping with models, strategies, workflow")
    try:
        spec = ProfileFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{label}: {where}", err["msg"]) from None
    if len(spec.models) != N_MODELS:
        raise ConfigError(f"{label}: models", f"exactly {N_MODELS} models are required, got {len(spec.models)}")
    names = [m.name for m in spec.models]
    if len(set(names)) != len(names):
        raise ConfigError(f"{label}: models", "model names must be unique")
    got = tuple(s.name for s in spec.strategies)
    if got != STRATEGIES:
        raise ConfigError(f"{label}: strategies", f"must be {', '.join(STRATEGIES)} in this order, got {', '.join(got)}")
    if spec.workflow.min_tokens > spec.workflow.max_tokens:
        raise ConfigError(f"{label}: workflow.min_tokens", "must not exceed workflow.max_tokens")
    for i, x in enumerate(spec.strategies):
        if x.max_tokens is not None and x.max_tokens < spec.workflow.min_tokens:
            raise ConfigError(f"{label}: strategies.{i}.max_tokens", "must be at least workflow.min_tokens")
    m, s = spec.models, spec.strategies
    sigma = np.array([x.sigma for x in s])
    mean = np.array([x.mean_tokens for x in s])
    return Profiles(
        spec=spec,
        model_names=tuple(names),
        max_num_seqs=np.array([x.max_num_seqs for x in m], dtype=np.int64),
        tpot=np.array([x.tpot for x in m]),
        tpot_growth=np.array([x.tpot_growth for x in m]),
        prefill_cost=np.array([x.prefill_cost for x in m]),
        kv_capacity=np.array([x.kv_capacity for x in m], dtype=float),
        theta=np.array([x.theta for x in m]),
        mean_tokens=mean,
        length_mu=np.log(mean) - sigma**2 / 2.0,
        length_sigma=sigma,
        delta=np.array([x.delta for x in s]),
        kappa=np.array([x.kappa for x in s]),
        gamma=np.array([x.gamma for x in s]),
        max_tokens=np.array([min(x.max_tokens or spec.workflow.max_tokens, spec.workflow.max_tokens) for x in s],
                            dtype=np.int64),
        path=label,
    )


def profiles_yaml(spec: ProfileFile | dict[str, Any], label: str = "profiles") -> str:
    """A profile file's YAML text, validated first so that what is written loads back."""
    data = spec.model_dump() if isinstance(spec, ProfileFile) else spec
    profiles_from_dict(data, label)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
