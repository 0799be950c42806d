"""What one dashboard window should show: the rules a line series follows, shared by the live
sender (:mod:`visdomkit.transport`) and :func:`visdomkit.replay.replay`.

Rules of a series:

* x is strictly increasing. A point whose x is not after the last x (a run resumed from a
  checkpoint logs steps again) replaces every point from that x on: the newest data wins and the
  line never zig-zags back. This is TensorBoard's ``purge_step`` behaviour.
* ``x=None`` takes the last x + 1 (0 for an empty series).
* NaN and ±Inf are kept as NaN and drawn as gaps.
* A window holds at most ``max_points`` points over all its series; past that, every series is
  decimated (:func:`visdomkit.decimate.minmax`) to half the cap and the window is rewritten.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from visdomkit.decimate import minmax_indices

MIN_SERIES_POINTS = 4  # minmax needs first, last and one bucket


class Series:
    """One trace of a line window: x/y kept in compact arrays (not tracked by the GC).

    Args:
        name: trace name shown in the legend.
        xs: initial x values (strictly increasing).
        ys: initial y values.

    Example:
        >>> s = Series("loss")
        >>> for x, y in [(0, 1.0), (1, 0.5), (2, 0.4), (1, 0.45)]:
        ...     _ = s.add(x, y)
        >>> list(s.xs), list(s.ys)
        ([0.0, 1.0], [1.0, 0.45])
    """

    __slots__ = ("name", "sent", "xs", "ys")

    def __init__(self, name: str, xs=(), ys=()) -> None:
        self.name = name
        self.xs = array("d", xs)
        self.ys = array("d", ys)
        self.sent = 0  # leading points the server is known to hold

    def __len__(self) -> int:
        return len(self.xs)

    def next_x(self) -> float:
        """The x that ``x=None`` stands for."""
        return self.xs[-1] + 1.0 if self.xs else 0.0

    def add(self, x: float, y: float) -> bool:
        """Append a point; ``True`` when earlier points the server holds had to be dropped."""
        xs = self.xs
        rewrite = False
        if xs and x <= xs[-1]:
            cut = bisect_left(xs, x)
            del xs[cut:]
            del self.ys[cut:]
            if cut < self.sent:
                self.sent = cut
                rewrite = True
        xs.append(x)
        self.ys.append(y if math.isfinite(y) else math.nan)
        return rewrite

    def decimate(self, max_points: int) -> None:
        """Keep at most ``max_points`` points (min/max per x bucket); the server copy is stale."""
        x = np.frombuffer(self.xs, dtype=float)
        y = np.frombuffer(self.ys, dtype=float)
        idx = minmax_indices(x, y, max(MIN_SERIES_POINTS, max_points))
        self.xs = array("d", x[idx].tobytes())
        self.ys = array("d", y[idx].tobytes())
        self.sent = 0


@dataclass
class WindowView:
    """The desired content of one Visdom window.

    Args:
        id: Visdom window id.
        name: the metric name the window was created for.
        kind: ``"line"`` or ``"text"``.
        title: pane title.
        xlabel: x axis label (line windows).
        ylabel: y axis label (line windows).
        ytype: y axis type of a line window, ``"linear"`` or ``"log"``. On a log axis values
            <= 0 are drawn as gaps (they stay in the view and the journal).
        width: pane width in pixels when the page first shows it (text panes; ``None``: visdom's
            default).
        height: pane height in pixels, likewise.
    """

    id: str
    name: str
    kind: str = "line"
    title: str = ""
    xlabel: str = "step"
    ylabel: str = ""
    ytype: str = "linear"
    width: int | None = None
    height: int | None = None
    series: dict[str, Series] = field(default_factory=dict)
    text: str | None = None
    dirty: bool = True  # the whole window must be (re)written
    version: int = 0  # bumped whenever sent points are invalidated
    text_version: int = 0
    text_sent: int = -1

    @property
    def log_y(self) -> bool:
        """Whether the window's y axis is logarithmic."""
        return self.ytype == "log"

    def count(self) -> int:
        return sum(len(s) for s in self.series.values())

    def add(self, series: str, x: float, y: float) -> None:
        s = self.series.get(series)
        if s is None:
            s = self.series[series] = Series(series)
            self.invalidate()  # a new trace: the cheap append path cannot add it
        if s.add(x, y):
            self.invalidate()

    def enforce_cap(self, max_points: int) -> bool:
        """Decimate every series when the window holds more than ``max_points`` points."""
        if self.count() <= max_points:
            return False
        share = max(MIN_SERIES_POINTS, (max_points // 2) // max(1, len(self.series)))
        for s in self.series.values():
            if len(s) > share:
                s.decimate(share)
        self.invalidate()
        return True

    def invalidate(self) -> None:
        """Forget what the server holds; the next send rewrites the whole window."""
        self.dirty = True
        self.version += 1
        self.text_sent = -1
        for s in self.series.values():
            s.sent = 0

    def set_text(self, text: str) -> None:
        self.text = text
        self.text_version += 1

    def pending(self) -> bool:
        """Whether the server is behind this view."""
        if self.kind == "text":
            return self.text is not None and self.text_sent != self.text_version
        return (self.dirty and bool(self.series)) or any(
            s.sent < len(s) for s in self.series.values()
        )

    def unsent_points(self) -> int:
        if self.kind == "text":
            return int(self.pending())
        if self.dirty:
            return self.count()
        return sum(len(s) - s.sent for s in self.series.values())

    def adopt(self, traces: list[tuple[str, list, list]]) -> None:
        """Merge what the server already holds in front of this session's points.

        Server points at or after the first x this session logged for a series are replaced, the
        same rule as a step that goes backwards.
        """
        merged: dict[str, Series] = {}
        for name, xs, ys in traces:
            ours = self.series.get(name)
            start = ours.xs[0] if ours is not None and len(ours) else math.inf
            s = Series(name)
            for x, y in zip(xs, ys, strict=False):
                if x is None or not math.isfinite(x) or x >= start or (s.xs and x <= s.xs[-1]):
                    continue
                s.xs.append(float(x))
                s.ys.append(float(y) if isinstance(y, int | float) else math.nan)
            if ours is not None:
                s.xs.extend(ours.xs)
                s.ys.extend(ours.ys)
            merged[name] = s
        for name, s in self.series.items():
            merged.setdefault(name, s)
        self.series = merged
        self.invalidate()
