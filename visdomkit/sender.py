"""The sender thread: brings the server up to date with each window's view.

Each round sends every window that is behind one request: an ``/update`` append of the points it
lacks, or an ``/events`` rewrite of the whole window (new window, new series, decimation, a step
that went backwards, or after any failure, since a request that failed may or may not have been
applied). Rounds follow each other as fast as the server answers, so a slow server gets fewer,
larger requests.

Errors are sorted by :mod:`visdomkit.wire`: unreachable, timed out or HTTP 5xx mean the server is
in trouble, and a refused login (wrong username or password, or none given to a server that needs
one) means nothing gets through either. Both get one warning that says which it is (the login
warning names the server and the username, never the password), exponential backoff, and one
warning when requests go through again. Any other error status belongs to one window (it is
retried with its own backoff, and given up with an error after five failures while other windows
go through).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visdomkit import wire
from visdomkit.series import WindowView

log = logging.getLogger("visdomkit")

GIVE_UP_AFTER = 5  # failed requests of one window while the server accepts others


@dataclass
class _WindowState:
    contacted: bool = False  # the server's copy was looked at (and adopted) once
    failures: int = 0
    successes_at_first_failure: int = 0
    retry_at: float = 0.0
    disabled: bool = False


class Sender:
    """Sends the views of one env; runs on its own thread (:meth:`run`).

    The views, the lock guarding them and the counters are shared with the
    :class:`~visdomkit.transport.Transport` that owns this sender.

    Args:
        url: server URL.
        env: Visdom env.
        lock: condition guarding ``views`` and ``stats``; notified when a window changes.
        views: the windows' views by window name (shared; only read and marked here).
        stats: the transport's counters (a ``TransportStats``).
        journal_path: named in warnings, since that is where the points are.
        max_points: cap applied when a window already on the server is adopted.
        username: login name, if the server needs one.
        password: its password (kept here only to log in again; never logged).
        timeout: read timeout of one request in seconds.
        max_backoff: longest pause between attempts while the server is down.

    Example:
        >>> sender = Sender(url=url, env="main", lock=lock, views=views, stats=stats,
        ...                 journal_path=path, max_points=5000)  # doctest: +SKIP
        >>> thread = threading.Thread(target=sender.run, args=(lambda: True,))  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        url: str,
        env: str,
        lock: threading.Condition,
        views: dict[str, WindowView],
        stats: Any,
        journal_path: Path,
        max_points: int,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self.env = env
        self.lock = lock
        self.views = views
        self.stats = stats
        self.journal_path = journal_path
        self.max_points = max_points
        self.username = username
        self.__password = password
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.failures = 0  # failed attempts so far; flush() returns when it changes
        self._successes = 0
        self._state: dict[str, _WindowState] = {}
        self._http: wire.VisdomHTTP | None = None
        self._down_since: float | None = None
        self._down_kind: str | None = None  # "unreachable" or "login": what was warned about
        self._backoff = 0.0
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"Sender({self.url!r}, env={self.env!r})"

    # -- called by the transport, holding the lock ------------------------------------------

    def retry_now(self) -> None:
        """Skip the current backoff (for ``flush()``)."""
        self._retry_at = 0.0
        for state in self._state.values():
            state.retry_at = 0.0
        self.lock.notify_all()

    def in_sync(self) -> bool:
        """Whether the server holds every view (windows given up on excepted)."""
        return not any(v.pending() for v in self.views.values() if not self._get(v).disabled)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- the thread ---------------------------------------------------------------------------

    def run(self, alive: Callable[[], bool]) -> None:
        """Send rounds until ``alive()`` turns false (checked whenever the thread waits)."""
        while True:
            with self.lock:
                while True:
                    if not alive():
                        return
                    now = time.monotonic()
                    due = self._due(now) if now >= self._retry_at else []
                    if due:
                        break
                    waits = [self._retry_at - now] if self._retry_at > now else []
                    waits += [s.retry_at - now for s in self._state.values() if s.retry_at > now]
                    self.lock.wait(max(0.01, min(waits)) if waits else None)
            try:
                self._round(due, alive)
            except Exception:  # a bug must not kill the sender; retry after a pause
                log.exception("sender round failed")
                with self.lock:
                    self.failures += 1
                    self._retry_at = time.monotonic() + self.max_backoff
                    self.lock.notify_all()

    def _get(self, view: WindowView) -> _WindowState:
        state = self._state.get(view.id)
        if state is None:
            state = self._state[view.id] = _WindowState()
        return state

    def _due(self, now: float) -> list[WindowView]:
        return [
            v
            for v in self.views.values()
            if v.pending() and not self._get(v).disabled and self._get(v).retry_at <= now
        ]

    def _client(self) -> wire.VisdomHTTP:
        if self._http is None:
            self._http = wire.VisdomHTTP(
                self.url,
                username=self.username,
                password=self.__password,
                timeout=(wire.DEFAULT_TIMEOUT[0], self.timeout),
            )
        return self._http

    def _round(self, due: list[WindowView], alive: Callable[[], bool]) -> None:
        # windows that failed before go last, so one bad window cannot hold the others back
        due.sort(key=lambda v: self._get(v).failures)
        for view in due:
            if not alive():
                return
            try:
                self._send(view)
            except wire.VisdomAuthError as exc:
                self._went_down(f"HTTP {exc.status}", login=True)
                return
            except wire.VisdomUnavailable as exc:
                self._went_down(str(exc))
                return
            except wire.VisdomRejected as exc:
                if exc.status >= 500:  # the server is in trouble: back off as if it were down
                    self._went_down(str(exc))
                    self._window_failed(view, exc, counted=True)
                    return
                self._window_failed(view, exc)
                continue
            self._came_back()
            time.sleep(0)  # let a waiting training thread take the GIL between requests

    def _send(self, view: WindowView) -> None:
        state = self._get(view)
        if not state.contacted and view.kind == "line":
            self._adopt(view)
            state.contacted = True
        with self.lock:
            if view.kind == "text":
                endpoint, msg = wire.text_window(
                    self.env,
                    view.id,
                    view.title,
                    view.text or "",
                    width=view.width,
                    height=view.height,
                )
                version, full, series, sizes, points = view.text_version, True, [], [], 1
            else:
                version, full = view.version, view.dirty
                series = list(view.series.values())
                sizes = [len(s) for s in series]
                pending = [s for s in series if s.sent < len(s)]
                log_y = view.log_y
                if full:
                    traces = [wire.trace(s.name, s.xs, s.ys, log_y=log_y) for s in series]
                    endpoint, msg = wire.line_window(
                        self.env, view.id, view.title, view.xlabel, view.ylabel, traces, view.ytype
                    )
                    points = sum(sizes)
                else:
                    # one trace by name, or every trace in the server's order (empty ones too)
                    chosen = pending if len(pending) == 1 else series
                    traces = [
                        wire.trace(s.name, s.xs[s.sent :], s.ys[s.sent :], log_y=log_y)
                        for s in chosen
                    ]
                    name = chosen[0].name if len(chosen) == 1 else None
                    endpoint, msg = wire.line_append(
                        self.env,
                        view.id,
                        view.title,
                        view.xlabel,
                        view.ylabel,
                        traces,
                        name,
                        showlegend=len(series) > 1,
                        ytype=view.ytype,
                    )
                    points = sum(len(s) - s.sent for s in pending)
        self._client().post(endpoint, msg)
        with self.lock:
            state.failures = 0
            self._successes += 1
            self.stats.requests += 1
            self.stats.sent += points
            if view.kind == "text":
                view.text_sent = version
            elif view.version == version:  # else it changed meanwhile and is dirty again
                for s, n in zip(series, sizes, strict=True):
                    s.sent = n
                if full:
                    view.dirty = False
                    self.stats.rewrites += 1
            self.lock.notify_all()

    def _adopt(self, view: WindowView) -> None:
        """Continue a line window that is already on the server (an earlier or resumed run)."""
        pane = self._client().window_data(self.env, view.id)
        if not pane or pane.get("type") != "plot":
            return
        traces = [
            (str(t.get("name")), t.get("x") or [], t.get("y") or [])
            for t in pane.get("content", {}).get("data", [])
            if t.get("type") in ("scatter", "scattergl")
        ]
        with self.lock:
            view.adopt(traces)
            view.enforce_cap(self.max_points)

    def _went_down(self, reason: str, *, login: bool = False) -> None:
        """Nothing gets through: back off. One warning per outage, or when its kind changes."""
        kind = "login" if login else "unreachable"
        with self.lock:
            self.stats.failures += 1
            self.stats.online = False
            self.failures += 1
            if self._down_since is None:
                self._down_since = time.monotonic()
            if self._down_kind != kind:
                self._down_kind = kind
                self._warn_down(kind, reason)
            # a request in flight may or may not have been applied: rewrite every window
            for view in self.views.values():
                view.invalidate()
            self._backoff = min(self.max_backoff, max(0.25, self._backoff * 2))
            self._retry_at = time.monotonic() + self._backoff * random.uniform(0.5, 1.0)
            self.lock.notify_all()
        self.close()

    def _came_back(self) -> None:
        if self.stats.online and self._down_since is None:
            return
        with self.lock:
            self.stats.online = True
            self._backoff = 0.0
            if self._down_since is not None:
                log.warning(
                    "Visdom server %s is back after %.1f s%s; re-sending the windows.",
                    self.url,
                    time.monotonic() - self._down_since,
                    " (the login succeeded)" if self._down_kind == "login" else "",
                )
                self._down_since = None
                self._down_kind = None

    def _warn_down(self, kind: str, reason: str) -> None:
        keep = f"Training continues; points are kept in {self.journal_path}"
        if kind == "unreachable":
            log.warning(
                "Visdom server %s is unreachable (%s). %s and sent when the server is back.",
                self.url,
                reason,
                keep,
            )
        elif self.username:
            log.warning(
                "Visdom server %s refused the login of user %r (%s): check the username and "
                "password (username=/password= or $VISDOM_USERNAME/$VISDOM_PASSWORD). %s and sent "
                "once a login succeeds.",
                self.url,
                self.username,
                reason,
                keep,
            )
        else:
            log.warning(
                "Visdom server %s requires a login (%s): pass username= and password= (or set "
                "$VISDOM_USERNAME and $VISDOM_PASSWORD). %s and sent once a login succeeds.",
                self.url,
                reason,
                keep,
            )

    def _window_failed(
        self, view: WindowView, exc: wire.VisdomRejected, *, counted: bool = False
    ) -> None:
        with self.lock:
            state = self._get(view)
            if state.failures == 0:
                state.successes_at_first_failure = self._successes
            state.failures += 1
            if not counted:
                self.stats.failures += 1
                self.failures += 1
            view.invalidate()
            # give up only if the server accepted other requests meanwhile: then it is this
            # window, not the server
            others_went_through = self._successes > state.successes_at_first_failure
            if state.failures >= GIVE_UP_AFTER and others_went_through:
                state.disabled = True
                log.error(
                    "giving up on window %r after %d failed requests (%s); its points stay in "
                    "%s (see `python -m visdomkit replay`).",
                    view.name,
                    state.failures,
                    exc,
                    self.journal_path,
                )
            else:
                if state.failures == 1 and exc.status < 500:
                    log.warning("window %r: the server refused it: %s", view.name, exc)
                delay = min(self.max_backoff, 0.25 * 2**state.failures)
                state.retry_at = time.monotonic() + delay
            self.lock.notify_all()
