"""See the dashboard as a person does: a Visdom env page in headless Chromium.

Two uses:

* :func:`take_screenshots` (``python -m visdomkit screenshot``) runs the demo against a fresh local
  server and saves the README's pictures: ``1.png`` after stage 1 (3 plots), ``2.png`` after
  stage 3 (6 plots) and ``3.png`` after the whole demo (15 plots).
* :class:`Dashboard` opens one env's page and reports what it *drew*: each window's title, its
  place on the page, and for each Plotly trace the line pieces and markers in the SVG, mapped back
  to data coordinates. The browser tests (``tests/test_browser.py``) are built on it.

Browser automation is Playwright for Python (a maintained library, rather than hand-written
DevTools-protocol code). It drives an installed Chromium (Debian's ``chromium`` package, or any
Chrome named by ``$VISDOMKIT_CHROMIUM``) through ``executable_path``, because Playwright's own
browser download needs internet access. Playwright is imported only when a browser is opened, so
importing this module is cheap and works without it.

The DOM of visdom 0.3.0's page, which the selectors below rely on::

    .react-grid-layout > .react-grid-item           one per Visdom window, absolutely placed
        .window > .bar > div.pull-right             the window's title (opts.title)
        .window > .content                          what the window shows (text, or a plot:)
            .js-plotly-plot                         the Plotly graph div (``gd``: gd.data, ...)
            .scatterlayer .trace                    one per drawn trace (d3 data: calcdata)
                .lines path.js-line                 one per connected piece of a line
                .points path.point                  one per drawn marker
            .infolayer .gtitle                      the plot's own title
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from playwright.sync_api import Browser, Page

log = logging.getLogger("visdomkit")

#: Environment variable naming the Chromium/Chrome executable to drive.
CHROMIUM_ENV = "VISDOMKIT_CHROMIUM"
#: Executables looked up on ``$PATH`` when ``$VISDOMKIT_CHROMIUM`` is not set, in order.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: Extra Chromium switches. Playwright itself adds ``--headless`` and a fresh temporary
#: ``--user-data-dir`` (deleted on close). The background-networking switches keep Chromium from
#: phoning home, which on a closed network only produces refused connections and log noise.
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in containers and CI
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
)

#: The README's pictures are made at this viewport width. visdom 0.3.0 packs windows three to a
#: row whatever the page's width (its packer keeps the column count it had at load), so a wider
#: page only adds empty space on the right; below ~1330 px the top bar wraps over the windows.
DEFAULT_WIDTH = 1360
DEFAULT_HEIGHT = 1000

SELECTORS: dict[str, str] = {
    "pane": ".react-grid-layout > .react-grid-item",
    "title": ".window > .bar > div.pull-right",
    "content": ".window > .content",
    "plot": ".js-plotly-plot",
    "plot_title": ".infolayer .gtitle",
    "trace": ".scatterlayer .trace",
    "line": ".lines path.js-line",
    "marker": ".points path.point",
}

#: Console errors to disregard, matched against the URL the message is about. Empty: stock
#: visdom's one page-wide error (a 404 for the relative ``/env/favicon.png`` link) is fixed in the
#: server process we launch (``visdomkit._server_main.serve_favicon``), so every error counts.
IGNORED_ERROR_URLS: tuple[re.Pattern[str], ...] = ()

# Reads every window in one round trip. Line vertices are parsed from each path's "d" (Plotly
# writes "M x,y L x,y ..."; the coordinates are relative to the plot area, as Plotly's axis
# p2l expects) and mapped back to data coordinates with the axes of that plot.
_READ_PANES_JS = r"""
(sel) => {
  const num = /[ML]\s*(-?[0-9.]+(?:e[-+]?[0-9]+)?)[ ,](-?[0-9.]+(?:e[-+]?[0-9]+)?)/gi;
  const toData = (ax, px) => {
    const l = ax.p2l(px);
    return ax.type === 'log' ? Math.pow(10, l) : l;
  };
  return [...document.querySelectorAll(sel.pane)].map((item) => {
    const r = item.getBoundingClientRect();
    const bar = item.querySelector(sel.title);
    const pane = {
      title: bar ? bar.textContent.trim() : '',
      box: [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height],
      plot_title: null,
      traces: [],
      is_plot: false,
      text: null,
    };
    const gd = item.querySelector(sel.plot);
    if (!gd) {
      const content = item.querySelector(sel.content);
      pane.text = content ? content.innerText.trim() : '';
      return pane;
    }
    pane.is_plot = true;
    if (!gd._fullLayout) return pane;  // Plotly has not drawn it yet
    const gt = gd.querySelector(sel.plot_title);
    pane.plot_title = gt ? gt.textContent : null;
    pane.traces = [...gd.querySelectorAll(sel.trace)].map((g) => {
      const cd = g.__data__;  // d3 binds Plotly's calcdata to each trace group
      const full = cd && cd[0] && cd[0].trace;
      const xa = full && full._xA ? full._xA : gd._fullLayout.xaxis;
      const ya = full && full._yA ? full._yA : gd._fullLayout.yaxis;
      const input = full && gd.data ? gd.data[full.index] : null;
      const segments = [...g.querySelectorAll(sel.line)].map((p) => {
        const out = [];
        const d = p.getAttribute('d') || '';
        for (const m of d.matchAll(num)) {
          out.push([toData(xa, parseFloat(m[1])), toData(ya, parseFloat(m[2]))]);
        }
        return out;
      }).filter((s) => s.length > 0);
      return {
        name: full ? (full.name ?? null) : null,
        data_points: input && input.x ? input.x.length : (input && input.y ? input.y.length : 0),
        segments: segments,
        markers: g.querySelectorAll(sel.marker).length,
      };
    });
    return pane;
  });
}
"""


class BrowserUnavailable(RuntimeError):
    """No Playwright or no Chromium: the message says which and how to install it."""


class DashboardError(RuntimeError):
    """The page did not show what was expected in time; the message says what it showed."""


# -- what the page drew -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One Plotly trace as drawn.

    Attributes:
        name: the trace's name (the series).
        data_points: how many points the page holds for it (Plotly's ``gd.data``).
        segments: the drawn line, one tuple of ``(x, y)`` vertices (data coordinates) per
            connected piece. A gap (NaN) in the data splits the line into pieces. Plotly leaves
            out vertices that lie on a straight line between their neighbours, so a piece can
            have fewer vertices than the data has points.
        markers: how many markers are drawn.
    """

    name: str | None
    data_points: int
    segments: tuple[tuple[tuple[float, float], ...], ...]
    markers: int = 0

    @property
    def line_vertices(self) -> int:
        """Vertices over all line pieces."""
        return sum(len(s) for s in self.segments)

    @property
    def drawn_points(self) -> int:
        """Points the SVG shows: line vertices or markers, whichever is more."""
        return max(self.line_vertices, self.markers)

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """``(x where a piece ends, x where the next begins)`` for each break in the line."""
        return [(a[-1][0], b[0][0]) for a, b in zip(self.segments, self.segments[1:], strict=False)]

    @property
    def x_range(self) -> tuple[float, float] | None:
        """Smallest and largest drawn x, or ``None`` when no line is drawn."""
        xs = [x for seg in self.segments for x, _ in seg]
        return (min(xs), max(xs)) if xs else None

    @property
    def y_range(self) -> tuple[float, float] | None:
        """Smallest and largest drawn y, or ``None`` when no line is drawn."""
        ys = [y for seg in self.segments for _, y in seg]
        return (min(ys), max(ys)) if ys else None


