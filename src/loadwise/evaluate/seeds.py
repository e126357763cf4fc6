"""Run seeds from `numpy.random.SeedSequence`: common random numbers by construction.

The seed of a run depends only on (study seed, purpose, scenario name, replicate), never
on the config, so two configs evaluated on the same (scenario, replicate) see the same
arrivals and culprits and their difference is far less noisy. `purpose` separates the
streams used in search, validation and report slices, so validation seeds are never
ones the search has seen.
"""

from __future__ import annotations

import hashlib

import numpy as np

PURPOSES = {"search": 0, "validate": 1, "slice": 2, "draw": 3}


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def run_seed(study_seed: int, scenario: str, replicate: int, purpose: str = "search") -> int:
    """A 32-bit seed for one run (32 bits so any RNG, numba's included, accepts it)."""
    sequence = np.random.SeedSequence(entropy=int(study_seed),
                                      spawn_key=(PURPOSES[purpose], _name_key(scenario), int(replicate)))
    return int(sequence.generate_state(1, np.uint32)[0])
