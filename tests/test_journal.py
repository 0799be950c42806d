"""The journal on disk and replaying it: complete, valid JSON, durable at flush, idempotent."""

from __future__ import annotations

import json
import math

import pytest

from visdomkit import wire
from visdomkit.journal import read_journal
from visdomkit.journal import replay as journal_replay
from visdomkit.replay import replay
from visdomkit.transport import Transport, window_id

DOWN = "http://127.0.0.1:9"  # nothing listens there


def offline_run(run_dir, env="journaled", steps=100, **kwargs) -> Transport:
    """A run whose server never answered: everything is only in the journal."""
    t = Transport(DOWN, env, run_dir=run_dir, flush_interval=0.05, **kwargs)
    for step in range(steps):
        t.log({"loss": 1.0 / (step + 1), "acc": step / steps}, x=step)
    t.append("loss", steps, math.nan)
    t.append("acc", steps, math.inf)
    t.text("status", "<b>done</b>", title="Status")
    assert t.flush(1) is False
    return t


def pane(server, env: str, name: str) -> dict | None:
    http = wire.VisdomHTTP(server.url)
    try:
        return http.window_data(env, window_id(name))
    finally:
        http.close()


def xy(server, env: str, name: str, series: str | None = None) -> tuple[list, list]:
    traces = {t["name"]: (t["x"], t["y"]) for t in pane(server, env, name)["content"]["data"]}
    return traces[series or name]


def test_records_are_strict_json_with_everything_replay_needs(tmp_path):
    t = offline_run(tmp_path)  # flush() made it durable without close()
    lines = t.journal_path.read_text(encoding="utf-8").splitlines()

    def no_constants(token):
        raise AssertionError(f"bare {token} in the journal")

    records = [json.loads(line, parse_constant=no_constants) for line in lines]
    assert records[0]["t"] == "open" and records[0]["env"] == "journaled"
    wins = {r["name"]: r for r in records if r["t"] == "win"}
    assert wins["loss"]["w"] == window_id("loss") and wins["loss"]["title"] == "loss"
    assert wins["status"]["kind"] == "text"
    pts = [r for r in records if r["t"] == "pts"]
    assert all({"w", "s", "seq", "x", "y"} <= r.keys() for r in pts)
    assert [r["seq"] for r in records if "seq" in r] == sorted(
        {r["seq"] for r in records if "seq" in r}
    )
    ys = [y for r in pts if r["s"] == "acc" for y in r["y"]]
    assert ys[-1] == "inf"
    assert [y for r in pts if r["s"] == "loss" for y in r["y"]][-1] == "nan"
    t.close(timeout=1)


def test_replay_uploads_everything_once(visdom_server, env_name, tmp_path):
    t = offline_run(tmp_path)
    t.close(timeout=1)
    first = replay(t.journal_path, server=visdom_server, env=env_name)
    assert (first.created, first.uploaded, first.skipped, first.windows) == (3, 202, 0, 3)
    xs, ys = xy(visdom_server, env_name, "loss")
    assert xs == [float(s) for s in range(101)]
    assert ys[:2] == [1.0, 0.5] and ys[-1] is None  # NaN is a gap
    assert xy(visdom_server, env_name, "acc")[1][-1] is None  # so is Inf
    assert pane(visdom_server, env_name, "status")["content"] == "<b>done</b>"
    before = {n: xy(visdom_server, env_name, n) for n in ("loss", "acc")}

    second = journal_replay(tmp_path, visdom_server, env_name)  # the run folder; the CLI's import
    assert second.uploaded == 0 and second.skipped == 202 and second.unchanged == 3
    assert {n: xy(visdom_server, env_name, n) for n in ("loss", "acc")} == before


def test_replay_appends_only_what_the_server_lacks(visdom_server, env_name, tmp_path):
    t = offline_run(tmp_path)
    t.close(timeout=1)
    # the server got the first 40 points of "loss" before it went away
    http = wire.VisdomHTTP(visdom_server.url)
    trace = wire.trace("loss", [float(s) for s in range(40)], [1.0 / (s + 1) for s in range(40)])
    http.post(*wire.line_window(env_name, window_id("loss"), "loss", "step", "loss", [trace]))
    http.close()
    summary = replay(t.journal_path, server=visdom_server.url, env=env_name)
    assert summary.appended == 1 and summary.created == 2
    assert summary.skipped == 40 and summary.uploaded == 162
    assert xy(visdom_server, env_name, "loss")[0] == [float(s) for s in range(101)]
    # the append leaves a one-series window without a legend
    assert pane(visdom_server, env_name, "loss")["content"]["layout"]["showlegend"] is False


