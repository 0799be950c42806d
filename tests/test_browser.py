"""The dashboard as a person sees it: the env page in headless Chromium, against the real server.

These tests count what the page *drew* (SVG line vertices and markers, mapped back to data
coordinates), not the containers. Without Playwright or a Chromium they skip and say why; with
``VISDOMKIT_REQUIRE_BROWSER=1`` (CI) they fail instead, so a broken browser setup cannot pass
silently.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import pytest

from visdomkit import LinePlotter
from visdomkit.screenshot import (
    CHROMIUM_ENV,
    SHOTS,
    STAGE1_TITLES,
    STAGE3_TITLES,
    Dashboard,
    DashboardError,
    Pane,
    add_arguments,
    browser_unavailable_reason,
    open_browser,
    overlapping,
    png_size,
    run,
)

UNAVAILABLE = browser_unavailable_reason()
REQUIRED = os.environ.get("VISDOMKIT_REQUIRE_BROWSER", "") not in ("", "0")


@pytest.fixture(autouse=True)
def _journals_in_tmp(tmp_path, monkeypatch):
    """Keep the transports' journals out of the home folder."""
    monkeypatch.setenv("VISDOMKIT_RUN_DIR", str(tmp_path / "journals"))


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (each test gets its own context and page)."""
    if UNAVAILABLE:
        if REQUIRED:
            pytest.fail(f"VISDOMKIT_REQUIRE_BROWSER is set but {UNAVAILABLE}")
        pytest.skip(f"browser tests need a browser: {UNAVAILABLE}")
    with open_browser() as b:
        yield b


@pytest.fixture
def open_dashboard(browser, visdom_server):
    """``open_dashboard(env)``: the env's page, open until the test ends."""
    pages: list[Dashboard] = []

    def _open(env: str, **kwargs) -> Dashboard:
        page = Dashboard(browser, visdom_server.env_url(env), **kwargs).open()
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


def only(panes: list[Pane]) -> Pane:
    assert len(panes) == 1, [p.title for p in panes]
    return panes[0]


def near(a: float, b: float, span: float) -> bool:
    """Equal within 1% of the axis span (drawn vertices are rounded to 0.01 px)."""
    return abs(a - b) <= 0.01 * span


def assert_drawn_like_data(pane: Pane, xs: list[float], ys: list[float]) -> None:
    """The pane's one trace draws exactly the points (xs, ys): no more, no fewer, in place."""
    assert len(pane.traces) == 1, pane
    trace = pane.traces[0]
    assert trace.data_points == len(xs)
    drawn = [v for seg in trace.segments for v in seg]
    # Plotly drops vertices lying on a straight line between their neighbours; a curve with
    # every point bent (as below) keeps them all
    assert len(drawn) == len(xs), (pane.title, drawn)
    xspan = (max(xs) - min(xs)) or 1.0
    yspan = (max(ys) - min(ys)) or 1.0
    for (dx, dy), x, y in zip(drawn, xs, ys, strict=True):
        assert near(dx, x, xspan) and near(dy, y, yspan), (pane.title, (dx, dy), (x, y))


# -- the demo's dashboard -------------------------------------------------------------------------


def grad_norm_titles() -> set[str]:
    """Stage 4's windows: one per parameter of the demo's model, and the total."""
    from visdomkit.models import SimpleCNN

    return {f"grad_norm/{name}" for name, _ in SimpleCNN().named_parameters()} | {"grad_norm/total"}


def assert_plots_drawn(panes: list[Pane], min_points: int = 2) -> None:
    """Every plot is titled inside as on its bar and drew each trace; text windows show text."""
    for pane in panes:
        if pane.is_plot:
            assert pane.plot_title == pane.title
            assert pane.traces, pane.title
            for trace in pane.traces:
                assert trace.data_points >= min_points, (pane.title, trace)
                assert trace.drawn_points >= min_points, (pane.title, trace)
        else:
            assert pane.text, f"window {pane.title!r} shows nothing"
    assert overlapping(panes) == []


