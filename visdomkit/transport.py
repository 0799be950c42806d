"""The transport: the only path from visdomkit to a Visdom server.

Adapters (LinePlotter, VisdomLogger, GradientNormLogger) hand points to a :class:`Transport`. The
caller's thread only validates a value and appends it to a queue (about a microsecond per point);
everything else happens on two background threads:

* the **ingest** thread drains the queue every ``flush_interval`` seconds, converts device tensors
  (the host synchronisation happens there, not in the training loop), writes every point to the
  run's journal (:mod:`visdomkit.journal`) and merges it into an in-memory view of each window
  (:mod:`visdomkit.series`: strictly increasing x, NaN gaps, at most ``max_points`` per window);
* the **sender** thread (:mod:`visdomkit.sender`, over :mod:`visdomkit.wire`) sends each window
  whatever accumulated since its last request: one ``/update`` append per window, or one
  ``/events`` rewrite after a decimation, a step that went backwards, or a reconnection. A slow
  server therefore gets fewer, larger requests.

Steps: ``x=None`` continues the series (last x + 1, from 0). An x at or before the series' last x
(a run resumed from a checkpoint) replaces the points from that x on, so a line never zig-zags.
A window that is already on the server when this transport first writes it (an earlier run in the
same env, or the run being resumed) is continued by the same rule: its points before this run's
first x stay.

When the server is down, slow, answering errors or refusing the login, logging calls still return
at once: points are in the journal, the views stay bounded by decimation, and the sender retries
with exponential backoff, then rewrites every window from its view once the server is back. One
warning is logged when the server goes away (a refused login is reported as such, naming the
server and the username) and one when it is back.

Axes: a window's y axis is linear unless the call that creates it says ``ytype="log"``. On a log
axis a value <= 0 has no place: it is drawn as a gap, like NaN (the journal keeps the value).

Memory: the queue holds at most ``max_queue`` points (past that, the logging call itself moves
the queue to the journal), and each view at most ``max_points`` points.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# VisdomServer registers an atexit hook that stops local servers; importing it before ours is
# registered (below) makes ours run first, so the last points are sent before the server stops.
from visdomkit import server as _server  # noqa: F401
from visdomkit.journal import JournalWriter, new_journal_path
from visdomkit.names import (  # noqa: F401 (public here too)
    DEFAULT_SERVER,
    default_run_dir,
    display_title,
    resolve_server,
    validate_env,
    window_id,
)
from visdomkit.sender import Sender
from visdomkit.series import WindowView
from visdomkit.values import BadValue, Deferred, coerce, describe, to_float  # noqa: F401 (public)

log = logging.getLogger("visdomkit")

DEFAULT_MAX_POINTS = 5000  # an /update costs ~75 ms at 5k points and ~140 ms at 10k
DEFAULT_MAX_QUEUE = 200_000

_LIVE: weakref.WeakSet[Transport] = weakref.WeakSet()
_TEXT = object()  # marks a text item in the queue
_YTYPES = (None, "linear", "log")


def _check_ytype(ytype: Any) -> None:
    if ytype not in _YTYPES:
        raise BadValue(f"ytype must be 'linear', 'log' or None, got {ytype!r}", ValueError)


def _check_size(name: str, value: Any) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= 5000
    ):
        raise BadValue(
            f"{name} must be None or an int from 50 to 5000 (pixels), got {value!r}", ValueError
        )


# -- the transport ----------------------------------------------------------------------------


@dataclass
class TransportStats:
    """Counters of one transport, for tests, benchmarks and curiosity.

    Attributes:
        queued: points accepted by logging calls.
        skipped: values refused (bad type or shape); each metric warned about once.
        journaled: points written to the journal.
        sent: points the server acknowledged (counted once per request that carried them).
        requests: successful requests.
        failures: failed requests.
        rewrites: whole-window rewrites (first write, decimation, backwards step, reconnect).
        decimations: times a window reached ``max_points`` and was decimated.
        online: whether the last request went through (``None`` before the first); ``False``
            while the server is unreachable, failing or refusing the login.
    """

    queued: int = 0
    skipped: int = 0
    journaled: int = 0
    sent: int = 0
    requests: int = 0
    failures: int = 0
    rewrites: int = 0
    decimations: int = 0
    online: bool | None = None


class Transport:
    """Sends points to one Visdom env without ever blocking or failing the caller.

    Args:
        server: URL, :class:`~visdomkit.VisdomServer` or ``None`` (see :func:`resolve_server`).
        env: Visdom env the windows live in (checked by :func:`validate_env`).
        flush_interval: seconds between batches taken from the queue; the sender coalesces
            whatever arrived in between.
        run_dir: folder for this transport's journal (created on first use). Default:
            :func:`default_run_dir`.
        max_points: the most points one window shows (over all its series); a window that
            reaches it is decimated to half of it (min/max per bucket) and rewritten. The journal
            keeps full resolution.
        max_queue: the most points waiting in memory for the ingest thread; past it, the logging
            call itself writes them to the journal (nothing is dropped).
        username: login for a server started with login enabled. Default: the
            ``VisdomServer``'s credentials or ``$VISDOM_USERNAME``.
        password: its password. Default: the ``VisdomServer``'s or ``$VISDOM_PASSWORD``. Never
            logged.
        timeout: read timeout of one request, in seconds.
        max_backoff: the longest wait, in seconds, between reconnection attempts.
        strict: raise ``TypeError``/``ValueError`` for a bad value instead of skipping it with
            one warning per metric.
        exit_timeout: seconds spent flushing at interpreter exit.

    Bad values: ``None``, strings, tensors or arrays with more than one element, complex numbers
    are skipped with one warning per metric (``strict=True`` raises instead). NaN and ±Inf are
    drawn as gaps. ``x`` must be finite.

    Example:
        >>> t = Transport("http://127.0.0.1:8097", env="demo")  # doctest: +SKIP
        >>> for step in range(100):  # doctest: +SKIP
        ...     t.append("loss", step, 1 / (step + 1))
        >>> t.text("hparams", "<b>lr</b> 0.01")  # doctest: +SKIP
        >>> t.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        server: Any = None,
        env: str = "main",
        *,
        flush_interval: float = 0.2,
        run_dir: str | os.PathLike[str] | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
        max_queue: int = DEFAULT_MAX_QUEUE,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        max_backoff: float = 5.0,
        strict: bool = False,
        exit_timeout: float = 5.0,
    ) -> None:
        url = resolve_server(server)
        env = validate_env(env)
        for arg, value, low in (
            ("flush_interval", flush_interval, 0.001),
            ("timeout", timeout, 0.01),
            ("max_backoff", max_backoff, 0.01),
            ("exit_timeout", exit_timeout, 0.0),
        ):
            if not isinstance(value, int | float) or not value >= low:
                raise ValueError(f"{arg} must be a number >= {low}, got {value!r}")
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 8:
            raise ValueError(f"max_points must be an int >= 8, got {max_points!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue must be a positive int, got {max_queue!r}")
        creds = getattr(server, "credentials", None) or {}
        username = username or creds.get("username") or os.environ.get("VISDOM_USERNAME")
        password = password or creds.get("password") or os.environ.get("VISDOM_PASSWORD")
        self.url = url
        self.env = env
        self.flush_interval = float(flush_interval)
        self.run_dir = Path(run_dir) if run_dir is not None else default_run_dir(env)
        self.max_points = max_points
        self.max_queue = max_queue
        self.username = username or None
        self.timeout = float(timeout)
        self.max_backoff = float(max_backoff)
        self.strict = bool(strict)
        self.exit_timeout = float(exit_timeout)
        self.__password = password or None
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        """Fresh runtime state: queue, locks, views, journal file, no threads, no connection."""
        self._queue: deque = deque()
        self._lock = threading.Condition()  # guards views, send states and counters
        self._ingest_lock = threading.Lock()  # one ingest at a time; owns the journal
        self._wake = threading.Event()
        self._views: dict[str, WindowView] = {}
        self._journal = JournalWriter(new_journal_path(self.run_dir), env=self.env, server=self.url)
        self._last_sync = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._running = False
        self._gen = 0  # threads of an older generation leave at their next check
        self._warned: set = set()
        self._stats = TransportStats()
        self._sender = Sender(
            url=self.url,
            env=self.env,
            lock=self._lock,
            views=self._views,
            stats=self._stats,
            journal_path=self._journal.path,
            max_points=self.max_points,
            username=self.username,
            password=self.__password,
            timeout=self.timeout,
            max_backoff=self.max_backoff,
        )

    # -- pickling and fork: the thread and the connection stay behind -------------------------

    def __getstate__(self) -> dict:
        return {
            "server": self.url,
            "env": self.env,
            "flush_interval": self.flush_interval,
            "run_dir": str(self.run_dir),
            "max_points": self.max_points,
            "max_queue": self.max_queue,
            "username": self.username,
            "password": self.__password,
            "timeout": self.timeout,
            "max_backoff": self.max_backoff,
            "strict": self.strict,
            "exit_timeout": self.exit_timeout,
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"Transport(url={self.url!r}, env={self.env!r}, journal={str(self.journal_path)!r})"

    # -- caller's thread ----------------------------------------------------------------------

    @property
    def journal_path(self) -> Path:
        """This transport's journal file (it exists once a point was ingested)."""
        return self._journal.path

    @property
    def stats(self) -> TransportStats:
        """A snapshot of the counters (see :class:`TransportStats`)."""
        with self._lock:
            return TransportStats(**vars(self._stats))

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
        ytype: str | None = None,
    ) -> None:
        """Queue one point of ``series`` (default: the window name) in line window ``window``.

        Returns at once; never raises for a bad value unless ``strict=True``.

        Args:
            window: metric name; one window per name (see :func:`window_id`).
            x: finite x value, or ``None`` for the last x of that series + 1 (0 at first). An x
                at or before the series' last x replaces the points from that x on.
            y: a real number, numpy scalar, or 1-element tensor (on any device); NaN/±Inf make a
                gap.
            series: trace name inside the window (e.g. ``"train"`` / ``"val"``).
            title: pane title on creation. Default: the window name (shortened when long).
            xlabel: x axis label on creation.
            ylabel: y axis label on creation. Default: the window name.
            ytype: y axis type on creation: ``"linear"`` (``None``: the default) or ``"log"``.
                On a log axis values <= 0 are drawn as gaps. Anything else is a bad value
                (skipped with a warning, or ``ValueError`` with ``strict=True``).

        Example:
            >>> transport.append("loss", 10, 0.25, series="train")  # doctest: +SKIP
            >>> transport.append("lr", 10, 1e-3, ytype="log")  # doctest: +SKIP
        """
        try:
            value = coerce(y)
            if x is not None:
                x = coerce(x)
                if type(x) is float and not math.isfinite(x):
                    raise BadValue(f"x must be finite, got {x!r}", ValueError)
            if type(window) is not str or not window:
                raise BadValue(f"window must be a non-empty string, got {window!r}")
            if series is not None and (type(series) is not str or not series):
                raise BadValue(f"series must be a non-empty string or None, got {series!r}")
            if ytype is not None:
                _check_ytype(ytype)
        except BadValue as exc:
            self._bad(window, series, exc)
            return
        self._queue.append((window, series, x, value, title, xlabel, ylabel, ytype))
        if not self._running:
            self._start()
        if len(self._queue) > self.max_queue:
            self._overflow()

    def log(
        self,
        metrics: Mapping[str, Any],
        x: float | None = None,
        *,
        series: str | None = None,
        xlabel: str = "step",
        ytype: str | None = None,
    ) -> None:
        """Queue one point per metric (one window per key) at the same ``x``.

        The cheapest way to log a whole step: one call instead of one :meth:`append` per
        metric. Bad values, and ``x``, ``series``, ``xlabel`` and ``ytype`` (for every window this
        call creates), are handled as in :meth:`append`.

        Example:
            >>> transport.log({"loss": 0.3, "acc": 0.91}, x=step)  # doctest: +SKIP
            >>> transport.log({"lr": 1e-3}, x=step, ytype="log")  # doctest: +SKIP
        """
        if x is not None or series is not None or ytype is not None:
            try:
                x = None if x is None else coerce(x)
                if type(x) is float and not math.isfinite(x):
                    raise BadValue(f"x must be finite, got {x!r}", ValueError)
                if series is not None and (type(series) is not str or not series):
                    raise BadValue(f"series must be a non-empty string or None, got {series!r}")
                _check_ytype(ytype)
            except BadValue as exc:
                for name in metrics:
                    self._bad(name, series, exc)
                return
        queue = self._queue
        for name, value in metrics.items():
            try:
                value = coerce(value)
                if type(name) is not str or not name:
                    raise BadValue(f"metric names must be non-empty strings, got {name!r}")
            except BadValue as exc:
                self._bad(name, series, exc)
                continue
            queue.append((name, series, x, value, None, xlabel, None, ytype))
        if not self._running:
            self._start()
        if len(queue) > self.max_queue:
            self._overflow()

    def text(
        self,
        window: str,
        text: str,
        *,
        title: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        """Queue the content of a text/HTML pane; it replaces the pane's previous content.

        Args:
            window: pane name (window id from :func:`window_id`, like line windows).
            text: text or HTML.
            title: pane title on creation. Default: the window name.
            width: pane width in pixels (50 to 5000) when the page first shows the pane, e.g.
                to fit a wide ``<pre>`` block. Default: visdom's. Sent with every update; a page
                that already shows the pane keeps its size until reloaded.
            height: pane height in pixels, likewise.

        Example:
            >>> transport.text("hparams", "<b>lr</b>: 0.01<br><b>batch</b>: 64")  # doctest: +SKIP
        """
        try:
            if type(window) is not str or not window or not isinstance(text, str):
                raise BadValue(f"text() needs two strings, got {describe(text)}")
            _check_size("width", width)
            _check_size("height", height)
        except BadValue as exc:
            self._bad(window, None, exc)
            return
        self._queue.append((window, _TEXT, None, text, title, None, None, (width, height)))
        if not self._running:
            self._start()

    def window_id(self, window: str) -> str:
        """The Visdom window id used for ``window`` (see :func:`window_id`)."""
        return window_id(window)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Write queued points to the journal (fsync) and wait until the server holds them.

        Args:
            timeout: seconds to wait for the server; ``None`` waits as long as it takes.

        Returns:
            ``True`` when the server holds everything; ``False`` on timeout, or as soon as an
            attempt to reach the server failed (the points are safe in the journal).

        Example:
            >>> transport.flush(timeout=5)  # doctest: +SKIP
            True
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._ingest()
        with self._ingest_lock:
            self._sync_journal()
        with self._lock:
            if not self._running and self._queue:
                return False
            failures = self._sender.failures
            self._sender.retry_now()  # rather than after the backoff
            while self._queue or not self._sender.in_sync():
                sender_alive = any(
                    t.name == "visdomkit-sender" and t.is_alive() for t in self._threads
                )
                if self._sender.failures != failures or not sender_alive:
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining if remaining is not None else 1.0)
            return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush (see :meth:`flush`), stop the threads and close the journal and connection.

        Logging after ``close()`` starts the transport again. Returns what ``flush`` returned.

        Example:
            >>> transport.close()  # doctest: +SKIP
            True
        """
        ok = self.flush(timeout)
        with self._lock:
            self._gen += 1
            threads, self._threads = self._threads, []
            self._running = False
            self._lock.notify_all()
        self._wake.set()
        for thread in threads:
            if thread is not threading.current_thread():
                # a sender inside a slow request leaves when the request ends
                thread.join(timeout=1.0)
        if not any(t.is_alive() for t in threads):
            with self._lock:
                self._sender.close()
        with self._ingest_lock:
            self._ingest_locked()  # anything logged meanwhile by another thread
            try:
                self._journal.close()
            except OSError as exc:
                self._journal_error(exc)
        return ok

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- helpers of the caller's thread -------------------------------------------------------

    def _bad(self, window: Any, series: Any, exc: BadValue, *, caller: bool = True) -> None:
        with self._lock:
            self._stats.skipped += 1
        name = window if series is None or series is _TEXT else f"{window}[{series}]"
        if self.strict and caller:
            raise exc.kind(f"metric {name!r}: {exc}") from None
        key = (repr(window), repr(series))
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "skipping a value of metric %r: %s (further bad values of this "
                "metric are skipped without a warning)",
                name,
                exc,
            )

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            gen = self._gen
            self._threads = [
                threading.Thread(
                    target=self._ingest_loop, args=(gen,), name="visdomkit-ingest", daemon=True
                ),
                threading.Thread(
                    target=self._sender.run,
                    args=(lambda: self._gen == gen,),
                    name="visdomkit-sender",
                    daemon=True,
                ),
            ]
        try:
            for thread in self._threads:
                thread.start()
        except RuntimeError:  # e.g. at interpreter shutdown: keep the points in the journal
            with self._lock:
                self._gen += 1
                self._running = False
            self._ingest()

    def _overflow(self) -> None:
        if "overflow" not in self._warned:
            self._warned.add("overflow")
            log.warning(
                "more than %d points are waiting; logging calls now write them to "
                "the journal themselves until the background thread catches up",
                self.max_queue,
            )
        self._ingest()

    # -- ingest: queue -> journal + views -----------------------------------------------------

    def _ingest_loop(self, gen: int) -> None:
        while self._gen == gen:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._ingest()
                if time.monotonic() - self._last_sync > 5.0:
                    with self._ingest_lock:
                        self._sync_journal()
            except Exception:  # never let the thread die; points stay in the queue/journal
                log.exception("ingest failed")
                time.sleep(self.flush_interval)

    def _ingest(self) -> None:
        with self._ingest_lock:
            self._ingest_locked()

    def _sync_journal(self) -> None:
        try:
            self._journal.sync()
        except OSError as exc:
            self._journal_error(exc)
        self._last_sync = time.monotonic()

    def _journal_error(self, exc: OSError) -> None:
        if "journal" not in self._warned:
            self._warned.add("journal")
            log.error("cannot write the journal %s: %s", self.journal_path, exc)

    def _ingest_locked(self) -> None:
        queue = self._queue
        items = [queue.popleft() for _ in range(len(queue))]
        if not items:
            return
        resolved = []
        for item in items:
            window, series, x, y = item[:4]
            try:
                if isinstance(y, Deferred):
                    y = y.resolve()
                if isinstance(x, Deferred):
                    x = x.resolve()
                    if not math.isfinite(x):
                        raise BadValue(f"x must be finite, got {x!r}", ValueError)
            except BadValue as exc:
                self._bad(window, series, exc, caller=False)
                continue
            except Exception as exc:  # a device error surfaces here, not in the training loop
                reason = BadValue(f"reading the tensor failed: {exc}")
                self._bad(window, series, reason, caller=False)
                continue
            resolved.append((window, series, x, y, *item[4:]))

        records: dict[tuple[str, str], tuple[WindowView, list, list]] = {}
        texts: list[tuple[WindowView, str]] = []
        with self._lock:
            touched: set[str] = set()
            for window, series, x, y, title, xlabel, ylabel, extra in resolved:
                kind = "text" if series is _TEXT else "line"
                view = self._views.get(window)
                if view is None:
                    view = self._views[window] = WindowView(
                        id=window_id(window),
                        name=window,
                        kind=kind,
                        title=display_title(title or window),
                        xlabel=xlabel or "",
                        ylabel=ylabel or window,
                        ytype=(extra or "linear") if kind == "line" else "linear",
                    )
                if view.kind != kind:
                    reason = BadValue(f"window {window!r} is a {view.kind} pane")
                    self._bad(window, None, reason, caller=False)
                    continue
                if kind == "text":
                    view.width, view.height = extra
                    view.set_text(y)
                    texts.append((view, y))
                    continue
                name = series or window
                if x is None:
                    s = view.series.get(name)
                    x = s.next_x() if s is not None else 0.0
                view.add(name, x, y)
                touched.add(window)
                rec = records.get((window, name))
                if rec is None:
                    rec = records[(window, name)] = (view, [], [])
                rec[1].append(x)
                rec[2].append(y)
            for window in touched:
                if self._views[window].enforce_cap(self.max_points):
                    self._stats.decimations += 1
            self._stats.queued += len(resolved) - len(texts)
            self._lock.notify_all()
        try:
            for view, text in texts:
                self._journal.text(view, text)
            for (_, name), (view, xs, ys) in records.items():
                self._journal.points(view, name, xs, ys)
            self._journal.flush()
            with self._lock:
                self._stats.journaled += sum(len(r[1]) for r in records.values())
        except OSError as exc:
            self._journal_error(exc)


# -- process lifecycle ------------------------------------------------------------------------


@atexit.register
def _close_all() -> None:
    for transport in list(_LIVE):
        try:
            transport.close(transport.exit_timeout)
        except Exception:  # interpreter exit: never raise
            log.exception("closing %r at exit failed", transport)


def _after_fork_in_child() -> None:
    # The threads did not survive the fork and the locks may be held by them: start afresh.
    # Points still queued belong to the parent, which sends them; the child gets its own journal.
    for transport in list(_LIVE):
        transport._journal.abandon()
        transport._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
