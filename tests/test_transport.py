"""Transport against a real Visdom server: what the server holds after logging, for good and bad
input."""

from __future__ import annotations

import json
import logging
import math
import pickle
import re
import threading
import time

import numpy as np
import pytest
import torch

from visdomkit.journal import read_journal
from visdomkit.transport import Transport, display_title, validate_env, window_id


def traces(viz, env: str, win: str) -> dict[str, tuple[list, list]]:
    """``{trace name: (x, y)}`` as the server stores it; fails on a NaN/Infinity token."""
    raw = viz.get_window_data(win, env=env)

    def no_constants(token):
        raise AssertionError(f"the server holds a bare {token} token")

    pane = json.loads(raw, parse_constant=no_constants)
    return {t["name"]: (t["x"], t["y"]) for t in pane["content"]["data"]}


@pytest.fixture
def transport(visdom_server, env_name, tmp_path):
    t = Transport(visdom_server, env_name, run_dir=tmp_path, flush_interval=0.05)
    yield t
    t.close(timeout=5)


def test_points_reach_the_server_in_order(transport, viz, env_name):
    for step in range(20):
        transport.append("loss", step, 1.0 / (step + 1), ylabel="nll")
    assert transport.flush(10)
    win = transport.window_id("loss")
    assert traces(viz, env_name, win) == {
        "loss": ([float(s) for s in range(20)], [1.0 / (s + 1) for s in range(20)])
    }
    pane = json.loads(viz.get_window_data(win, env=env_name))
    assert pane["title"] == "loss"
    assert pane["content"]["layout"]["xaxis"]["title"] == "step"
    assert pane["content"]["layout"]["yaxis"]["title"] == "nll"


def test_series_share_a_window_and_requests_are_coalesced(transport, viz, env_name):
    for step in range(300):
        transport.log({"loss": step * 0.5, "acc": step * 0.25}, x=step, series="train")
        transport.append("loss", step, -step, series="val")
    assert transport.flush(10)
    held = traces(viz, env_name, window_id("loss"))
    assert set(held) == {"train", "val"}
    assert held["val"] == ([float(s) for s in range(300)], [float(-s) for s in range(300)])
    assert held["train"][1][-1] == 149.5
    # 900 points, but each request carries whatever accumulated for a window
    assert transport.stats.requests < 60
    assert transport.stats.sent >= 900


def test_nan_and_inf_are_gaps_and_never_invalid_json(transport, viz, env_name, visdom_server):
    values = [math.nan, 1.0, math.inf, 2.0, -math.inf, np.float32("nan"), torch.tensor(math.nan)]
    for step, value in enumerate(values):
        transport.append("nan first", step, value)
    assert transport.flush(10)
    xs, ys = traces(viz, env_name, window_id("nan first"))["nan first"]
    assert xs == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert ys == [None, 1.0, None, 2.0, None, None, None]
    # what the server saves is strict JSON too
    viz.save([env_name])
    saved = (visdom_server.env_path / f"{env_name}.json").read_text()
    assert "NaN" not in saved and "Infinity" not in saved
    json.loads(saved, parse_constant=lambda token: pytest.fail(f"bare {token} saved"))


def test_value_types(transport, viz, env_name):
    values = [
        3,
        2.5,
        True,
        np.float32(0.5),
        np.int64(7),
        np.bool_(False),
        np.array(1.25),
        np.array([4.5]),
        torch.tensor(0.75),
        torch.tensor([1.5]),
        torch.tensor(2.0, requires_grad=True) * 2,
        torch.tensor(9, dtype=torch.int32),
        torch.tensor(True),
    ]
    for step, value in enumerate(values):
        transport.append("types", step, value)
    assert transport.flush(10)
    _, ys = traces(viz, env_name, window_id("types"))["types"]
    assert ys == [3.0, 2.5, 1.0, 0.5, 7.0, 0.0, 1.25, 4.5, 0.75, 1.5, 4.0, 9.0, 1.0]
    assert transport.stats.skipped == 0