@pytest.mark.slow
def test_stage1_then_stage3_add_their_plots_live(
    visdom_server, env_name, open_dashboard, viz, tmp_path
):
    """1.png and 2.png: stage 1's 3 plots, then stage 3 (no gradient monitor) adds 3 more."""
    from visdomkit.demo import run_demo

    run_demo(visdom_server, env=env_name, epochs=2, fast=True, stages=("1",), run_dir=tmp_path)
    page = open_dashboard(env_name)
    panes = page.wait_for_panes(3, plots=3, titles=STAGE1_TITLES, min_points=2)

    assert sorted(p.title for p in panes) == sorted(STAGE1_TITLES)
    assert_plots_drawn(panes)
    # each drawn line is where the server has the points: one per epoch
    windows = json.loads(viz.get_window_data(env=env_name)).values()
    held = {w["title"]: w["content"]["data"][0] for w in windows}
    for pane in panes:
        trace, data = pane.traces[0], held[pane.title]
        assert len(pane.traces) == 1
        assert trace.markers == trace.data_points  # a short series: a marker on every point
        assert (pane.title == "learning_rate") == (axes(page)[pane.title]["y_type"] == "log")
        assert trace.data_points == len(data["x"]) == 2
        assert len(trace.segments) == 1 and trace.gaps == []
        assert trace.x_range == pytest.approx((min(data["x"]), max(data["x"])), abs=0.02)
        lo, hi = min(data["y"]), max(data["y"])
        assert trace.y_range == pytest.approx((lo, hi), abs=max(0.01 * (hi - lo), 1e-6))

    # stage 3 while the page stays open: its windows appear without a reload
    run_demo(visdom_server, env=env_name, epochs=2, fast=True, stages=("3",), run_dir=tmp_path)
    panes = page.wait_until(
        lambda ps: (
            {p.title for p in ps if p.is_plot} >= set(STAGE1_TITLES + STAGE3_TITLES)
            and all(p.drawn(2) for p in ps if p.is_plot)
        ),
        timeout=60,
        what="stage 3's plots",
    )
    panes = page.settle()
    plots = [p.title for p in panes if p.is_plot]
    assert sorted(plots) == sorted(STAGE1_TITLES + STAGE3_TITLES), "stages 1+3 add no grad norms"
    assert_plots_drawn(panes)
    assert page.console_errors == []


@pytest.mark.slow
def test_whole_demo_shows_fifteen_plots_drawn(visdom_server, env_name, open_dashboard, tmp_path):
    """3.png: stages 1, 3 and 4 give 15 plots (and the Lightning logger's text windows)."""
    from visdomkit.demo import run_demo

    run_demo(
        visdom_server, env=env_name, epochs=2, fast=True, stages=("1", "3", "4"), run_dir=tmp_path
    )
    page = open_dashboard(env_name)
    panes = page.wait_for_panes(plots=15, titles=STAGE1_TITLES + STAGE3_TITLES, timeout=60)

    plots = [p.title for p in panes if p.is_plot]
    assert sorted(plots) == sorted({*STAGE1_TITLES, *STAGE3_TITLES} | grad_norm_titles())
    assert_plots_drawn(panes)
    assert page.console_errors == []


# -- how lines are drawn --------------------------------------------------------------------------


def test_nan_is_drawn_as_a_gap(visdom_server, env_name, open_dashboard):
    plotter = LinePlotter(env=env_name, server=visdom_server, xlabel="step")
    ys = [math.nan if i in (8, 9) else 1.0 / (i + 1) + 0.05 * (i % 2) for i in range(20)]
    for i, y in enumerate(ys):
        plotter.log({"loss": y}, step=i)
    assert plotter.flush()

    page = open_dashboard(env_name)
    trace = only(page.wait_for_panes(1, min_points=10)).traces[0]

    assert trace.data_points == 20  # the page holds the gap points ...
    assert len(trace.segments) == 2  # ... and draws the line in two pieces around them
    (end, start) = trace.gaps[0]
    assert end == pytest.approx(7.0, abs=0.2) and start == pytest.approx(10.0, abs=0.2)
    assert trace.x_range == pytest.approx((0.0, 19.0), abs=0.2)
    assert page.console_errors == []
    plotter.close()