@dataclass(frozen=True)
class Pane:
    """One Visdom window as shown on the page.

    Attributes:
        title: the title in the window's bar.
        plot_title: the title Plotly drew inside the plot (``None`` for non-plot windows).
        box: ``(x, y, width, height)`` in CSS pixels from the top left of the page.
        traces: the drawn traces (empty for non-plot windows, or a plot that drew nothing).
        is_plot: whether the window holds a Plotly graph.
        text: the visible text of a window that is not a plot (``None`` for plots).
    """

    title: str
    plot_title: str | None
    box: tuple[float, float, float, float]
    traces: tuple[Trace, ...] = field(default_factory=tuple)
    is_plot: bool = False
    text: str | None = None

    @property
    def drawn_points(self) -> int:
        """Points drawn over all traces."""
        return sum(t.drawn_points for t in self.traces)

    def drawn(self, min_points: int = 1) -> bool:
        """Whether the window is a plot and each of its traces drew at least ``min_points``."""
        return (
            self.is_plot
            and bool(self.traces)
            and all(t.drawn_points >= min_points for t in self.traces)
        )


def overlapping(panes: Sequence[Pane]) -> list[tuple[str, str]]:
    """Pairs of window titles whose boxes overlap on the page (touching edges do not count)."""
    pairs = []
    for i, a in enumerate(panes):
        ax, ay, aw, ah = a.box
        for b in panes[i + 1 :]:
            bx, by, bw, bh = b.box
            if (
                ax < bx + bw - 0.5
                and bx < ax + aw - 0.5
                and ay < by + bh - 0.5
                and by < ay + ah - 0.5
            ):
                pairs.append((a.title, b.title))
    return pairs