def test_replay_rewrites_a_window_that_disagrees(visdom_server, env_name, tmp_path):
    t = offline_run(tmp_path)
    t.close(timeout=1)
    http = wire.VisdomHTTP(visdom_server.url)
    trace = wire.trace("loss", [0.0, 1.0, 2.0], [9.0, 9.0, 9.0])  # not what the journal says
    http.post(*wire.line_window(env_name, window_id("loss"), "loss", "step", "loss", [trace]))
    http.close()
    assert replay(t.journal_path, visdom_server, env_name).rewritten == 1
    assert xy(visdom_server, env_name, "loss")[1][:3] == [1.0, 0.5, 1.0 / 3]


def test_replay_decimates_to_max_points_and_stays_idempotent(visdom_server, env_name, tmp_path):
    t = offline_run(tmp_path, steps=3000)
    t.close(timeout=1)
    replay(t.journal_path, visdom_server, env_name, max_points=300)
    xs, _ = xy(visdom_server, env_name, "loss")
    assert len(xs) <= 300 and xs[0] == 0.0 and xs[-1] == 3000.0
    again = replay(t.journal_path, visdom_server, env_name, max_points=300)
    assert again.uploaded == 0 and again.unchanged == 3


def test_a_torn_last_line_is_skipped(visdom_server, env_name, tmp_path):
    t = offline_run(tmp_path, steps=10)
    t.close(timeout=1)
    with open(t.journal_path, "a", encoding="utf-8") as f:
        f.write('{"t": "pts", "w": "loss-')  # the process died mid-write
    summary = replay(t.journal_path, visdom_server, env_name)
    assert summary.bad_lines == 1 and summary.points == 22
    assert xy(visdom_server, env_name, "loss")[0] == [float(s) for s in range(11)]


def test_a_resumed_run_replays_by_the_series_rule(visdom_server, env_name, tmp_path):
    first = Transport(DOWN, "resumed", run_dir=tmp_path)
    for step in range(10):
        first.append("loss", step, 1.0)
    first.close(timeout=1)
    second = Transport(DOWN, "resumed", run_dir=tmp_path)  # resumed from a checkpoint at 6
    for step in range(6, 12):
        second.append("loss", step, 2.0)
    second.close(timeout=1)
    assert len(read_journal(tmp_path).files) == 2
    summary = replay(tmp_path, visdom_server, env_name)
    assert summary.superseded == 4
    assert xy(visdom_server, env_name, "loss") == (
        [float(s) for s in range(12)],
        [1.0] * 6 + [2.0] * 6,
    )


def test_replay_refuses_a_bad_env_or_a_missing_journal(tmp_path):
    t = offline_run(tmp_path, steps=3)
    t.close(timeout=1)
    with pytest.raises(ValueError, match="env"):
        replay(t.journal_path, DOWN, env="../up")
    with pytest.raises(FileNotFoundError, match="journal"):
        replay(tmp_path / "nope.jsonl", DOWN)
    with pytest.raises(wire.VisdomUnavailable):
        replay(t.journal_path, DOWN)


def test_replay_recreates_log_axes_and_pane_sizes_and_stays_idempotent(
    visdom_server, env_name, tmp_path
):
    t = Transport(DOWN, "axes", run_dir=tmp_path, flush_interval=0.05)
    for step, lr in enumerate([1e-3, 1e-3, 0.0, 5e-4]):  # a 0 cannot sit on a log axis
        t.append("lr", step, lr, ytype="log")
        t.append("loss", step, 1.0 / (step + 1))
    t.text("summary", "<pre>wide</pre>", width=500, height=260)
    t.close(timeout=1)
    records = [json.loads(line) for line in t.journal_path.read_text().splitlines()]
    wins = {r["name"]: r for r in records if r["t"] == "win"}
    assert (wins["lr"]["ytype"], wins["loss"]["ytype"]) == ("log", "linear")
    (text,) = [r for r in records if r["t"] == "text"]
    assert (text["width"], text["height"]) == (500, 260)

    first = replay(t.journal_path, visdom_server, env_name)
    assert first.created == 3
    lr = pane(visdom_server, env_name, "lr")
    assert lr["content"]["layout"]["yaxis"]["type"] == "log"
    assert lr["content"]["layout"]["showlegend"] is False
    assert xy(visdom_server, env_name, "lr")[1] == [1e-3, 1e-3, None, 5e-4]  # 0 is a gap
    assert pane(visdom_server, env_name, "loss")["content"]["layout"]["yaxis"]["type"] == "linear"
    summary = pane(visdom_server, env_name, "summary")
    assert (summary["width"], summary["height"]) == (500, 260)

    again = replay(t.journal_path, visdom_server, env_name)  # the gap matches the 0
    assert again.uploaded == 0 and again.unchanged == 3