def test_window_updates_live_while_the_page_is_open(visdom_server, env_name, open_dashboard):
    plotter = LinePlotter(env=env_name, server=visdom_server, xlabel="step")

    def curve(i: int) -> float:
        return math.sin(i) + 0.1 * i  # every point a bend: Plotly keeps every vertex

    for i in range(5):
        plotter.log({"loss": curve(i)}, step=i)
    assert plotter.flush()
    page = open_dashboard(env_name)
    first = only(page.wait_for_panes(1, min_points=5))
    assert first.traces[0].x_range == pytest.approx((0.0, 4.0), abs=0.05)

    for i in range(5, 10):
        plotter.log({"loss": curve(i)}, step=i)
    plotter.log({"accuracy": 0.5}, step=0)  # a new window appears too
    plotter.log({"accuracy": 0.7}, step=1)
    assert plotter.flush()

    panes = page.wait_until(
        lambda ps: (
            len(ps) == 2
            and all(p.drawn(2) for p in ps)
            and ps[0].traces[0].data_points == 10
            and ps[0].traces[0].x_range is not None
            and ps[0].traces[0].x_range[1] > 8.9
        ),
        timeout=20,
        what="the appended points and the new window",
    )
    loss = next(p for p in panes if p.title == "loss")
    assert_drawn_like_data(loss, list(range(10)), [curve(i) for i in range(10)])
    assert {p.title for p in panes} == {"loss", "accuracy"}
    assert overlapping(panes) == []
    assert page.console_errors == []
    plotter.close()


@pytest.mark.slow
def test_a_long_decimated_window_still_draws(visdom_server, env_name, open_dashboard):
    n = 12_000  # more than any window keeps: the transport decimates it (min/max per bucket)
    spike_at, spike = 7_777, 50.0
    plotter = LinePlotter(env=env_name, server=visdom_server, xlabel="step")
    for i in range(n):
        y = spike if i == spike_at else 2.0 * math.exp(-i / 3000) + 0.1 * math.sin(i / 7)
        plotter.log({"loss": y}, step=i)
    assert plotter.flush(timeout=120)

    page = open_dashboard(env_name)
    pane = only(page.wait_for_panes(1, min_points=100, timeout=60))
    trace = pane.traces[0]

    cap = getattr(plotter.transport, "max_points", None)
    if cap is not None:
        assert trace.data_points <= cap < n  # decimated, as the transport promises
    assert len(trace.segments) == 1  # no false gaps
    lo, hi = trace.x_range
    assert lo == pytest.approx(0.0, abs=n * 0.01) and hi == pytest.approx(n - 1, abs=n * 0.01)
    # the spike survives decimation and Plotly's own simplification
    assert trace.y_range[1] == pytest.approx(spike, rel=0.02)
    assert page.console_errors == []
    plotter.close()


# -- markers, legends, log axes and text panes -----------------------------------------------------

# Per plot window: the legend entries Plotly drew, the y tick labels and the y axis as laid out.
_READ_AXES_JS = r"""
() => Object.fromEntries([...document.querySelectorAll('.react-grid-layout > .react-grid-item')]
  .map((item) => {
    const bar = item.querySelector('.window > .bar > div.pull-right');
    const gd = item.querySelector('.js-plotly-plot');
    if (!gd || !gd._fullLayout) return null;
    const ya = gd._fullLayout.yaxis;
    return [bar ? bar.textContent.trim() : '', {
      legend_entries: gd.querySelectorAll('.legend .traces').length,
      y_ticks: [...gd.querySelectorAll('.ytick text')].map((t) => t.textContent),
      y_type: ya.type,
      y_range: ya.range,
    }];
  }).filter((e) => e !== null))
"""


def axes(page: Dashboard) -> dict[str, dict]:
    """``{window title: {legend_entries, y_ticks, y_type, y_range}}`` for every plot."""
    return page.page.evaluate(_READ_AXES_JS)


def by_title(panes: list[Pane]) -> dict[str, Pane]:
    return {p.title: p for p in panes}


def in_pane(page: Dashboard, title: str, expression: str):
    """The value of a JavaScript ``expression`` about ``item``, the window titled ``title``."""
    return page.page.evaluate(
        """([title, expression]) => {
             const item = [...document.querySelectorAll('.react-grid-layout > .react-grid-item')]
               .find((i) => i.querySelector('.window > .bar > div.pull-right')
                              .textContent.trim() === title);
             return new Function('item', 'return ' + expression)(item);
           }""",
        [title, expression],
    )