class FakeDeviceTensor(torch.Tensor):
    """A CPU tensor that says it lives on a GPU and records which thread reads it."""

    reads: list[str] = []  # noqa: RUF012 (shared on purpose)

    @property
    def device(self):
        return torch.device("cuda", 0)

    def item(self):
        FakeDeviceTensor.reads.append(threading.current_thread().name)
        return super().item()


def test_device_tensors_are_read_off_the_callers_thread(transport, viz, env_name):
    FakeDeviceTensor.reads.clear()
    value = torch.tensor(0.5).as_subclass(FakeDeviceTensor)
    transport.append("gpu", 0, value)
    value.add_(1.0)  # an in-place update after logging must not change the logged value
    transport.append("gpu", 1, value)
    caller = threading.current_thread().name
    assert caller not in FakeDeviceTensor.reads
    deadline = time.monotonic() + 10
    while transport.stats.queued < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the ingest thread picks them up (flush() itself would read them here)
    assert FakeDeviceTensor.reads == ["visdomkit-ingest"] * 2
    assert transport.flush(10)
    assert traces(viz, env_name, window_id("gpu"))["gpu"] == ([0.0, 1.0], [0.5, 1.5])


def test_bad_values_are_skipped_with_one_warning_per_metric(transport, viz, env_name, caplog):
    caplog.set_level(logging.WARNING, logger="visdomkit")
    bad = {"vector": torch.ones(3), "word": "0.5", "nothing": None, "pair": np.zeros(2)}
    for step in range(5):
        transport.log({**bad, "good": step})
    assert transport.flush(10)
    warnings = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(warnings) == 4
    for name in bad:
        assert sum(f"'{name}'" in w for w in warnings) == 1
    assert any("shape (3,)" in w for w in warnings)
    assert transport.stats.skipped == 20
    assert traces(viz, env_name, window_id("good"))["good"][1] == [0.0, 1.0, 2.0, 3.0, 4.0]
    for name in bad:
        assert viz.win_exists(window_id(name), env=env_name) is False


def test_strict_mode_raises_naming_the_metric(visdom_server, env_name, tmp_path):
    with Transport(visdom_server, env_name, run_dir=tmp_path, strict=True) as t:
        with pytest.raises(ValueError, match=r"metric 'weights'.*shape \(2, 2\)"):
            t.append("weights", 0, torch.ones(2, 2))
        with pytest.raises(TypeError, match=r"metric 'name'.*str"):
            t.append("name", 0, "abc")
        with pytest.raises(TypeError, match="metric 'none'"):
            t.log({"none": None})
        with pytest.raises(ValueError, match="x must be finite"):
            t.append("loss", math.nan, 1.0)


NAMES = [
    "train/loss",
    "train loss",
    "train_loss",
    "val/acc@1 (top-1)",
    "Verlust/Übung",
    "损失",
    "😀/grad",
    "x" * 500,
    "x" * 499 + "y",
]


def test_metric_names_give_stable_distinct_ids_and_readable_titles(transport, viz, env_name):
    ids = [window_id(n) for n in NAMES]
    assert len(set(ids)) == len(NAMES)
    assert ids == [window_id(n) for n in NAMES]  # stable
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,60}-[0-9a-f]{8}", i) for i in ids)
    for name in NAMES:
        transport.append(name, 0, 1.0)
        transport.append(name, 1, 2.0)
    assert transport.flush(10)
    for name, win in zip(NAMES, ids, strict=True):
        pane = json.loads(viz.get_window_data(win, env=env_name))
        assert pane["title"] == display_title(name)
        assert len(pane["title"]) <= 80
        assert pane["content"]["data"][0]["y"] == [1.0, 2.0]
    assert display_title("x" * 500).startswith("x" * 50)
    assert display_title("x" * 499 + "y").endswith("y")


