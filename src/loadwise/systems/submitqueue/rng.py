"""Random streams for the compiled kernel: xoshiro256** seeded through splitmix64.

The kernel keeps its own generators (instead of numba's global NumPy state) so that a
run is a pure function of its seed on every platform, and so that independent streams
(arrivals, resubmissions, test outcomes, design matrices) can be derived from one seed:
two configurations run on the same seed then see the same arrivals and culprits, which
is what common random numbers need. Outcomes that belong to a known event (a test of a
change, a repair of a test in a tick) use `keyed_uniform` instead of a stream.

These functions are inlined into the kernel, whose on-disk numba cache does not notice
edits here: after changing this file, delete the package's `__pycache__`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_U11 = np.uint64(11)
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def splitmix64(x):
    """One splitmix64 step: a well-mixed 64-bit value from any 64-bit input."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def seed_stream(states, k, key):
    """Fill stream `k` of `states` (shape (streams, 4), uint64) from a 64-bit key."""
    x = key
    for j in range(4):
        x = splitmix64(x)
        states[k, j] = x


@njit(cache=True, inline="always")
def next_u64(states, k):
    """The next 64-bit output of stream `k` (xoshiro256**)."""
    s0 = states[k, 0]
    s1 = states[k, 1]
    s2 = states[k, 2]
    s3 = states[k, 3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    states[k, 0] = s0
    states[k, 1] = s1
    states[k, 2] = s2
    states[k, 3] = s3
    return result


@njit(cache=True, inline="always")
def uniform(states, k):
    """A uniform draw in [0, 1) with 53 random bits from stream `k`."""
    return float(next_u64(states, k) >> _U11) * _INV_2_53


@njit(cache=True, inline="always")
def below(states, k, n):
    """A uniform integer in [0, n) from stream `k`."""
    return int(uniform(states, k) * n)


@njit(cache=True, inline="always")
def keyed_uniform(key, counter):
    """A uniform draw in [0, 1) that is a pure function of (key, counter).

    Counter-based draws tie an outcome to what it is about (this change's test, this
    test's repair in this tick) instead of to its position in a stream, so two configs
    run on one seed draw the same number for the same event however many other draws
    each of them made before it.
    """
    return float(splitmix64(key ^ splitmix64(np.uint64(counter))) >> _U11) * _INV_2_53


def stream_keys(seed: int, n: int) -> np.ndarray:
    """`n` independent 64-bit keys derived from `seed` with numpy's SeedSequence."""
    return np.random.SeedSequence(seed).generate_state(n, dtype=np.uint64)