def test_short_series_show_markers_and_long_ones_a_plain_line(
    visdom_server, env_name, open_dashboard
):
    plotter = LinePlotter(env=env_name, server=visdom_server, xlabel="step")
    plotter.log({"one": 0.5}, step=0)  # stage 1 after its first epoch
    for i in range(5):
        plotter.log({"few": 1.0 / (i + 1)}, step=i)
        assert plotter.flush()  # grown by appends, as a live run does
    for i in range(30):
        plotter.log({"long": math.sin(i) + 0.1 * i}, step=i)
    for i in range(30):
        plotter.transport.append("grouped", i, math.cos(i), series="train")
    for i in (14, 29):
        plotter.transport.append("grouped", i, 0.5, series="val")
    assert plotter.flush()

    page = open_dashboard(env_name)
    panes = by_title(page.wait_for_panes(4, min_points=1))
    (one,) = panes["one"].traces
    assert one.data_points == 1 and one.markers == 1  # a lone point is visible
    assert panes["few"].traces[0].markers == 5
    long = panes["long"].traces[0]
    assert long.markers == 0 and long.line_vertices >= 20  # no clutter on a long line
    grouped = {t.name: t for t in panes["grouped"].traces}
    assert grouped["val"].markers == 2 and grouped["train"].markers == 0

    # legends: only the window with two series spends room on one
    drawn = axes(page)
    assert drawn["grouped"]["legend_entries"] == 2
    assert [drawn[t]["legend_entries"] for t in ("one", "few", "long")] == [0, 0, 0]

    # a short series that grows long drops its markers on the open page
    for i in range(5, 25):
        plotter.log({"few": 1.0 / (i + 1) + 0.01 * (i % 2)}, step=i)
    assert plotter.flush()
    panes = page.wait_until(
        lambda ps: by_title(ps)["few"].traces and by_title(ps)["few"].traces[0].data_points == 25,
        timeout=20,
        what="the 20 appended points",
    )
    few = by_title(page.settle())["few"].traces[0]
    assert few.markers == 0 and few.line_vertices >= 20
    assert axes(page)["few"]["legend_entries"] == 0
    assert page.console_errors == []
    plotter.close()


def test_a_constant_learning_rate_on_a_log_axis_reads_0_001(
    visdom_server, env_name, open_dashboard
):
    plotter = LinePlotter(env=env_name, server=visdom_server, log_y={"learning_rate", "decaying"})
    for epoch in range(3):
        plotter.log({"learning_rate": 1e-3}, step=epoch)
    for step, lr in enumerate([1e-2, 5e-3, 2e-3, 1e-3, 0.0, 1e-4, 5e-5]):
        plotter.log({"decaying": lr}, step=step)  # 0 has no place on a log axis: a gap
    assert plotter.flush()

    page = open_dashboard(env_name)
    panes = by_title(page.wait_for_panes(2, min_points=2))
    drawn = axes(page)

    lr = drawn["learning_rate"]
    assert lr["y_type"] == "log"
    assert "0.001" in lr["y_ticks"]  # the constant reads as itself, not as 0
    low, high = lr["y_range"]  # log10 units
    assert low < -3 < high
    trace = panes["learning_rate"].traces[0]
    assert trace.markers == 3
    assert trace.y_range == pytest.approx((1e-3, 1e-3), rel=0.01)  # drawn at 0.001

    decaying = panes["decaying"].traces[0]
    assert len(decaying.segments) == 2  # broken at the 0, not drawn down to the bottom
    assert decaying.y_range[0] == pytest.approx(5e-5, rel=0.02)
    assert decaying.gaps[0] == pytest.approx((3.0, 5.0), abs=0.05)
    assert not any("μ" in t for t in drawn["decaying"]["y_ticks"])  # 0.0001, not 100μ
    assert page.console_errors == []
    plotter.close()


@pytest.mark.slow
def test_the_lightning_panes_are_readable(visdom_server, env_name, open_dashboard, tmp_path):
    from visdomkit import VisdomLogger
    from visdomkit.training import LitClassifier

    logger = VisdomLogger(tmp_path, name="demo", env=env_name, server=visdom_server)
    logger.log_hyperparams({"lr": 1e-3, "batch_size": 64})
    logger.log_graph(LitClassifier(lr=1e-3))
    logger.log_metrics({"train_loss": 0.5}, step=3)
    logger.finalize("success")

    page = open_dashboard(env_name)
    panes = by_title(page.wait_for_panes(4, plots=1, titles=["hparams", "model", "status"]))
    assert overlapping(list(panes.values())) == []

    # key and value cells stand apart ("lr 0.001", not "lr0.001")
    cells = in_pane(
        page,
        "hparams",
        """[...item.querySelector('tr').querySelectorAll('td')].map((td) => {
             const r = td.getBoundingClientRect(); return [td.textContent, r.left, r.right];
           })""",
    )
    (key, _, key_right), (value, value_left, _) = cells
    assert (key, value) == ("lr", "0.001")
    assert value_left - key_right >= 8
    assert panes["hparams"].text.split() == ["lr", "0.001", "batch_size", "64"]

    # the whole model summary fits its pane: nothing hidden to the right
    fit = in_pane(
        page,
        "model",
        """((pre) => [pre.scrollWidth, pre.clientWidth, pre.getBoundingClientRect().right,
                    item.getBoundingClientRect().right])(item.querySelector('pre'))""",
    )
    scroll_width, client_width, pre_right, pane_right = fit
    assert scroll_width <= client_width and pre_right <= pane_right
    assert "Total params" in panes["model"].text

    # the status names the run, not this machine's folders
    status = panes["status"].text
    assert "demo/version_0" in status and str(tmp_path) not in status
    assert "success" in status and "UTC" in status
    assert page.console_errors == []
    logger._transport.close()


