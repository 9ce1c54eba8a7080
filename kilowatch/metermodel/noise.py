"""Stable pseudo-random numbers: a hash of (stream key, index), so any sample is recomputable alone.

A generator with state would make a reading depend on every draw before it; hashing the index
makes the value at a given minute the same whether it is computed first, last or alone.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)

Indices = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def stream_key(*parts: object) -> int:
    """A 64-bit key for one random stream, the same on every run and machine (unlike hash())."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _mix(key: int, index: Indices) -> npt.NDArray[np.uint64]:
    """SplitMix64 of key and each index: 64 well-mixed bits per element (uint64 wraps by design)."""
    z = index.astype(np.uint64) * _GOLDEN + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def uniform(key: int, index: Indices) -> Floats:
    """One uniform number in [0, 1) per index."""
    return (_mix(key, index) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def triangular(key: int, index: Indices) -> Floats:
    """One number in (-1, 1) per index, triangular: mean 0, standard deviation 1/sqrt(6)."""
    z = _mix(key, index)
    high = (z >> np.uint64(32)).astype(np.float64)
    low = (z & _LOW32).astype(np.float64)
    return (high + low) * 2.0**-32 - 1.0