def test_step_none_counts_per_window_and_series(transport, viz, env_name):
    for _ in range(3):
        transport.log({"a": 1.0, "b": 2.0})
    transport.append("b", None, 3.0)
    transport.append("b", None, 4.0, series="other")
    transport.append("a", 10, 5.0)
    transport.append("a", None, 6.0)
    assert transport.flush(10)
    assert traces(viz, env_name, window_id("a"))["a"] == (
        [0.0, 1.0, 2.0, 10.0, 11.0],
        [1.0] * 3 + [5.0, 6.0],
    )
    held = traces(viz, env_name, window_id("b"))
    assert held["b"][0] == [0.0, 1.0, 2.0, 3.0]
    assert held["other"][0] == [0.0]


def test_steps_going_backwards_replace_the_later_points(transport, viz, env_name):
    for step in range(10):
        transport.append("resumed", step, float(step))
    assert transport.flush(10)  # the server holds 0..9
    for step in range(6, 8):  # resumed from a checkpoint at step 6
        transport.append("resumed", step, 100.0 + step)
    transport.append("resumed", 7, 200.0)  # the same step again: the newer value wins
    assert transport.flush(10)
    xs, ys = traces(viz, env_name, window_id("resumed"))["resumed"]
    assert xs == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert ys == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 106.0, 200.0]
    # the journal keeps everything that was logged
    assert read_journal(transport.journal_path).points == 13


@pytest.mark.parametrize(
    "env", ["..", "../etc", "/abs/path", "a/b", "a\\b", "C:evil", "", "  ", "\x00", "~root", 7]
)
def test_env_names_that_could_escape_are_refused(env, tmp_path):
    with pytest.raises(ValueError, match="env"):
        Transport("http://127.0.0.1:1", env, run_dir=tmp_path)


def test_good_env_names_pass():
    for env in ["main", "mnist_run-1", "exp.2024", "résumé", "a..b"]:
        assert validate_env(env) == env


def test_text_pane_replaces_its_content(transport, viz, env_name):
    transport.text("hparams", "<b>lr</b>: 0.1", title="Hyperparameters")
    transport.text("hparams", "<b>lr</b>: 0.01")
    assert transport.flush(10)
    pane = json.loads(viz.get_window_data(window_id("hparams"), env=env_name))
    assert pane["type"] == "text"
    assert pane["content"] == "<b>lr</b>: 0.01"
    assert pane["title"] == "Hyperparameters"


def test_a_window_never_exceeds_max_points(visdom_server, env_name, viz, tmp_path):
    with Transport(visdom_server, env_name, run_dir=tmp_path, max_points=200) as t:
        for step in range(3000):
            t.append("long", step, 10.0 if step == 1234 else math.sin(step / 100))
            if step % 500 == 0:
                assert t.flush(10)  # several decimations, appends in between
                xs, _ = traces(viz, env_name, window_id("long"))["long"]
                assert len(xs) <= 200
        assert t.flush(10)
        xs, ys = traces(viz, env_name, window_id("long"))["long"]
        assert len(xs) <= 200 and xs[0] == 0.0 and xs[-1] == 2999.0
        assert max(ys) == 10.0 and xs == sorted(set(xs))
        assert t.stats.decimations >= 2
    assert read_journal(t.journal_path).points == 3000  # full resolution on disk


def test_calls_return_at_once_and_points_are_journaled_when_the_server_is_down(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="visdomkit")
    t = Transport("http://127.0.0.1:9", "offline", run_dir=tmp_path, flush_interval=0.05)
    worst = 0.0
    for step in range(2000):
        start = time.perf_counter()
        t.log({"loss": 1.0 / (step + 1), "acc": step / 2000}, x=step)
        worst = max(worst, time.perf_counter() - start)
        if step == 1000:
            time.sleep(0.3)  # let the sender fail a few times
    assert worst < 0.05  # sanity bound, not a benchmark
    assert t.flush(2) is False
    t.close(timeout=1)
    content = read_journal(t.journal_path)
    assert content.points == 4000
    loss = content.windows["offline"][window_id("loss")].series["loss"]
    assert list(loss.xs) == [float(s) for s in range(2000)]
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_pickling_drops_threads_and_rebuilds_lazily(transport, viz, env_name):
    transport.append("before", 0, 1.0)
    assert transport.flush(10)
    clone = pickle.loads(pickle.dumps(transport))
    assert clone.env == env_name and clone.url == transport.url
    assert clone._threads == [] and clone._sender._http is None
    assert clone.journal_path != transport.journal_path
    clone.append("after", 0, 2.0)
    assert clone.flush(10)
    clone.close()
    assert traces(viz, env_name, window_id("after"))["after"] == ([0.0], [2.0])


