"""Visdom's HTTP protocol, spoken with ``requests`` directly.

We build the JSON that ``visdom.Visdom.line`` / ``.text`` would send and POST it ourselves rather
than calling the client, because the client (a) asks ``/win_exists`` before every append (one more
round trip per request), (b) logs or prints a traceback per failed call, (c) in 0.2.4 sends NaN as
a bare ``NaN`` token that the server stores and broadcasts as invalid JSON, and (d) needs numpy
arrays for every call. Encoding here uses ``allow_nan=False`` after turning non-finite values into
``null``, so the server can never receive a NaN token. The messages are the same for visdom 0.2.4
and 0.3.0.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import requests

DEFAULT_TIMEOUT = (3.05, 60.0)  # (connect, read) seconds; a big rewrite on a busy server is slow


class VisdomUnavailable(ConnectionError):
    """The server cannot be reached, timed out, or a proxy in front of it answered 502/503/504."""


class VisdomRejected(RuntimeError):
    """The server answered this request with an error status (the server itself is up)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status


class VisdomAuthError(VisdomRejected):
    """The server requires a login, or rejected the username/password."""


def nulls(values: Iterable[float]) -> list[float | None]:
    """A JSON-safe list: NaN and ±Inf become ``None`` (a gap in the plot).

    Example:
        >>> nulls([1.0, float("nan"), float("-inf")])
        [1.0, None, None]
    """
    return [v if math.isfinite(v) else None for v in values]


#: y-axis types a line window can have (Plotly's ``layout.yaxis.type``).
YTYPES = ("linear", "log")

#: Size in pixels of the markers of a short trace (Plotly's default size; visdom's is 10).
MARKER_SIZE = 6


def trace(
    name: str, xs: Sequence[float], ys: Sequence[float], *, log_y: bool = False
) -> dict[str, Any]:
    """One line trace, as ``visdom.Visdom.line`` builds it, but with Plotly's own ``mode``.

    No ``mode`` is sent, so Plotly picks it every time it draws the trace: ``"lines+markers"``
    while the trace has fewer than 20 points, ``"lines"`` from then on (plotly.js
    ``scatter/defaults.js``, ``PTS_LINESONLY``; the same in the plotly.js 2.11 that visdom 0.2.4
    and 0.3.0 serve). A window with one point per epoch therefore shows its first point at once,
    and a long series stays a clean line. ``marker.maxdisplayed`` would not do that: it thins the
    markers of a long trace out to that many, it never hides them.

    Args:
        name: trace name (legend entry).
        xs: x values.
        ys: y values; NaN and ±Inf become ``null`` (a gap).
        log_y: the window has a log y axis: values <= 0, which have no place on it, become gaps
            too (Plotly would draw a line down to the bottom of the plot for them).

    Example:
        >>> trace("val", [0.0, 1.0], [0.5, float("nan")])["y"]
        [0.5, None]
        >>> trace("lr", [0.0, 1.0], [1e-3, 0.0], log_y=True)["y"]
        [0.001, None]
    """
    return {
        "x": list(xs),
        "y": positives(ys) if log_y else nulls(ys),
        "name": name,
        "type": "scatter",
        "marker": {"size": MARKER_SIZE},
    }


def positives(values: Iterable[float]) -> list[float | None]:
    """Like :func:`nulls`, and values <= 0 become ``None`` too (what a log axis can show).

    Example:
        >>> positives([1.0, 0.0, -2.0, float("inf")])
        [1.0, None, None, None]
    """
    return [v if math.isfinite(v) and v > 0 else None for v in values]


def line_layout(
    title: str, xlabel: str, ylabel: str, showlegend: bool, ytype: str = "linear"
) -> dict[str, Any]:
    """The plotly layout ``visdom.Visdom.line`` sends for these options.

    Args:
        title: plot title.
        xlabel: x axis title.
        ylabel: y axis title.
        showlegend: whether to show the legend (only worth its ~90 px with several traces).
        ytype: ``"linear"`` or ``"log"``. A log axis labels its decades as plain decimals down
            to 1e-5 (``0.001``, ``0.0001``) rather than with SI prefixes (``100μ``), which read
            oddly for a learning rate; smaller decades fall back to SI prefixes.

    Example:
        >>> line_layout("lr", "step", "lr", False, "log")["yaxis"]["type"]
        'log'
    """
    if ytype not in YTYPES:
        raise ValueError(f"ytype must be one of {YTYPES}, got {ytype!r}")
    yaxis: dict[str, Any] = {"title": ylabel, "type": ytype}
    if ytype == "log":
        yaxis["minexponent"] = 5
    return {
        "showlegend": showlegend,
        "title": title,
        "margin": {"l": 60, "r": 60, "t": 60, "b": 60},
        "xaxis": {"title": xlabel},
        "yaxis": yaxis,
    }


def line_window(
    env: str,
    win: str,
    title: str,
    xlabel: str,
    ylabel: str,
    traces: list[dict],
    ytype: str = "linear",
) -> tuple[str, dict]:
    """``/events`` message that creates or replaces a whole line window.

    The legend shows only when the window has more than one trace.
    """
    return "events", {
        "data": traces,
        "win": win,
        "eid": env,
        "layout": line_layout(title, xlabel, ylabel, len(traces) > 1, ytype),
        "opts": {"title": title},
    }


