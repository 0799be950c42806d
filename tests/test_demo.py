"""The main job, run for real: 15 plots in one env, with the right points."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from visdomkit.demo import run_demo

GRAD_WINDOWS = [
    f"grad_norm/{layer}.{kind}"
    for layer in ("conv1", "conv2", "fc1", "fc2")
    for kind in ("weight", "bias")
] + ["grad_norm/total"]
EPOCHS = 2
STEPS_PER_EPOCH = 1024 // 64  # the fast subset, batch size 64


def _plots(viz, env: str) -> dict[str, dict]:
    """Line-plot windows of an env by title: {title: {series: (xs, ys)}}."""
    windows = json.loads(viz.get_window_data(None, env=env))
    plots = {}
    for window in windows.values():
        content = window["content"]
        if isinstance(content, dict) and "data" in content:
            plots[window["title"]] = {t["name"]: (t["x"], t["y"]) for t in content["data"]}
    return plots


@pytest.fixture(scope="module")
def demo_env(visdom_server, tmp_path_factory):
    env = "test_demo_fast"
    result = run_demo(
        visdom_server,
        env=env,
        epochs=EPOCHS,
        fast=True,
        run_dir=tmp_path_factory.mktemp("demo-runs"),
    )
    assert result.env == env
    assert "MNIST" in result.data_description
    return env


@pytest.mark.slow
def test_demo_draws_fifteen_plots(viz, demo_env):
    plots = _plots(viz, demo_env)
    expected = {"loss", "accuracy", "learning_rate", "train_loss", "val_acc", "epoch"}
    assert set(plots) == expected | set(GRAD_WINDOWS)
    assert len(plots) == 15


@pytest.mark.slow
def test_stage1_plots_one_point_per_epoch_and_the_real_learning_rate(viz, demo_env):
    plots = _plots(viz, demo_env)
    for name in ("loss", "accuracy", "learning_rate"):
        xs, ys = plots[name][name]
        assert xs == list(range(EPOCHS)), name
        assert all(isinstance(y, float) and math.isfinite(y) for y in ys), name
    assert plots["learning_rate"]["learning_rate"][1] == [0.001] * EPOCHS
    assert all(0.0 <= y <= 1.0 for y in plots["accuracy"]["accuracy"][1])


@pytest.mark.slow
def test_lightning_stage_plots_every_step_and_every_validation(viz, demo_env):
    plots = _plots(viz, demo_env)
    steps = EPOCHS * STEPS_PER_EPOCH
    train_x, train_y = plots["train_loss"]["train_loss"]
    assert len(train_x) == steps
    assert train_x == sorted(train_x)
    assert train_y[-1] < train_y[0]  # it learns
    val_x, val_y = plots["val_acc"]["val_acc"]
    assert len(val_x) == EPOCHS
    assert all(0.0 <= y <= 1.0 for y in val_y)
    _, epoch_y = plots["epoch"]["epoch"]
    assert set(epoch_y) == set(range(EPOCHS))


@pytest.mark.slow
def test_gradient_windows_hold_one_norm_per_step_and_a_consistent_total(viz, demo_env):
    plots = _plots(viz, demo_env)
    steps = EPOCHS * STEPS_PER_EPOCH
    per_param = [plots[w][w] for w in GRAD_WINDOWS[:-1]]
    total_x, total_y = plots["grad_norm/total"]["grad_norm/total"]
    assert len(total_x) == steps
    for xs, ys in per_param:
        assert xs == total_x
        assert all(y > 0 for y in ys)
    for i, total in enumerate(total_y):
        assert total == pytest.approx(math.sqrt(sum(ys[i] ** 2 for _, ys in per_param)), rel=1e-5)


def test_demo_rejects_bad_arguments(visdom_server):
    with pytest.raises(ValueError, match="epochs"):
        run_demo(visdom_server, epochs=0)
    with pytest.raises(ValueError, match="stages"):
        run_demo(visdom_server, stages=("4",))


@pytest.mark.slow
def test_cli_demo_against_a_running_server(visdom_server, viz, env_name, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "visdomkit",
            "demo",
            "--fast",
            "--exit",
            "--stages=1",
            "--epochs=1",
            f"--server={visdom_server.url}",
            f"--env={env_name}",
            f"--run-dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"{visdom_server.url}/env/{env_name}" in result.stdout
    assert "Data: MNIST" in result.stdout
    assert set(_plots(viz, env_name)) == {"loss", "accuracy", "learning_rate"}


def test_cli_help_documents_the_demo():
    result = subprocess.run(
        [sys.executable, "-m", "visdomkit", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for option in ("--epochs", "--env", "--port", "--fast", "--exit", "--server"):
        assert option in result.stdout