def test_password_is_never_in_repr_or_logs(visdom_server, env_name, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="visdomkit")
    t = Transport("http://127.0.0.1:9", env_name, run_dir=tmp_path, username="u", password="s3cr3t")
    t.append("x", 0, 1.0)
    t.flush(1)
    t.close(1)
    assert "s3cr3t" not in repr(t)
    assert all("s3cr3t" not in r.getMessage() for r in caplog.records)


def test_memory_is_bounded_and_the_overflow_goes_to_the_journal(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="visdomkit")
    # the ingest thread sleeps for a minute: only the bound moves points out of memory
    t = Transport("http://127.0.0.1:9", "spill", run_dir=tmp_path, flush_interval=60, max_queue=100)
    for step in range(1000):
        t.append("m", step, float(step))
        assert len(t._queue) <= 100
    assert read_journal(t.journal_path).points >= 900  # before any flush
    assert len([r for r in caplog.records if "waiting" in r.getMessage()]) == 1
    t.close(timeout=1)
    assert read_journal(t.journal_path).points == 1000


def test_a_new_transport_continues_a_window_already_on_the_server(
    visdom_server, env_name, viz, tmp_path
):
    with Transport(visdom_server, env_name, run_dir=tmp_path) as first:
        for step in range(10):
            first.append("loss", step, 1.0)
        assert first.flush(10)
    with Transport(visdom_server, env_name, run_dir=tmp_path) as resumed:
        for step in range(6, 9):  # a new process resuming from a checkpoint at step 6
            resumed.append("loss", step, 2.0)
        assert resumed.flush(10)
    assert traces(viz, env_name, window_id("loss"))["loss"] == (
        [float(s) for s in range(9)],
        [1.0] * 6 + [2.0] * 3,
    )
    with Transport(visdom_server, env_name, run_dir=tmp_path) as fresh:
        fresh.append("loss", 0, 3.0)  # a new run from step 0 replaces the curve
        assert fresh.flush(10)
    assert traces(viz, env_name, window_id("loss"))["loss"] == ([0.0], [3.0])


# -- how windows are drawn: legend, markers, log axis, pane size --------------------------------


def layout(viz, env: str, name: str) -> dict:
    return json.loads(viz.get_window_data(window_id(name), env=env))["content"]["layout"]


def test_the_legend_shows_only_with_several_series(transport, viz, env_name):
    for step in range(3):  # a flush per point: the window grows by appends
        transport.append("loss", step, 1.0 / (step + 1))
        transport.append("grouped", step, float(step), series="train")
        assert transport.flush(10)
    assert transport.stats.requests > transport.stats.rewrites  # appends did happen
    assert layout(viz, env_name, "loss")["showlegend"] is False
    assert layout(viz, env_name, "grouped")["showlegend"] is False

    transport.append("grouped", 0, 5.0, series="val")  # a second series: now a legend
    assert transport.flush(10)
    assert layout(viz, env_name, "grouped")["showlegend"] is True
    for step in range(3, 5):  # appends to one of two series keep it
        transport.append("grouped", step, float(step), series="train")
        assert transport.flush(10)
    assert layout(viz, env_name, "grouped")["showlegend"] is True
    assert layout(viz, env_name, "loss")["showlegend"] is False