def line_append(
    env: str,
    win: str,
    title: str,
    xlabel: str,
    ylabel: str,
    traces: list[dict],
    name: str | None,
    *,
    showlegend: bool,
    ytype: str = "linear",
) -> tuple[str, dict]:
    """``/update`` message appending to the traces of a window.

    With ``name`` the single trace of that name gets ``traces[0]``; without, ``traces`` must list
    every trace of the window in the server's order (an empty trace changes nothing). The layout
    rides along (the server merges it into the stored one) so that a window the server lost is
    recreated with its title and axes; ``showlegend`` says whether the whole window, not this
    message, has more than one trace.
    """
    msg = {
        "data": traces,
        "win": win,
        "eid": env,
        "append": True,
        "layout": line_layout(title, xlabel, ylabel, showlegend, ytype),
        "opts": {},
    }
    if name is not None:
        msg["name"] = name
    return "update", msg


def text_window(
    env: str,
    win: str,
    title: str,
    text: str,
    *,
    width: int | None = None,
    height: int | None = None,
) -> tuple[str, dict]:
    """``/events`` message that creates or replaces a text pane.

    ``width`` and ``height`` (pixels) size the pane when the page first shows it; ``None``
    leaves visdom's default.
    """
    opts: dict[str, Any] = {"title": title}
    if width is not None:
        opts["width"] = width
    if height is not None:
        opts["height"] = height
    return "events", {
        "data": [{"content": text, "type": "text"}],
        "win": win,
        "eid": env,
        "opts": opts,
    }


def encode(msg: dict) -> str:
    """Strict JSON: raises ``ValueError`` rather than emit NaN/Infinity.

    Example:
        >>> encode({"y": [1.0, None]})
        '{"y":[1.0,null]}'
    """
    return json.dumps(msg, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


class VisdomHTTP:
    """A keep-alive HTTP session to one Visdom server, with errors sorted into three kinds.

    Args:
        url: base URL such as ``http://127.0.0.1:8097``.
        username: login name when the server has login enabled.
        password: its password (sent hashed, as visdom's client does; never logged).
        timeout: ``(connect, read)`` timeout in seconds.

    Example:
        >>> http = VisdomHTTP("http://127.0.0.1:8097")  # doctest: +SKIP
        >>> http.post(*text_window("main", "notes", "Notes", "hello"))  # doctest: +SKIP
        'notes'
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        # visdom's client sends sha256(password) and the server compares against that
        self._password_hash = (
            hashlib.sha256(password.encode("utf-8")).hexdigest() if password else None
        )
        self.timeout = timeout
        self._session: requests.Session | None = None

    def __repr__(self) -> str:  # no credentials
        return f"VisdomHTTP({self.url!r}, username={self.username!r})"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def post(self, endpoint: str, msg: dict) -> str:
        """POST ``msg`` to ``/endpoint`` and return the response text.

        Raises:
            VisdomUnavailable: connection refused/reset, timeout, or 502/503/504.
            VisdomAuthError: 401/403 even after logging in again.
            VisdomRejected: any other error status.
        """
        body = encode(msg).encode("utf-8")
        for attempt in range(2):
            resp = self._request(f"{self.url}/{endpoint}", body)
            # visdom 0.3 answers 401 without a valid login cookie, 0.2.4 an empty 400
            if resp.status_code in (400, 401, 403) and self.username and attempt == 0:
                self._session = None  # the cookie expired or the server restarted: log in again
                continue
            return self._check(resp)
        raise AssertionError("unreachable")

    def window_exists(self, env: str, win: str) -> bool:
        return self.post("win_exists", {"win": win, "eid": env}).strip() == "true"

    def window_data(self, env: str, win: str) -> dict | None:
        """The stored pane of ``win`` (``None`` when the window does not exist)."""
        if not self.window_exists(env, win):
            return None
        # json.loads also reads a bare NaN that an older client may have stored
        return json.loads(self.post("win_data", {"win": win, "eid": env}))

    # -- internals ----------------------------------------------------------------------------

    def _session_or_login(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            if self.username:
                try:
                    resp = session.post(
                        self.url,
                        json={"username": self.username, "password": self._password_hash},
                        timeout=self.timeout,
                    )
                except requests.RequestException as exc:
                    session.close()
                    raise VisdomUnavailable(f"{type(exc).__name__}: {exc}") from None
                if resp.status_code != 200:
                    session.close()
                    raise VisdomAuthError(resp.status_code, f"login as {self.username!r} failed")
            self._session = session
        return self._session

    def _request(self, url: str, body: bytes) -> requests.Response:
        session = self._session_or_login()
        try:
            return session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            # a reset connection is not reused; the next request opens a new one
            self.close()
            raise VisdomUnavailable(_short(exc)) from None

    @staticmethod
    def _check(resp: requests.Response) -> str:
        status = resp.status_code
        if status < 400:
            return resp.text
        reason = resp.reason or ""
        if status in (502, 503, 504):
            raise VisdomUnavailable(f"HTTP {status} {reason}".strip())
        if status in (401, 403) or (status == 400 and not resp.text):
            raise VisdomAuthError(
                status, f"{reason or 'unauthorized'} (does the server need username=/password=?)"
            )
        raise VisdomRejected(status, reason or resp.text[:200])


def _short(exc: BaseException) -> str:
    """``ConnectionError: connection refused`` rather than urllib3's nested repr."""
    text = str(exc)
    for marker in ("Connection refused", "Read timed out", "Connection reset", "timed out"):
        if marker in text:
            return f"{type(exc).__name__}: {marker}"
    return f"{type(exc).__name__}: {text[:160]}"
