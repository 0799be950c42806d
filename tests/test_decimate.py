"""Decimation keeps a long series' shape: extremes, ends, gaps, and only real points."""

from __future__ import annotations

import numpy as np
import pytest

from visdomkit.decimate import minmax, minmax_indices
from visdomkit.series import Series, WindowView


def _noisy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float)
    return x, np.exp(-x / n * 3) + rng.normal(0, 0.05, n)


def test_short_series_is_unchanged():
    x, y = _noisy(50)
    assert minmax_indices(x, y, 100).tolist() == list(range(50))


@pytest.mark.parametrize("max_points", [4, 5, 101, 1000])
def test_keeps_at_most_max_points_with_ends_and_extremes(max_points):
    x, y = _noisy(20_000)
    y[7_777] = 5.0  # a spike must survive
    y[12_345] = -5.0
    dx, dy = minmax(x, y, max_points)
    assert len(dx) <= max_points
    assert dx[0] == 0 and dx[-1] == 19_999
    assert dy.max() == 5.0 and dy.min() == -5.0
    assert np.all(np.diff(dx) > 0)
    # only real points of the input
    np.testing.assert_array_equal(y[dx.astype(int)], dy)


def test_gaps_survive_decimation():
    x, y = _noisy(10_000)
    y[5_000:5_003] = np.nan
    dx, dy = minmax(x, y, 500)
    assert len(dx) <= 500
    assert np.isnan(dy).sum() >= 1
    assert 5_000 <= dx[np.isnan(dy)][0] <= 5_002


def test_decimating_again_keeps_the_extremes():
    x, y = _noisy(50_000, seed=1)
    y[30_000] = 9.0
    for _ in range(5):  # a long run decimates its window many times
        x, y = minmax(np.r_[x, x[-1] + 1 + np.arange(1000)], np.r_[y, np.zeros(1000)], 2_000)
    assert y.max() == 9.0 and len(x) <= 2_000


def test_too_small_max_points_is_refused():
    with pytest.raises(ValueError, match="max_points"):
        minmax_indices(np.arange(10.0), np.zeros(10), 3)


def test_series_rules_backwards_step_and_gaps():
    s = Series("loss")
    for x in range(10):
        s.add(float(x), float(x))
    s.sent = 10
    assert s.add(4.0, 40.0) is True  # the server held points from x=4 on: rewrite needed
    assert list(s.xs) == [0, 1, 2, 3, 4] and s.ys[-1] == 40.0 and s.sent == 4
    s.add(5.0, float("inf"))
    assert np.isnan(s.ys[-1])
    assert s.next_x() == 6.0


def test_window_cap_splits_between_series():
    view = WindowView(id="w", name="w")
    for x in range(1000):
        view.add("a", float(x), 1.0)
        view.add("b", float(x), 2.0)
    assert view.enforce_cap(100) is True
    assert view.count() <= 100 and view.dirty
    assert view.series["a"].xs[-1] == 999 and view.series["b"].xs[-1] == 999