def test_traces_leave_the_mode_to_plotly_with_small_markers(transport, viz, env_name):
    transport.append("single", 0, 0.5)
    assert transport.flush(10)
    pane = json.loads(viz.get_window_data(window_id("single"), env=env_name))
    (trace,) = pane["content"]["data"]
    # no "mode": Plotly draws markers below 20 points and a plain line from then on
    assert "mode" not in trace
    assert trace["marker"]["size"] <= 6
    assert (trace["x"], trace["y"]) == ([0.0], [0.5])


def test_a_log_axis_is_set_at_creation_and_draws_nonpositive_values_as_gaps(
    transport, viz, env_name
):
    values = [1e-3, 0.0, -1.0, math.nan, 5e-4]
    for step, value in enumerate(values):
        transport.append("lr", step, value, ytype="log")
    transport.log({"lr": 2e-4}, x=5)  # later calls need not repeat it ...
    transport.log({"lr": 1e-4}, x=6, ytype="linear")  # ... nor can change it
    transport.append("loss", 0, 0.0)  # linear unless asked: 0 stays 0
    transport.log({"acc": 0.5}, x=0, ytype="log")
    assert transport.flush(10)

    assert layout(viz, env_name, "lr")["yaxis"]["type"] == "log"
    assert layout(viz, env_name, "loss")["yaxis"]["type"] == "linear"
    assert layout(viz, env_name, "acc")["yaxis"]["type"] == "log"
    xs, ys = traces(viz, env_name, window_id("lr"))["lr"]
    assert xs == [float(s) for s in range(7)]
    assert ys == [1e-3, None, None, None, 5e-4, 2e-4, 1e-4]
    assert traces(viz, env_name, window_id("loss"))["loss"] == ([0.0], [0.0])

    # appends after the window exists keep the axis (the layout rides along)
    transport.append("lr", 7, 5e-5)
    assert transport.flush(10)
    assert layout(viz, env_name, "lr")["yaxis"]["type"] == "log"
    # the journal keeps the values a log axis cannot show
    view = read_journal(transport.journal_path).windows[env_name][window_id("lr")]
    assert view.ytype == "log"
    assert list(view.series["lr"].ys)[:3] == [1e-3, 0.0, -1.0]


def test_a_bad_ytype_is_skipped_or_raised_naming_the_argument(
    visdom_server, env_name, viz, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="visdomkit")
    with Transport(visdom_server, env_name, run_dir=tmp_path) as t:
        t.append("lr", 0, 1e-3, ytype="logarithmic")
        t.log({"lr": 1e-3, "loss": 1.0}, x=0, ytype="Log")
        t.append("ok", 0, 1.0)
        assert t.flush(10)
    warnings = [r.getMessage() for r in caplog.records if "ytype" in r.getMessage()]
    assert warnings and all("'linear', 'log' or None" in w for w in warnings)
    assert viz.win_exists(window_id("lr"), env=env_name) is False
    assert viz.win_exists(window_id("loss"), env=env_name) is False
    with Transport(visdom_server, env_name, run_dir=tmp_path, strict=True) as t:
        with pytest.raises(ValueError, match=r"ytype must be .*got 'logarithmic'"):
            t.append("lr", 0, 1e-3, ytype="logarithmic")
        with pytest.raises(ValueError, match="ytype"):
            t.log({"lr": 1e-3}, ytype=10)


def test_a_text_pane_can_be_sized(transport, viz, env_name, tmp_path):
    transport.text("summary", "<pre>wide</pre>", width=480, height=260)
    transport.text("plain", "no size")
    transport.text("bad", "never shown", width=3)  # skipped with a warning
    assert transport.flush(10)
    pane = json.loads(viz.get_window_data(window_id("summary"), env=env_name))
    assert (pane["width"], pane["height"]) == (480, 260)
    assert json.loads(viz.get_window_data(window_id("plain"), env=env_name))["width"] is None
    assert viz.win_exists(window_id("bad"), env=env_name) is False
    strict = Transport(transport.url, env_name, run_dir=tmp_path / "strict", strict=True)
    with pytest.raises(ValueError, match="height must be None or an int"):
        strict.text("bad", "x", height=10**6)
    strict.close()
