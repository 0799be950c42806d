"""Shrink a long line series for display while keeping its shape.

Min/max per bucket: the x range is cut into equal-width buckets and each bucket keeps its lowest
and highest point (and its first gap, if it has one). Every kept point is a real point of the
input, the first and last points are always kept, and decimating an already decimated series again
still keeps the extremes, so a window can be decimated many times over a long run.

We use min/max rather than LTTB because it is composable in that way and never hides a spike, which
is what one looks for in a loss curve. (The usual packages for this, e.g. ``tsdownsample``, are
compiled extensions we would add as a dependency for a few lines of numpy.)
"""

from __future__ import annotations

import numpy as np


def minmax_indices(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the points to keep so that at most ``max_points`` remain.

    Args:
        x: strictly increasing x values.
        y: y values of the same length; NaN marks a gap and is kept as a gap.
        max_points: the most points to return (at least 4).

    Returns:
        Sorted indices into ``x``/``y``; all of them when there are ``max_points`` or fewer.

    Example:
        >>> x = np.arange(10.0)
        >>> minmax_indices(x, np.sin(x), 6).tolist()
        [0, 2, 4, 5, 8, 9]
    """
    n = len(x)
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points!r}")
    if n <= max_points:
        return np.arange(n)
    gaps = np.isnan(y)
    has_gaps = bool(gaps.any())
    # first + last + (min, max[, gap]) per bucket
    buckets = max(1, (max_points - 2) // (3 if has_gaps else 2))
    edges = np.linspace(x[0], x[-1], buckets + 1)
    bucket = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, buckets - 1)
    # lexsort: the first index of each bucket in this order is the bucket's argmin (argmax)
    lows = np.where(gaps, np.inf, y)
    highs = np.where(gaps, -np.inf, y)
    by_min = np.lexsort((lows, bucket))
    by_max = np.lexsort((-highs, bucket))
    starts = np.flatnonzero(np.r_[True, np.diff(bucket[by_min]) != 0])
    keep = [by_min[starts], by_max[starts], np.array([0, n - 1])]
    if has_gaps:
        gap_idx = np.flatnonzero(gaps)
        first_gap = np.flatnonzero(np.r_[True, np.diff(bucket[gap_idx]) != 0])
        keep.append(gap_idx[first_gap])
    return np.unique(np.concatenate(keep))


def minmax(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Decimate ``(x, y)`` to at most ``max_points`` points with :func:`minmax_indices`.

    Example:
        >>> x = np.arange(1000.0)
        >>> dx, dy = minmax(x, x % 7, 100)
        >>> len(dx) <= 100, float(dx[0]), float(dx[-1]), float(dy.max())
        (True, 0.0, 999.0, 6.0)
    """
    idx = minmax_indices(np.asarray(x, dtype=float), np.asarray(y, dtype=float), max_points)
    return np.asarray(x, dtype=float)[idx], np.asarray(y, dtype=float)[idx]
