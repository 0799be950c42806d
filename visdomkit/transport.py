"""The only code that talks to a Visdom server.

Adapters (LinePlotter, VisdomLogger, GradientNormLogger) hand points to a :class:`Transport`;
the caller's thread only validates and enqueues, and a background sender coalesces every pending
point of a window into one append request.

First version: in-memory buffers and a background sender. The journal on disk, replay,
reconnection with backoff and decimation of long series come with the hardened transport.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("visdomkit")

DEFAULT_SERVER = "http://127.0.0.1:8097"


def resolve_server(server: Any = None) -> str:
    """A server URL from a URL string, a :class:`~visdomkit.VisdomServer`, or ``None``.

    ``None`` reads ``$VISDOMKIT_SERVER`` and falls back to ``http://127.0.0.1:8097``.
    """
    if server is None:
        server = os.environ.get("VISDOMKIT_SERVER", DEFAULT_SERVER)
    url = getattr(server, "url", server)
    if not isinstance(url, str) or not re.match(r"^https?://[^/]+", url):
        raise ValueError(
            f"server must be a URL like 'http://127.0.0.1:8097' or a VisdomServer, got {server!r}"
        )
    return url.rstrip("/")


def window_id(name: str) -> str:
    """A stable, collision-free Visdom window id for a metric name."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def to_float(name: str, value: Any) -> float:
    """A plain float from a Python/numpy number, bool, or a 1-element tensor."""
    if hasattr(value, "numel") and hasattr(value, "item"):
        if value.numel() != 1:
            raise ValueError(
                f"metric {name!r}: expected a scalar, got a tensor of shape {tuple(value.shape)}"
            )
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    if isinstance(value, bool) or isinstance(value, int | float):
        return float(value)
    raise TypeError(f"metric {name!r}: expected a number, got {type(value).__name__} {value!r}")


@dataclass
class _Window:
    id: str
    opts: dict
    created: bool = False
    next_x: dict[str, float] = field(default_factory=dict)
    pending: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))


class Transport:
    """Buffers points per window and sends them from a background thread.

    Args:
        server: URL, :class:`~visdomkit.VisdomServer` or ``None`` (see :func:`resolve_server`).
        env: Visdom env the windows live in.
        flush_interval: seconds the sender waits to coalesce points before a request.
    """

    def __init__(self, server: Any = None, env: str = "main", *, flush_interval: float = 0.2):
        self.url = resolve_server(server)
        self.env = env
        self.flush_interval = flush_interval
        self._windows: dict[str, _Window] = {}
        self._cond = threading.Condition()
        self._inflight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._viz = None

    # -- caller's thread ------------------------------------------------------------------

    def append(
        self,
        window: str,
        x: float | None,
        y: Any,
        *,
        series: str | None = None,
        title: str | None = None,
        xlabel: str = "step",
        ylabel: str | None = None,
    ) -> None:
        """Queue one point of ``series`` (default: the window name) in ``window``.

        ``x=None`` continues after the last x of that series (starting at 0).
        """
        value = to_float(window, y)
        series = series or window
        with self._cond:
            win = self._windows.get(window)
            if win is None:
                opts = {
                    "title": title or window,
                    "xlabel": xlabel,
                    "ylabel": ylabel or window,
                    "showlegend": False,
                }
                win = self._windows[window] = _Window(window_id(window), opts)
            if x is None:
                x = win.next_x.get(series, 0.0)
            win.next_x[series] = float(x) + 1
            win.pending[series].append((float(x), value))
            self._ensure_sender()
            self._cond.notify()

    def window_id(self, window: str) -> str:
        return window_id(window)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued point was sent; ``False`` on timeout."""
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: self._inflight == 0
                and not any(w.pending for w in self._windows.values()),
                timeout,
            )

    def close(self, timeout: float | None = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- sender thread --------------------------------------------------------------------

    def _ensure_sender(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="visdomkit-sender", daemon=True)
            self._thread.start()

    def _client(self):
        if self._viz is None:
            import visdom

            base, port = self.url.rsplit(":", 1)
            self._viz = visdom.Visdom(
                server=base,
                port=int(port),
                env=self.env,
                use_incoming_socket=False,
                raise_exceptions=True,
            )
        return self._viz

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closed or any(w.pending for w in self._windows.values())
                )
                if self._closed:
                    return
                batch = []
                for win in self._windows.values():
                    for series, points in win.pending.items():
                        if points:
                            batch.append((win, series, points))
                    win.pending = defaultdict(list)
                self._inflight += 1
            try:
                for win, series, points in batch:
                    self._send(win, series, points)
            except Exception as exc:  # never reaches the training loop
                log.warning("visdom send failed: %s", exc)
            finally:
                with self._cond:
                    self._inflight -= 1
                    self._cond.notify_all()

    def _send(self, win: _Window, series: str, points: list[tuple[float, float]]) -> None:
        import numpy as np

        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] if math.isfinite(p[1]) else np.nan for p in points])
        viz = self._client()
        viz.line(
            Y=ys,
            X=xs,
            win=win.id,
            env=self.env,
            name=series,
            update="append" if win.created else None,
            opts=dict(win.opts),
        )
        win.created = True
