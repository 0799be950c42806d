"""The run's journal: every point a Transport was given, at full resolution, append-only on disk.

One JSON object per line (JSON Lines), written by the transport's background thread, flushed to
the OS after every batch and fsync'ed at every :meth:`Transport.flush`:

``{"t": "open", "v": 1, "env": ..., "server": ..., "pid": ..., "time": ...}``
    first line of every file.
``{"t": "win", "w": ID, "name": ..., "kind": "line" | "text", "title": ..., "xlabel": ...,``
``"ylabel": ..., "ytype": "linear" | "log"}``
    once per window, before its first points (``ytype`` is absent from older journals: linear).
``{"t": "pts", "w": ID, "s": SERIES, "seq": N, "x": [...], "y": [...]}``
    points of one series in logging order; NaN/±Inf are the strings ``"nan"``/``"inf"``/``"-inf"``
    so the file stays valid JSON and keeps the exact value. ``seq`` numbers the records.
``{"t": "text", "w": ID, "seq": N, "text": ..., "width": ..., "height": ...}``
    the new content of a text pane (``width``/``height`` in pixels only when they were given).

:func:`read_journal` rebuilds what every window should show from one file or a run folder (a
torn last line after a crash is skipped); :func:`visdomkit.replay.replay` uploads it.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from visdomkit.series import WindowView

log = logging.getLogger("visdomkit")

JOURNAL_GLOB = "visdom-journal-*.jsonl"
_counter = itertools.count()
_abandoned: list[IO[str]] = []


def new_journal_path(run_dir: str | os.PathLike[str]) -> Path:
    """A fresh journal file name in ``run_dir``, unique per process and transport."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(run_dir) / f"visdom-journal-{stamp}-{os.getpid()}-{next(_counter)}.jsonl"


def _jsonable(y: float) -> float | str:
    return y if math.isfinite(y) else repr(y)  # 'nan', 'inf', '-inf'


def _parse(y: Any) -> float:
    if y is None:
        return math.nan
    return float(y)  # float("nan"), float("inf") read the strings back


class JournalWriter:
    """Appends records to one journal file; the file is created on the first write.

    Not thread-safe: the transport calls it from one thread at a time.

    Args:
        path: the journal file.
        env: Visdom env of the windows it records.
        server: server URL, for information.

    Example:
        >>> w = JournalWriter(Path("j.jsonl"), env="main", server="http://x")  # doctest: +SKIP
        >>> w.points(view, "loss", [0.0, 1.0], [0.5, float("nan")]); w.sync()  # doctest: +SKIP
    """

    def __init__(self, path: Path, *, env: str, server: str) -> None:
        self.path = Path(path)
        self.env = env
        self.server = server
        self._file: IO[str] | None = None
        self._known: set[str] = set()
        self._seq = 0
        self._unsynced = False

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
            self._known.clear()  # a reopened file repeats window records: harmless on replay
            self._write(
                {
                    "t": "open",
                    "v": 1,
                    "env": self.env,
                    "server": self.server,
                    "pid": os.getpid(),
                    "time": time.time(),
                }
            )
        return self._file

    def _write(self, record: dict) -> None:
        assert self._file is not None
        self._file.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        self._unsynced = True

    def _window(self, view: WindowView) -> None:
        self._open()
        if view.id not in self._known:
            self._known.add(view.id)
            self._write(
                {
                    "t": "win",
                    "w": view.id,
                    "name": view.name,
                    "kind": view.kind,
                    "title": view.title,
                    "xlabel": view.xlabel,
                    "ylabel": view.ylabel,
                    "ytype": view.ytype,
                }
            )

    def points(self, view: WindowView, series: str, xs: list[float], ys: list[float]) -> None:
        """Record points of one series (in logging order)."""
        self._window(view)
        self._seq += 1
        self._write(
            {
                "t": "pts",
                "w": view.id,
                "s": series,
                "seq": self._seq,
                "x": xs,
                "y": [_jsonable(y) for y in ys],
            }
        )

    def text(self, view: WindowView, text: str) -> None:
        """Record the new content of a text pane."""
        self._window(view)
        self._seq += 1
        record = {"t": "text", "w": view.id, "seq": self._seq, "text": text}
        if view.width is not None:
            record["width"] = view.width
        if view.height is not None:
            record["height"] = view.height
        self._write(record)

    def flush(self) -> None:
        """Hand written records to the OS (they survive a crash of this process)."""
        if self._file is not None:
            self._file.flush()

    def sync(self) -> None:
        """Make written records durable (fsync)."""
        if self._file is not None and self._unsynced:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._unsynced = False

    def abandon(self) -> None:
        """Forget the file without writing (a forked child: the parent owns the file and any
        records still in the inherited buffer)."""
        if self._file is not None:
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._file.fileno())  # a later flush of the copy goes nowhere
                os.close(devnull)
            except OSError:
                pass
            _abandoned.append(self._file)  # never finalized here, so never flushed
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None


