"""What each (model, strategy) pair would cost a call now, and how likely it is to succeed.

Routers judge pairs by these two predictions, made from what can be observed at
decision time: the servers' load and the call itself (its prompt, the item's level,
its role and topology). Latency: a server with a free batch slot starts the call at
once and runs it at the per-token pace of one more running request; a full server
frees a slot every (mean work in the system × per-token time at a full batch /
max_num_seqs) seconds, so the call first waits that long for each request ahead of it.
The expected work is the strategy's mean output length (scaled by the role's length
factor) plus the prefill of the prompt. Success: the profile's logit for the model,
strategy and level, plus the role's bonus (see `profiles.py`, `workflows.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from loadwise.systems.agentserve.profiles import LEVEL_CENTER, Profiles
from loadwise.systems.agentserve.routing import N_ACTIONS


@dataclass(frozen=True)
class Prediction:
    """Predictions for B calls; the intermediate terms are kept for the oracle's exact view."""

    latency: np.ndarray  # float (B, N_ACTIONS) s, expected wait + expected service
    success: np.ndarray  # float (B, N_ACTIONS) chance the call alone is correct
    logit: np.ndarray    # float (B, N_MODELS, N_STRATEGIES) success logit before the answers it sees
    wait: np.ndarray     # float (B, N_MODELS) expected wait for a batch slot, s
    tpot: np.ndarray     # float (B, N_MODELS) s per output token once the call runs
    prefill: np.ndarray  # float (B, N_MODELS) prefill work of the prompt, in output-token units


class Predictor:
    """Latency and success predictions from one set of model profiles."""

    def __init__(self, profiles: Profiles) -> None:
        p = self.profiles = profiles
        self.theta_term = p.theta[:, None] * (1.0 + p.gamma[None, :]) + p.delta[None, :]  # (M, S)
        self.cap = p.max_num_seqs.astype(float)
        self.tpot_full = p.tpot * (1.0 + p.tpot_growth * np.log(self.cap))

    def __call__(self, running: np.ndarray, waiting: np.ndarray, queued_work: np.ndarray, prompt: np.ndarray,
                 length_factor: np.ndarray, bonus: np.ndarray, level: np.ndarray) -> Prediction:
        """Predictions for B calls: server load (B, M) arrays, per-call (B,) arrays.

        `queued_work` is the mean work (tokens) of the requests in each server's system.
        """
        p = self.profiles
        n = len(prompt)
        logit = self.theta_term[None] - p.kappa[None, None, :] * (level - LEVEL_CENTER)[:, None, None] \
            + bonus[:, None, None]                                             # (B, M, S)
        n_next = np.minimum(running + 1.0, self.cap)
        tpot_next = p.tpot * (1.0 + p.tpot_growth * np.log(n_next))          # (B, M)
        full = running >= self.cap
        wait = np.where(full, (waiting + 1.0) * queued_work * self.tpot_full / self.cap, 0.0)
        prefill = p.prefill_cost[None, :] * prompt[:, None]                    # (B, M)
        work = (p.mean_tokens[None, :] * length_factor[:, None])[:, None, :] + prefill[:, :, None]
        latency = (wait[:, :, None] + work * tpot_next[:, :, None]).reshape(n, N_ACTIONS)
        return Prediction(latency, expit(logit).reshape(n, N_ACTIONS), logit, wait, tpot_next, prefill)
