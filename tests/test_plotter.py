"""LinePlotter: one window per metric, on the transport."""

from __future__ import annotations

import json

import pytest
import torch

from visdomkit.plotter import LinePlotter
from visdomkit.transport import Transport


def stored(viz, env: str, win: str) -> dict:
    return json.loads(viz.get_window_data(win, env=env))


def test_one_window_per_metric(visdom_server, env_name, viz, tmp_path):
    with LinePlotter(env=env_name, server=visdom_server, run_dir=tmp_path) as plotter:
        for epoch in range(3):
            plotter.log(
                {"loss": torch.tensor(1.0 / (epoch + 1)), "accuracy": 0.5 + epoch / 10}, epoch
            )
        assert plotter.flush(10)
        assert plotter.env == env_name
        loss = stored(viz, env_name, plotter.window_id("loss"))
        acc = stored(viz, env_name, plotter.window_id("accuracy"))
    assert loss["title"] == "loss"
    assert loss["content"]["layout"]["xaxis"]["title"] == "epoch"
    assert loss["content"]["data"][0]["x"] == [0.0, 1.0, 2.0]
    assert loss["content"]["data"][0]["y"] == pytest.approx([1.0, 0.5, 1.0 / 3])  # float32
    assert acc["content"]["data"][0]["y"] == [0.5, 0.6, 0.7]


def test_step_none_and_text(visdom_server, env_name, viz, tmp_path):
    with LinePlotter(env=env_name, server=visdom_server, run_dir=tmp_path, xlabel="batch") as p:
        p.log({"lr": 0.1})
        p.log({"lr": 0.05})
        p.text("notes", "first <i>run</i>", title="Notes")
        assert p.flush(10)
        assert stored(viz, env_name, p.window_id("lr"))["content"]["data"][0]["x"] == [0.0, 1.0]
        notes = stored(viz, env_name, p.window_id("notes"))
    assert notes["content"] == "first <i>run</i>" and notes["title"] == "Notes"


def test_plotters_can_share_a_transport(visdom_server, env_name, viz, tmp_path):
    transport = Transport(visdom_server, env_name, run_dir=tmp_path)
    a = LinePlotter(transport=transport)
    b = LinePlotter(transport=transport, xlabel="step")
    a.log({"a": 1.0}, 0)
    b.log({"b": 2.0}, 0)
    assert a.flush(10)
    assert stored(viz, env_name, a.window_id("b"))["content"]["data"][0]["y"] == [2.0]
    assert a.close() and b.env == env_name


def test_log_y_puts_those_metrics_on_a_log_axis(visdom_server, env_name, viz, tmp_path):
    with LinePlotter(
        env=env_name, server=visdom_server, run_dir=tmp_path, log_y={"learning_rate"}
    ) as plotter:
        for epoch in range(3):
            plotter.log({"loss": 1.0 / (epoch + 1), "learning_rate": 1e-3}, step=epoch)
        plotter.log({"learning_rate": 0.0}, step=3)  # a gap on a log axis
        assert plotter.flush(10)
        lr = stored(viz, env_name, plotter.window_id("learning_rate"))
        loss = stored(viz, env_name, plotter.window_id("loss"))
    assert lr["content"]["layout"]["yaxis"]["type"] == "log"
    assert lr["content"]["layout"]["xaxis"]["title"] == "epoch"
    assert lr["content"]["data"][0]["x"] == [0.0, 1.0, 2.0, 3.0]
    assert lr["content"]["data"][0]["y"] == [0.001, 0.001, 0.001, None]
    assert loss["content"]["layout"]["yaxis"]["type"] == "linear"
    assert loss["content"]["data"][0]["y"] == pytest.approx([1.0, 0.5, 1.0 / 3])


@pytest.mark.parametrize(
    ("log_y", "error", "message"),
    [
        ("learning_rate", TypeError, r"log_y must be a collection of metric names.*str"),
        (None, TypeError, "log_y must be a collection"),
        ({"lr", 3}, TypeError, "log_y must hold metric names"),
        ([""], ValueError, "log_y must hold non-empty metric names"),
    ],
)
def test_log_y_is_checked_naming_the_argument(tmp_path, log_y, error, message):
    with pytest.raises(error, match=message):
        LinePlotter(env="x", server="http://127.0.0.1:9", run_dir=tmp_path, log_y=log_y)