@dataclass
class JournalContent:
    """What a journal (or a run folder of journals) says the dashboard should show.

    Attributes:
        windows: per env, the windows at full resolution, in order of first appearance.
        points: number of points read.
        files: journal files read, in replay order.
        bad_lines: lines that could not be parsed (e.g. torn by a crash) and were skipped.
    """

    windows: dict[str, dict[str, WindowView]] = field(default_factory=dict)
    points: int = 0
    files: list[Path] = field(default_factory=list)
    bad_lines: int = 0


def journal_files(path: str | os.PathLike[str]) -> list[Path]:
    """The journal file itself, or every journal in a run folder ordered by when it was opened."""
    path = Path(path)
    if path.is_dir():
        files = list(path.glob(JOURNAL_GLOB))
        return sorted(files, key=lambda f: (_opened_at(f), f.name))
    if not path.is_file():
        raise FileNotFoundError(f"journal not found: {str(path)!r}")
    return [path]


def _opened_at(path: Path) -> float:
    try:
        with open(path, encoding="utf-8") as f:
            return float(json.loads(f.readline()).get("time", 0.0))
    except (OSError, ValueError, AttributeError):
        return 0.0


def read_journal(path: str | os.PathLike[str]) -> JournalContent:
    """Rebuild every window from a journal file or a run folder, applying the series rules.

    Args:
        path: a journal file or a folder of them.

    Example:
        >>> content = read_journal("runs/mnist")  # doctest: +SKIP
        >>> content.points, list(content.windows)  # doctest: +SKIP
        (300000, ['mnist'])
    """
    content = JournalContent(files=journal_files(path))
    for file in content.files:
        env = None
        with open(file, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    kind = rec["t"]
                except (ValueError, KeyError, TypeError):
                    content.bad_lines += 1
                    continue
                if kind == "open":
                    env = rec.get("env", "main")
                    continue
                windows = content.windows.setdefault(env or "main", {})
                if kind == "win":
                    view = windows.get(rec["w"])
                    if view is None:
                        windows[rec["w"]] = WindowView(
                            id=rec["w"],
                            name=rec.get("name", rec["w"]),
                            kind=rec.get("kind", "line"),
                            title=rec.get("title", ""),
                            xlabel=rec.get("xlabel", "step"),
                            ylabel=rec.get("ylabel", ""),
                            ytype="log" if rec.get("ytype") == "log" else "linear",
                        )
                elif kind == "pts":
                    view = windows.setdefault(rec["w"], WindowView(id=rec["w"], name=rec["w"]))
                    for x, y in zip(rec["x"], rec["y"], strict=False):
                        view.add(rec["s"], float(x), _parse(y))
                        content.points += 1
                elif kind == "text":
                    view = windows.setdefault(
                        rec["w"], WindowView(id=rec["w"], name=rec["w"], kind="text")
                    )
                    view.set_text(rec["text"])
                    view.width, view.height = rec.get("width"), rec.get("height")
    if content.bad_lines:
        log.warning("skipped %d unreadable journal line(s) in %s", content.bad_lines, path)
    return content


def replay(journal: str | os.PathLike[str], server: Any = None, env: str | None = None, **kwargs):
    """Upload a journal to a server: see :func:`visdomkit.replay.replay` (same arguments)."""
    from visdomkit.replay import replay as _replay  # replay imports this module

    return _replay(journal, server, env, **kwargs)