def _pane_from_js(raw: dict[str, Any]) -> Pane:
    traces = tuple(
        Trace(
            name=t["name"],
            data_points=int(t["data_points"]),
            segments=tuple(tuple((float(x), float(y)) for x, y in seg) for seg in t["segments"]),
            markers=int(t["markers"]),
        )
        for t in raw["traces"]
    )
    return Pane(
        title=raw["title"],
        plot_title=raw["plot_title"],
        box=tuple(float(v) for v in raw["box"]),  # type: ignore[arg-type]
        traces=traces,
        is_plot=bool(raw["is_plot"]),
        text=raw["text"],
    )


# -- the browser --------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium executable to drive: ``$VISDOMKIT_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on ``$PATH``; ``None`` when there is none."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        path = shutil.which(named)
        return path if path else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_unavailable_reason() -> str | None:
    """Why no browser can be opened here, or ``None`` when one can.

    Checks that Playwright for Python is importable and that a Chromium executable exists; it
    does not start the browser.
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if find_chromium() is None:
        named = os.environ.get(CHROMIUM_ENV)
        if named:
            return f"${CHROMIUM_ENV}={named!r} is not an executable"
        return (
            "no Chromium found on PATH (looked for "
            + ", ".join(CHROMIUM_NAMES)
            + f"); install one (Debian/Ubuntu: apt-get install chromium) or set ${CHROMIUM_ENV}"
        )
    return None


@contextlib.contextmanager
def open_browser(executable: str | None = None) -> Iterator[Browser]:
    """Start headless Chromium with a fresh, temporary profile; close it on leaving.

    Args:
        executable: path of the Chromium/Chrome to run. Default: :func:`find_chromium`.

    Raises:
        BrowserUnavailable: Playwright is not installed or no Chromium was found.

    Example:
        >>> with open_browser() as browser:  # doctest: +SKIP
        ...     with Dashboard(browser, "http://127.0.0.1:8097/env/main") as page:
        ...         print([p.title for p in page.wait_for_panes(3)])
    """
    if executable is None:
        reason = browser_unavailable_reason()
        executable = find_chromium()
    else:
        found = shutil.which(executable)
        reason = None if found else f"executable={executable!r} is not an executable"
        executable = found
    if reason is None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "Playwright for Python is not installed (pip install playwright)"
    if reason:
        raise BrowserUnavailable(reason)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        log.debug("chromium %s started (%s)", browser.version, executable)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class ConsoleEntry:
    """A console message or an uncaught page error."""

    type: str
    text: str
    url: str = ""

    def __str__(self) -> str:
        return f"[{self.type}] {self.text}" + (f" ({self.url})" if self.url else "")


class Dashboard:
    """One Visdom env page in its own browser context (fresh storage, so visdom's saved layouts
    and views from other pages do not apply).

    Args:
        browser: from :func:`open_browser`.
        url: the page, e.g. ``VisdomServer.env_url("my_run")``.
        width: viewport width in CSS pixels.
        height: viewport height in CSS pixels.
        timeout: default seconds for loading and waiting.

    Every console message and uncaught JavaScript error from the moment the page opens is kept in
    :attr:`console`; :attr:`console_errors` lists the errors that matter.

    Example:
        >>> with open_browser() as browser, Dashboard(browser, server.env_url("run")) as page:
        ...     panes = page.wait_for_panes(3, min_points=2)  # doctest: +SKIP
        ...     assert not page.console_errors  # doctest: +SKIP
    """

    def __init__(
        self,
        browser: Browser,
        url: str,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        timeout: float = 30.0,
    ) -> None:
        self.browser = browser
        self.url = url
        self.width = width
        self.height = height
        self.timeout = timeout
        self.console: list[ConsoleEntry] = []
        self._context = None
        self._page: Page | None = None

    # -- open and close --------------------------------------------------------------------

    def open(self) -> Dashboard:
        """Open the page and wait until visdom's app has rendered its top bar."""
        self._context = self.browser.new_context(
            viewport={"width": self.width, "height": self.height}
        )
        page = self._context.new_page()
        page.set_default_timeout(self.timeout * 1000)
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        self._page = page
        page.goto(self.url, wait_until="load")
        page.wait_for_selector(".react-grid-layout", state="attached")
        return self

    def close(self) -> None:
        """Close the page and its browser context."""
        if self._context is not None:
            self._context.close()
        self._context = self._page = None

    def __enter__(self) -> Dashboard:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def page(self) -> Page:
        """The Playwright page (open it first)."""
        if self._page is None:
            raise RuntimeError("the dashboard is not open; call open() or use it in a with block")
        return self._page

    def reload(self) -> None:
        """Load the page again (keeps the collected console messages)."""
        self.page.reload(wait_until="load")
        self.page.wait_for_selector(".react-grid-layout", state="attached")

    # -- console ---------------------------------------------------------------------------

    def _on_console(self, msg) -> None:
        url = (msg.location or {}).get("url", "") if hasattr(msg, "location") else ""
        self.console.append(ConsoleEntry(msg.type, msg.text, url))

    def _on_page_error(self, error) -> None:
        self.console.append(ConsoleEntry("pageerror", str(error)))

    @property
    def console_errors(self) -> list[str]:
        """Console errors and uncaught exceptions, less :data:`IGNORED_ERROR_URLS`."""
        return [
            str(e)
            for e in self.console
            if e.type in ("error", "pageerror")
            and not any(p.search(e.url) for p in IGNORED_ERROR_URLS)
        ]

    # -- what is drawn ---------------------------------------------------------------------

    def panes(self) -> list[Pane]:
        """Every window on the page, in the page's order, with what it drew."""
        raw = self.page.evaluate(_READ_PANES_JS, SELECTORS)
        return [_pane_from_js(r) for r in raw]

    def wait_until(
        self,
        condition: Callable[[list[Pane]], bool],
        *,
        timeout: float | None = None,
        what: str = "the condition",
        poll: float = 0.25,
    ) -> list[Pane]:
        """Read :meth:`panes` until ``condition(panes)`` holds; return those panes.

        Raises:
            DashboardError: not within ``timeout`` seconds; the message lists what was drawn.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            panes = self.panes()
            if condition(panes):
                return panes
            if time.monotonic() > deadline:
                raise DashboardError(
                    f"{what} not met on {self.url} within {timeout or self.timeout:.0f} s; "
                    f"the page shows {describe(panes)}"
                )
            self.page.wait_for_timeout(poll * 1000)

    def wait_for_panes(
        self,
        count: int | None = None,
        *,
        plots: int | None = None,
        titles: Sequence[str] = (),
        min_points: int = 1,
        timeout: float | None = None,
    ) -> list[Pane]:
        """Wait until the page shows what is asked, and every plot has drawn.

        Args:
            count: the exact number of windows of any kind (``None``: any number, at least one).
            plots: the exact number of windows that are plots (``None``: any number).
            titles: titles that must be among the windows.
            min_points: the least points each trace of each plot must draw.
            timeout: seconds (default: the dashboard's ``timeout``).

        Returns:
            The windows, read once more after two identical reads (the page has settled).

        Raises:
            DashboardError: not in time; the message lists what the page shows.
        """

        def ready(panes: list[Pane]) -> bool:
            have = {p.title for p in panes}
            shown = [p for p in panes if p.is_plot]
            return (
                bool(panes)
                and (count is None or len(panes) == count)
                and (plots is None or len(shown) == plots)
                and all(t in have for t in titles)
                and all(p.drawn(min_points) for p in shown)
            )

        wanted = [f"{count} windows" if count is not None else ""]
        wanted.append(f"{plots} plots" if plots is not None else "")
        wanted.append(f"titles {sorted(titles)}" if titles else "")
        what = " and ".join(w for w in wanted if w) or "a window"
        what += f", every trace drawn with {min_points}+ points"
        self.wait_until(ready, timeout=timeout, what=what)
        return self.settle()

    def settle(self, *, timeout: float = 5.0) -> list[Pane]:
        """Read the windows until two reads in a row agree (nothing is still moving)."""
        deadline = time.monotonic() + timeout
        last = self.panes()
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(200)
            now = self.panes()
            if now == last:
                return now
            last = now
        return last

    # -- pictures --------------------------------------------------------------------------

    def save_png(self, path: str | os.PathLike[str], *, margin: int = 10) -> Path:
        """Save the page as a PNG: full width, from the top bar down to the lowest window.

        The picture reaches below the viewport when windows do; it ends ``margin`` pixels under
        the lowest window instead of showing the empty page below it.
        """
        panes = self.settle()
        bottom = max((p.box[1] + p.box[3] for p in panes), default=self.height - margin)
        height = int(bottom + margin + 0.999)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        self.page.evaluate("document.fonts.ready")
        self.page.screenshot(
            path=str(tmp),
            type="png",
            full_page=True,
            clip={"x": 0, "y": 0, "width": self.width, "height": height},
            animations="disabled",
        )
        os.replace(tmp, path)
        return path


def describe(panes: Sequence[Pane]) -> str:
    """A short account of the windows for error messages."""
    if not panes:
        return "no windows"
    parts = [
        f"{p.title!r} ({len(p.traces)} traces, {p.drawn_points} points drawn)"
        if p.is_plot
        else f"{p.title!r} (text)"
        for p in panes
    ]
    return f"{len(panes)} windows: " + ", ".join(parts)


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of a PNG file, read from its header."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"not a PNG file: {path}")
    return struct.unpack(">II", head[16:24])


# -- the README's pictures ----------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One picture: the demo runs that lead to it, and what its page must show.

    Attributes:
        name: file name in the output folder.
        runs: ``run_demo(stages=...)`` calls, in order, into one env on a fresh server. When the
            runs of the picture before are a prefix of these, that server is reused and only the
            remaining runs are made.
        plots: the number of plot windows the page must show (text windows, such as the
            Lightning logger's ``status``, ``hparams`` and ``model``, come on top).
        titles: titles that must be among them.
        caption: what the picture shows.
    """

    name: str
    runs: tuple[tuple[str, ...], ...]
    plots: int
    titles: tuple[str, ...]
    caption: str


STAGE1_TITLES = ("loss", "accuracy", "learning_rate")
STAGE3_TITLES = ("train_loss", "val_acc", "epoch")

#: The README's pictures. ``2.png`` is stage 3 without the gradient monitor, added to stage 1's
#: env; ``3.png`` is the whole demo as ``make demo`` runs it (stage 4 only runs inside stage 3's
#: Lightning run, so it starts again on a fresh server).
SHOTS: tuple[Shot, ...] = (
    Shot("1.png", (("1",),), 3, STAGE1_TITLES, "after stage 1 (hand-written loop): 3 plots"),
    Shot(
        "2.png",
        (("1",), ("3",)),
        6,
        STAGE1_TITLES + STAGE3_TITLES,
        "after stage 3 (Lightning with VisdomLogger): 6 plots",
    ),
    Shot(
        "3.png",
        (("1", "3", "4"),),
        15,
        STAGE1_TITLES + STAGE3_TITLES,
        "the whole demo, with stage 4's gradient norms: 15 plots",
    ),
)


def take_screenshots(
    out_dir: str | os.PathLike[str] = "images",
    *,
    fast: bool = True,
    epochs: int = 3,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    env: str | None = None,
    only: Sequence[str] | None = None,
    executable: str | None = None,
    timeout: float = 120.0,
) -> list[Path]:
    """Run the demo on a fresh local server and save the README's pictures of its dashboard.

    Each picture is checked before it is saved: the expected number of plots, the expected
    titles among them, every plot drawn (at least two points per trace) and no two windows
    overlapping. Servers, envs, journals and Lightning run folders live in a temporary folder
    that is removed afterwards; only the PNGs stay.

    Args:
        out_dir: folder for ``1.png``, ``2.png`` and ``3.png`` (created if missing).
        fast: train on the demo's small subset (1,024 / 512 digits).
        epochs: epochs per stage.
        width: viewport width in CSS pixels (see :data:`DEFAULT_WIDTH`).
        height: viewport height; a picture extends below it when windows do, and ends under
            the lowest window.
        env: the Visdom env name shown in the pictures. Default: the demo's.
        only: names of the pictures to make (e.g. ``["1.png"]``). Default: all of :data:`SHOTS`.
        executable: the Chromium to drive. Default: :func:`find_chromium`.
        timeout: seconds to wait for the page to draw each picture's windows.

    Returns:
        The paths written, in order.

    Raises:
        BrowserUnavailable: no Playwright or no Chromium.
        DashboardError: a page did not show what its picture needs; nothing is written for it.
        ValueError: ``only`` names an unknown picture.

    Example:
        >>> take_screenshots("images")  # doctest: +SKIP
        [PosixPath('images/1.png'), PosixPath('images/2.png'), PosixPath('images/3.png')]
    """
    from visdomkit.demo import DEFAULT_ENV, run_demo
    from visdomkit.server import VisdomServer

    names = [s.name for s in SHOTS]
    if only is not None and (not only or set(only) - set(names)):
        raise ValueError(f"only must name pictures among {names}, got {list(only)!r}")
    env = env or DEFAULT_ENV
    out = Path(out_dir)
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="visdomkit-shots-")))
        stack.enter_context(_env_var("VISDOMKIT_RUN_DIR", str(tmp / "journals")))
        browser = stack.enter_context(open_browser(executable))
        server: VisdomServer | None = None
        history: tuple[tuple[str, ...], ...] = ()
        for n, shot in enumerate(s for s in SHOTS if only is None or s.name in only):
            if server is None or shot.runs[: len(history)] != history:
                if server is not None:
                    server.stop()
                server = VisdomServer(env_path=tmp / f"envs-{n}").start()
                stack.callback(server.stop)
                history = ()
            for stages in shot.runs[len(history) :]:
                log.info("%s: demo stages %s into env %s", shot.name, ",".join(stages), env)
                run_demo(
                    server,
                    env=env,
                    epochs=epochs,
                    fast=fast,
                    run_dir=tmp / f"lightning-{n}",
                    stages=stages,
                )
            history = shot.runs
            with Dashboard(
                browser, server.env_url(env), width=width, height=height, timeout=timeout
            ) as page:
                panes = page.wait_for_panes(plots=shot.plots, titles=shot.titles, min_points=2)
                if overlapping(panes):
                    raise DashboardError(f"{shot.name}: windows overlap: {overlapping(panes)}")
                if page.console_errors:
                    log.warning("%s: the page logged errors: %s", shot.name, page.console_errors)
                path = page.save_png(out / shot.name)
            log.info("saved %s (%d x %d): %s", path, *png_size(path), shot.caption)
            written.append(path)
    return written


