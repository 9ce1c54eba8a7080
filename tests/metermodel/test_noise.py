"""Hashed random streams: reproducible sample by sample, independent across keys, well spread."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.metermodel.noise import stream_key, triangular, uniform

INDEX = np.arange(20_000, dtype=np.int64)


def test_keys_are_stable_and_distinguish_their_parts() -> None:
    assert stream_key(1, "plant", "meter") == stream_key(1, "plant", "meter")
    assert stream_key(1, "plant", "meter") != stream_key(2, "plant", "meter")
    # Parts are separated, so moving a character between them makes another key.
    assert stream_key("ab", "c") != stream_key("a", "bc")


@given(st.integers(0, 2**64 - 1), st.integers(0, 10**12))
def test_a_sample_does_not_depend_on_its_neighbours(key: int, index: int) -> None:
    alone = uniform(key, np.array([index], dtype=np.int64))[0]
    among = uniform(key, np.arange(index - 5, index + 5, dtype=np.int64))[5]
    assert alone == among
    assert 0.0 <= alone < 1.0


def test_uniform_is_spread_evenly() -> None:
    values = uniform(stream_key("u"), INDEX)
    counts, _ = np.histogram(values, bins=10, range=(0.0, 1.0))
    assert counts.min() > 0.9 * len(INDEX) / 10
    assert abs(np.corrcoef(values[:-1], values[1:])[0, 1]) < 0.03


def test_triangular_has_mean_zero_and_the_documented_spread() -> None:
    values = triangular(stream_key("t"), INDEX)
    assert np.all((values > -1.0) & (values < 1.0))
    assert abs(values.mean()) < 0.01
    assert abs(values.std() - 1 / np.sqrt(6)) < 0.01


def test_streams_with_different_keys_are_unrelated() -> None:
    a, b = uniform(stream_key("a"), INDEX), uniform(stream_key("b"), INDEX)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03