# -- pictures, helpers and the command line -------------------------------------------------------


def test_png_shows_the_whole_dashboard_and_nothing_below(
    visdom_server, env_name, open_dashboard, tmp_path
):
    plotter = LinePlotter(env=env_name, server=visdom_server)
    for i in range(4):
        plotter.log({"loss": 1 / (i + 1)}, step=i)
    assert plotter.flush()
    page = open_dashboard(env_name, width=1360, height=1000)
    pane = only(page.wait_for_panes(1, min_points=2))

    path = page.save_png(tmp_path / "one.png")

    width, height = png_size(path)
    assert width == 1360
    assert height == pytest.approx(pane.box[1] + pane.box[3] + 10, abs=1)
    plotter.close()


def test_waiting_for_what_never_comes_says_what_the_page_shows(
    visdom_server, env_name, open_dashboard
):
    plotter = LinePlotter(env=env_name, server=visdom_server)
    plotter.log({"loss": 1.0}, step=0)
    plotter.log({"loss": 0.5}, step=1)
    assert plotter.flush()
    page = open_dashboard(env_name)

    with pytest.raises(DashboardError, match=r"2 windows.*the page shows 1 windows: 'loss'"):
        page.wait_for_panes(2, timeout=2)
    plotter.close()


def test_console_errors_are_collected(visdom_server, env_name, open_dashboard):
    plotter = LinePlotter(env=env_name, server=visdom_server)
    plotter.log({"loss": 1.0}, step=0)
    plotter.log({"loss": 0.5}, step=1)
    assert plotter.flush()
    page = open_dashboard(env_name)
    page.wait_for_panes(1, min_points=2)
    assert page.console_errors == []

    page.page.evaluate("console.error('logged by the test')")
    page.page.evaluate("setTimeout(() => { throw new Error('thrown by the test') }, 0)")
    page.page.wait_for_timeout(300)

    assert page.console_errors == ["[error] logged by the test", "[pageerror] thrown by the test"]
    # stock visdom's favicon 404 on every /env/ page is gone: our server answers that link
    assert not [e for e in page.console if e.url.endswith("favicon.png")]
    plotter.close()


def test_overlapping_names_the_windows_that_overlap():
    a = Pane("a", "a", (0, 0, 100, 100))
    b = Pane("b", "b", (100, 0, 100, 100))  # touches a
    c = Pane("c", "c", (150, 50, 100, 100))  # overlaps b
    assert overlapping([a, b, c]) == [("b", "c")]


def test_without_chromium_the_reason_says_how_to_get_one(monkeypatch):
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")
    reason = browser_unavailable_reason()
    assert reason is not None
    assert CHROMIUM_ENV in reason or "playwright" in reason.lower()


def test_screenshot_options_and_pictures():
    args = add_arguments(argparse.ArgumentParser()).parse_args(["--only", "1.png", "--epochs", "2"])
    assert (args.only, args.epochs, args.width, args.out) == ("1.png", 2, 1360, "images")
    assert [s.name for s in SHOTS] == ["1.png", "2.png", "3.png"]
    assert [s.plots for s in SHOTS] == [3, 6, 15]
    assert SHOTS[1].runs == (("1",), ("3",))  # stage 3 without the gradient monitor


def test_screenshot_command_without_a_browser_says_why(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")

    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--out", str(tmp_path / "images"), "--only", "1.png"]
    )
    assert run(args) == 1  # (main() would also set up logging for the whole process)

    assert CHROMIUM_ENV in capsys.readouterr().err
    assert not (tmp_path / "images").exists()
