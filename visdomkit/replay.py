"""Upload a run's journal to a Visdom server, later and as often as you like.

``python -m visdomkit replay JOURNAL [--server URL] [--env NAME]`` calls :func:`replay`.

Replaying is idempotent: for every window the server's copy is read first. Server points before
the journal's first x of a series (an earlier run) are kept; server points inside the journal's
range must be points of the journal (decimation keeps real points), and then only the journal
points after the server's last x are appended. Anything else, a missing window, or a window that
would exceed ``max_points`` is rewritten whole from the journal (decimated to fit). Replaying
the same journal twice therefore uploads nothing the second time.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visdomkit import wire
from visdomkit.journal import read_journal
from visdomkit.series import Series, WindowView

log = logging.getLogger("visdomkit")


@dataclass
class ReplaySummary:
    """What :func:`replay` did.

    Attributes:
        files: journal files read, in order.
        envs: envs written to.
        windows: windows in the journal.
        created: windows the server did not have.
        appended: windows that got only their missing points.
        rewritten: windows rewritten whole (conflict, or over ``max_points``).
        unchanged: windows the server already held completely.
        points: points in the journal.
        uploaded: journal points the server did not hold before.
        skipped: journal points the server already held.
        superseded: journal points replaced by a later point at the same or an earlier x.
        bad_lines: unreadable journal lines (e.g. the torn last line of a crash).
    """

    files: list[Path] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)
    windows: int = 0
    created: int = 0
    appended: int = 0
    rewritten: int = 0
    unchanged: int = 0
    points: int = 0
    uploaded: int = 0
    skipped: int = 0
    superseded: int = 0
    bad_lines: int = 0

    def __str__(self) -> str:
        return (
            f"{self.points} points in {self.windows} window(s) from {len(self.files)} journal "
            f"file(s): {self.uploaded} uploaded, {self.skipped} already on the server, "
            f"{self.superseded} superseded; windows: {self.created} created, {self.appended} "
            f"appended, {self.rewritten} rewritten, {self.unchanged} unchanged"
        )


def replay(
    journal: str | os.PathLike[str],
    server: Any = None,
    env: str | None = None,
    *,
    max_points: int | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 60.0,
) -> ReplaySummary:
    """Upload a journal file (or every journal in a run folder) to a Visdom server.

    Args:
        journal: a ``visdom-journal-*.jsonl`` file or the run folder holding them.
        server: URL, :class:`~visdomkit.VisdomServer` or ``None`` (``$VISDOMKIT_SERVER`` or
            ``http://127.0.0.1:8097``).
        env: write every window to this env instead of the env recorded in the journal.
        max_points: the most points per window (default: the transport's default).
        username: login, when the server has login enabled (default ``$VISDOM_USERNAME``).
        password: its password (default ``$VISDOM_PASSWORD``).
        timeout: read timeout of one request, in seconds.

    Returns:
        A :class:`ReplaySummary`.

    Raises:
        FileNotFoundError: no such journal.
        ValueError: a bad ``server`` or ``env``.
        visdomkit.wire.VisdomUnavailable: the server cannot be reached.

    Example:
        >>> summary = replay("runs/mnist", server="http://127.0.0.1:8097")  # doctest: +SKIP
        >>> print(summary)  # doctest: +SKIP
        300000 points in 15 window(s) from 1 journal file(s): 300000 uploaded, 0 already on ...
    """
    from visdomkit.transport import DEFAULT_MAX_POINTS, resolve_server, validate_env

    url = resolve_server(server)
    if env is not None:
        env = validate_env(env)
    max_points = DEFAULT_MAX_POINTS if max_points is None else int(max_points)
    creds = getattr(server, "credentials", None) or {}
    http = wire.VisdomHTTP(
        url,
        username=username or creds.get("username") or os.environ.get("VISDOM_USERNAME"),
        password=password or creds.get("password") or os.environ.get("VISDOM_PASSWORD"),
        timeout=(wire.DEFAULT_TIMEOUT[0], timeout),
    )
    content = read_journal(journal)
    summary = ReplaySummary(files=content.files, points=content.points, bad_lines=content.bad_lines)
    try:
        for journal_env, windows in content.windows.items():
            target = env or validate_env(journal_env)
            if target not in summary.envs:
                summary.envs.append(target)
            for view in windows.values():
                summary.windows += 1
                if view.kind == "text":
                    _replay_text(http, target, view, summary)
                else:
                    _replay_line(http, target, view, max_points, summary)
    finally:
        http.close()
    summary.superseded = summary.points - summary.uploaded - summary.skipped
    log.debug("replayed %s to %s: %s", journal, url, summary)
    return summary


def _replay_text(http: wire.VisdomHTTP, env: str, view: WindowView, summary: ReplaySummary) -> None:
    pane = http.window_data(env, view.id)
    if pane and pane.get("type") == "text" and pane.get("content") == view.text:
        summary.unchanged += 1
        return
    summary.created += pane is None
    summary.rewritten += pane is not None
    http.post(
        *wire.text_window(
            env, view.id, view.title, view.text or "", width=view.width, height=view.height
        )
    )


def _server_traces(pane: dict | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not pane or pane.get("type") != "plot":
        return {}
    traces = {}
    for t in pane.get("content", {}).get("data", []):
        xs = np.array([math.nan if v is None else float(v) for v in t.get("x") or []])
        ys = np.array([math.nan if v is None else float(v) for v in t.get("y") or []])
        traces[str(t.get("name"))] = (xs, ys)
    return traces


def _compare(
    series: Series, held: tuple[np.ndarray, np.ndarray] | None, log_y: bool = False
) -> tuple[bool, int]:
    """``(consistent, covered)``: whether the server's points in the journal's range are journal
    points, and how many journal points lie at or before the server's last x. With ``log_y``
    journal values <= 0 count as the gaps the server holds for them."""
    if held is None or not len(series):
        return True, 0
    jx = np.frombuffer(series.xs, dtype=float)
    jy = np.frombuffer(series.ys, dtype=float)
    if log_y:
        jy = np.where(jy > 0, jy, np.nan)
    sx, sy = held
    inside = sx >= jx[0]
    sx, sy = sx[inside], sy[inside]
    if not len(sx):
        return True, 0
    idx = np.clip(np.searchsorted(jx, sx), 0, len(jx) - 1)
    same_y = (jy[idx] == sy) | (np.isnan(jy[idx]) & np.isnan(sy))
    consistent = bool(np.all((jx[idx] == sx) & same_y))
    return consistent, int(np.searchsorted(jx, sx[-1], side="right"))


def _replay_line(
    http: wire.VisdomHTTP, env: str, view: WindowView, max_points: int, summary: ReplaySummary
) -> None:
    pane = http.window_data(env, view.id)
    held = _server_traces(pane)
    total = view.count()
    checks = {name: _compare(s, held.get(name), view.log_y) for name, s in view.series.items()}
    covered = sum(c for _, c in checks.values())
    summary.skipped += covered
    summary.uploaded += total - covered
    if pane is None or pane.get("type") != "plot":
        summary.created += 1
        _rewrite(http, env, view, [], max_points)
        return
    if covered == total and all(ok for ok, _ in checks.values()):
        summary.unchanged += 1
        return
    new_points = total - covered
    held_points = sum(len(x) for x, _ in held.values())
    if (
        all(ok for ok, _ in checks.values())
        and set(view.series) <= set(held)
        and held_points + new_points <= max_points
    ):
        summary.appended += 1
        for name, s in view.series.items():
            start = checks[name][1]
            if start < len(s):
                traces = [wire.trace(name, s.xs[start:], s.ys[start:], log_y=view.log_y)]
                http.post(
                    *wire.line_append(
                        env,
                        view.id,
                        view.title,
                        view.xlabel,
                        view.ylabel,
                        traces,
                        name,
                        showlegend=len(held) > 1,
                        ytype=view.ytype,
                    )
                )
        return
    summary.rewritten += 1
    server_traces = [(name, x.tolist(), y.tolist()) for name, (x, y) in held.items()]
    _rewrite(http, env, view, server_traces, max_points)


def _rewrite(
    http: wire.VisdomHTTP, env: str, view: WindowView, server_traces: list, max_points: int
) -> None:
    merged = WindowView(
        id=view.id,
        name=view.name,
        title=view.title,
        xlabel=view.xlabel,
        ylabel=view.ylabel,
        ytype=view.ytype,
    )
    merged.series = {
        name: Series(name, s.xs, s.ys) for name, s in view.series.items()
    }  # a copy: adopt() and decimation change it
    merged.adopt(server_traces)
    merged.enforce_cap(max_points)
    traces = [wire.trace(s.name, s.xs, s.ys, log_y=view.log_y) for s in merged.series.values()]
    http.post(
        *wire.line_window(env, view.id, view.title, view.xlabel, view.ylabel, traces, view.ytype)
    )