@contextlib.contextmanager
def _env_var(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


# -- command line -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``screenshot`` command's options to ``parser`` (also used by ``visdomkit.cli``)."""
    parser.add_argument("--out", default="images", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--width", type=int, default=DEFAULT_WIDTH, help="viewport width (default: %(default)s)"
    )
    parser.add_argument(
        "--height",
        type=int,
        default=DEFAULT_HEIGHT,
        help="viewport height; pictures extend to the lowest window (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per stage (default: 3)")
    parser.add_argument(
        "--full-data", action="store_true", help="train on all the data instead of --fast's subset"
    )
    parser.add_argument(
        "--only",
        help="comma-separated pictures to make, e.g. 1.png (default: "
        + ",".join(s.name for s in SHOTS)
        + ")",
    )
    parser.add_argument(
        "--chromium", help=f"Chromium executable (default: ${CHROMIUM_ENV} or one on PATH)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the ``screenshot`` command with parsed ``args``; print what was written."""
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    try:
        paths = take_screenshots(
            args.out,
            fast=not args.full_data,
            epochs=args.epochs,
            width=args.width,
            height=args.height,
            only=only,
            executable=args.chromium,
        )
    except (BrowserUnavailable, DashboardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        width, height = png_size(path)
        print(f"wrote {path} ({width} x {height})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m visdomkit.screenshot``: the same as ``python -m visdomkit screenshot``."""
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="python -m visdomkit screenshot",
            description=(
                "Run the demo on a fresh local server and save the README's pictures of the "
                "dashboard, seen in headless Chromium: 1.png after stage 1 (3 plots), 2.png "
                "after stage 3 (6 plots), 3.png after the whole demo (15 plots)."
            ),
        )
    )
    args = parser.parse_args(argv)
    ours = logging.getLogger("visdomkit")
    if all(isinstance(h, logging.NullHandler) for h in ours.handlers):
        # as the CLI does: our own messages at INFO, other libraries as they configure themselves
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
