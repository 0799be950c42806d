"""VisdomLogger against a real Visdom server: real Trainer runs; asserts what the server holds."""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
import pickle
import re
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pytest
import torch
import visdom
import yaml
from lightning.fabric.loggers.logger import _DummyExperiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from lightning_helpers.tiny import TinyModule, tiny_loaders

from visdomkit import VisdomLogger, VisdomServer

HELPERS = Path(__file__).parent / "lightning_helpers"
STEPS_PER_EPOCH = 4  # 32 samples, batch 8


# -- what the server holds -----------------------------------------------------------------


def windows(viz, env: str) -> dict[str, dict]:
    """Every window of ``env`` by title."""
    data = json.loads(viz.get_window_data(None, env=env) or "{}")
    by_title = {w["title"]: w for w in data.values()}
    assert len(by_title) == len(data), f"two windows share a title: {sorted(by_title)}"
    return by_title


def lines(window: dict) -> dict[str, tuple[list[float], list[float]]]:
    """``{trace name: (xs, ys)}`` of a line window."""
    return {t["name"]: (t["x"], t["y"]) for t in window["content"]["data"]}


def points(window: dict) -> tuple[list[float], list[float]]:
    """``(xs, ys)`` of a window with a single line."""
    traces = window["content"]["data"]
    assert len(traces) == 1, [t.get("name") for t in traces]
    return traces[0]["x"], traces[0]["y"]


def text_of(window: dict) -> str:
    assert window["type"] == "text", window["type"]
    return window["content"]


def csv_series(path: str) -> dict[str, dict[float, float]]:
    """``{key: {step: value}}`` from a CSVLogger's metrics.csv (first value per step)."""
    series: dict[str, dict[float, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            step = float(row.pop("step"))
            for key, value in row.items():
                if value != "":
                    series.setdefault(key, {}).setdefault(step, float(value))
    return series


def strictly_increasing(xs: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(xs))


# -- fixtures ------------------------------------------------------------------------------


def make_trainer(tmp_path: Path, logger, **overrides) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
        logger=logger,
    )
    options.update(overrides)
    return L.Trainer(**options)


@pytest.fixture
def make_logger(visdom_server, env_name, tmp_path) -> Iterator:
    """A VisdomLogger factory on the test's env; flushes and finalizes every logger at the end."""
    made: list[VisdomLogger] = []

    def make(**kwargs) -> VisdomLogger:
        kwargs.setdefault("env", env_name)
        kwargs.setdefault("server", visdom_server)
        kwargs.setdefault("save_dir", tmp_path / "logs")
        logger = VisdomLogger(**kwargs)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        if logger._transport is not None:
            logger._transport.close()


def flush(logger: VisdomLogger) -> None:
    assert logger._transport is not None, "the logger never started"
    assert logger._transport.flush(20.0), "points did not reach the server"


# -- the Logger contract -------------------------------------------------------------------


def test_name_version_dirs_and_env(tmp_path, visdom_server):
    logger = VisdomLogger(tmp_path, name="exp", server=visdom_server.url)
    assert (logger.name, logger.version) == ("exp", 0)
    assert logger.save_dir == str(tmp_path)
    assert logger.root_dir == os.path.join(tmp_path, "exp")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_0")
    assert logger.env == "exp_version_0"
    assert not os.path.exists(logger.log_dir), "nothing is written before first use"

    (tmp_path / "exp" / "version_0").mkdir(parents=True)
    (tmp_path / "exp" / "version_4").mkdir()
    (tmp_path / "exp" / "version_x").mkdir()
    again = VisdomLogger(tmp_path, name="exp", server=visdom_server.url)
    assert again.version == 5, "a restart continues after the highest version"
    assert again.env == "exp_version_5"

    named = VisdomLogger(tmp_path, name="a/b", version="run..1", server=visdom_server.url)
    assert named.log_dir == os.path.join(tmp_path, "a/b", "run..1")
    assert "/" not in named.env and ".." not in named.env
    assert VisdomLogger(tmp_path, name=None, version=2).env == "version_2"
    assert VisdomLogger(tmp_path, env="mine").env == "mine"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"env": "a/b"}, "env"),
        ({"env": ".."}, "env"),
        ({"env": ""}, "env"),
        ({"version": -1}, "version"),
        ({"version": True}, "version"),
        ({"groups": {"": "x"}}, "groups"),
        ({"groups": ["train"]}, "groups"),
        ({"panes": ["hparams", "graph"]}, "panes"),
        ({"panes": "status"}, "panes"),
        ({"server": "localhost:8097"}, "server"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        VisdomLogger(**kwargs)


def test_fit_beside_csvlogger_one_window_per_metric(tmp_path, make_logger, viz, env_name):
    """Every metric its own window, x = global step, the same points CSVLogger records."""
    csv_logger = CSVLogger(tmp_path, name="csv")
    logger = make_logger(name="vis")
    L.seed_everything(0, verbose=False)
    make_trainer(tmp_path, [csv_logger, logger]).fit(TinyModule(), *tiny_loaders())
    flush(logger)

    held = windows(viz, env_name)
    expected = csv_series(os.path.join(csv_logger.log_dir, "metrics.csv"))
    assert set(expected) == {"train_loss", "val_loss", "val_acc", "epoch"}
    for key, by_step in expected.items():
        xs, ys = points(held[key])
        assert xs == sorted(by_step), key
        assert ys == pytest.approx([by_step[x] for x in xs], rel=1e-5), key
    xtitle = held["train_loss"]["content"]["layout"]["xaxis"]["title"]
    assert (xtitle.get("text") if isinstance(xtitle, dict) else xtitle) == "step"
    assert len(points(held["train_loss"])[0]) == 2 * STEPS_PER_EPOCH
    assert points(held["val_acc"])[0] == [STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1]
    assert points(held["epoch"])[1][-1] == 1

    # the run folder
    assert logger.log_dir == os.path.join(tmp_path, "logs", "vis", "version_0")
    saved = yaml.safe_load(Path(logger.log_dir, "hparams.yaml").read_text())
    assert saved == {"lr": 0.1, "hidden": 8, "sync_dist": False}

    # the panes
    assert "lr" in text_of(held["hparams"]) and "0.1" in text_of(held["hparams"])
    assert "Sequential" in text_of(held["model"])
    assert "success" in text_of(held["status"])


def test_group_stages_share_a_window_with_a_legend(tmp_path, make_logger, viz, env_name):
    logger = make_logger(group_stages=True, panes=["hparams", "status"])
    make_trainer(tmp_path, logger).fit(TinyModule(), *tiny_loaders())
    flush(logger)

    held = windows(viz, env_name)
    assert {"loss", "acc", "epoch"} <= set(held)
    assert "train_loss" not in held and "val_loss" not in held
    loss = lines(held["loss"])
    assert set(loss) == {"train_loss", "val_loss"}
    assert len(loss["train_loss"][0]) == 2 * STEPS_PER_EPOCH
    assert loss["val_loss"][0] == [STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1]
    assert held["loss"]["content"]["layout"]["showlegend"] is True
    assert set(lines(held["acc"])) == {"val_acc"}
    assert logger.window_id("train_loss") == logger.window_id("val_loss")
    assert "model" not in held and "checkpoints" not in held  # not asked for


def test_panes_off_leaves_only_the_metric_windows(tmp_path, make_logger, viz, env_name):
    logger = make_logger(panes=False)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_acc", mode="max")
    make_trainer(tmp_path, logger, enable_checkpointing=True, callbacks=[checkpoints]).fit(
        TinyModule(), *tiny_loaders()
    )
    flush(logger)
    assert set(windows(viz, env_name)) == {"train_loss", "val_loss", "val_acc", "epoch"}
    assert Path(logger.log_dir, "hparams.yaml").is_file()


@pytest.mark.parametrize("prefix", ["", "run"])
def test_stage_and_prefix_rules_route_keys(make_logger, viz, env_name, prefix):
    logger = make_logger(
        group_stages=True,
        groups={"grad/": "gradient norms", "grad/total": "total norm"},
        prefix=prefix,
    )
    logger.log_metrics(
        {
            "train/loss": 1.0,
            "val/loss": 2.0,
            "loss/test": 3.0,
            "train_loss_step": 4.0,
            "training-acc": 0.5,
            "grad/w": 0.1,
            "grad/b": 0.2,
            "grad/total": 0.3,
            "trainable_params": 7,
            "lr": 0.01,
        },
        step=0,
    )
    flush(logger)
    held = windows(viz, env_name)
    p = f"{prefix}-" if prefix else ""
    assert len(held) == 6 + 1  # and the status pane
    assert set(lines(held[f"{p}loss"])) == {
        f"{p}{k}" for k in ("train/loss", "val/loss", "loss/test", "train_loss_step")
    }
    assert set(lines(held[f"{p}acc"])) == {f"{p}training-acc"}
    assert set(lines(held[f"{p}gradient norms"])) == {f"{p}grad/w", f"{p}grad/b"}
    assert set(lines(held[f"{p}total norm"])) == {f"{p}grad/total"}
    assert points(held[f"{p}trainable_params"]) == ([0], [7])  # "trainable" is no stage word
    assert points(held[f"{p}lr"]) == ([0], [0.01])
    assert logger.window_id("val/loss") == logger._transport.window_id(f"{p}loss")


def test_duplicate_and_bad_points_are_skipped(make_logger, viz, env_name, caplog):
    logger = make_logger(prefix="run")
    with caplog.at_level(logging.WARNING, logger="visdomkit"):
        logger.log_metrics({"loss": 1.0, "epoch": 0, "note": "text"}, step=3)
        logger.log_metrics({"acc": torch.tensor(0.5), "epoch": 0, "note": "text"}, step=3)
        logger.log_metrics({"loss": torch.tensor([0.5]), "vec": torch.ones(3)}, step=4)
        logger.log_metrics({"loss": 0.25})  # no step: after the key's last x
    flush(logger)
    held = windows(viz, env_name)
    assert points(held["run-loss"]) == ([3, 4, 5], [1.0, 0.5, 0.25])
    assert points(held["run-epoch"]) == ([3], [0]), "epoch repeated at the same step: once"
    assert points(held["run-acc"]) == ([3], [0.5])
    assert "run-note" not in held and "run-vec" not in held
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("run-note" in w for w in warnings) == 1, warnings  # once per key, not per call
    assert sum("run-vec" in w for w in warnings) == 1, warnings


@dataclass
class OptimConfig:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.99)


class FakeConfig(Mapping):
    """An OmegaConf-like config: a Mapping that is not a dict."""

    def __init__(self, **items):
        self._items = items

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


def test_hyperparams_flattened_into_pane_and_yaml(make_logger, viz, env_name):
    logger = make_logger()
    logger.log_hyperparams(
        Namespace(
            lr=torch.tensor(0.01),
            optim=OptimConfig(),
            data=FakeConfig(batch=32, aug={"flip": True}),
            layers=[{"width": 8}, {"width": 4}],
            activation=torch.nn.ReLU,
        )
    )
    logger.log_hyperparams({"seed": 7})  # adds to what was logged
    flush(logger)

    pane = text_of(windows(viz, env_name)["hparams"])
    for expected in (
        "optim/name",
        "adam",
        "optim/betas",
        "data/aug/flip",
        "layers/1/width",
        "torch.nn.modules.activation.ReLU",
        "seed",
        "0.01",
    ):
        assert expected in pane, expected
    saved = yaml.unsafe_load(Path(logger.log_dir, "hparams.yaml").read_text())
    assert saved["optim"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert saved["data"] == {"batch": 32, "aug": {"flip": True}}
    assert saved["seed"] == 7


def test_omegaconf_hyperparams(make_logger, viz, env_name):
    omegaconf = pytest.importorskip("omegaconf")
    logger = make_logger()
    config = omegaconf.OmegaConf.create({"model": {"width": 8}, "lr": "${ref}", "ref": 1})
    logger.log_hyperparams(config)
    flush(logger)
    pane = text_of(windows(viz, env_name)["hparams"])
    assert "model/width" in pane and "<td>lr</td><td>1</td>" in pane  # interpolation resolved


def test_checkpoint_pane_lists_scores(tmp_path, make_logger, viz, env_name):
    logger = make_logger(panes=["checkpoints"])
    checkpoints = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", monitor="val_acc", mode="max", save_top_k=2, save_last=True
    )
    make_trainer(
        tmp_path, logger, max_epochs=3, enable_checkpointing=True, callbacks=[checkpoints]
    ).fit(TinyModule(), *tiny_loaders())
    flush(logger)

    pane = text_of(windows(viz, env_name)["checkpoints"])
    assert "monitor: val_acc (max)" in pane
    kept = [Path(p).name for p in checkpoints.best_k_models]
    assert len(kept) == 2
    for name in [*kept, "last.ckpt"]:
        assert name in pane
    best = Path(checkpoints.best_model_path).name
    assert f"&#9733; {best}" in pane
    assert f"{float(checkpoints.best_model_score):.6g}" in pane


def test_validate_and_test_only_runs(tmp_path, make_logger, viz, env_name):
    logger = make_logger()
    model = TinyModule()
    val = tiny_loaders()[1]
    make_trainer(tmp_path, logger).validate(model, val)
    make_trainer(tmp_path, logger).test(model, val)
    flush(logger)
    held = windows(viz, env_name)
    assert points(held["val_acc"])[0] == [0]
    assert points(held["test_acc"])[0] == [0]
    assert "success" in text_of(held["status"])


def test_panes_read_well_on_any_machine(tmp_path, make_logger, viz, env_name):
    logger = make_logger(name="exp")
    logger.log_hyperparams({"lr": 1e-3, "batch_size": 64})
    logger.log_graph(TinyModule())
    logger.log_metrics({"loss": 0.5}, step=7)
    logger.finalize("success")
    flush(logger)
    held = windows(viz, env_name)

    # cells spaced apart: visdom's page collapses table borders, which ignores border-spacing
    hparams = text_of(held["hparams"])
    assert "border-collapse:separate" in hparams and "<td>lr</td><td>0.001</td>" in hparams

    # the summary's <pre> is sized to fit: a pane wider than visdom's default, and it scrolls
    model = held["model"]
    assert "<pre" in text_of(model) and "overflow:auto" in text_of(model)
    summary = text_of(model).split(">", 1)[1].rsplit("</pre>", 1)[0]
    widest = max(len(line) for line in summary.splitlines())
    assert model["width"] >= widest * 7 and model["height"] >= 150

    # the run by its name; its absolute folder only as the tooltip
    status = text_of(held["status"])
    shown = re.sub(r"<[^>]*>", " ", status)
    assert "exp/version_0" in shown
    assert str(tmp_path) not in shown
    assert f'title="{os.path.abspath(logger.log_dir)}"' in status
    assert "UTC" in shown and "elapsed" in shown and "success" in shown
    assert re.search(r"last&nbsp;step\s+7\b", shown)


class FailingModule(TinyModule):
    def training_step(self, batch, batch_idx):
        if self.global_step == 2:
            raise RuntimeError("boom")
        return super().training_step(batch, batch_idx)


def test_failed_run_shows_failed_status(tmp_path, make_logger, viz, env_name):
    logger = make_logger()
    with pytest.raises(RuntimeError, match="boom"):
        make_trainer(tmp_path, logger).fit(FailingModule(), *tiny_loaders())
    flush(logger)
    held = windows(viz, env_name)
    assert points(held["train_loss"])[0] == [0, 1]
    assert "failed" in text_of(held["status"])


def test_checkpoints_every_epoch_without_monitor(tmp_path, make_logger, viz, env_name):
    logger = make_logger(panes=["checkpoints"])
    every = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")
    latest = ModelCheckpoint(  # another state_key than `every`: saves on train steps
        dirpath=tmp_path / "latest", filename="latest-{epoch}", every_n_train_steps=STEPS_PER_EPOCH
    )
    make_trainer(
        tmp_path, logger, max_epochs=3, enable_checkpointing=True, callbacks=[every, latest]
    ).fit(TinyModule(), *tiny_loaders())
    flush(logger)
    pane = text_of(windows(viz, env_name)["checkpoints"])
    assert pane.count("no monitored metric") == 2
    for name in ("epoch=0.ckpt", "epoch=1.ckpt", "epoch=2.ckpt", "latest-epoch=2.ckpt"):
        assert name in pane
    assert "latest-epoch=1.ckpt" not in pane  # deleted by its callback (save_top_k=1)


def test_fast_dev_run_writes_nothing(tmp_path, make_logger, viz, env_name):
    logger = make_logger()
    make_trainer(tmp_path, logger, fast_dev_run=True).fit(TinyModule(), *tiny_loaders())
    assert logger._transport is None
    assert not os.path.exists(logger.root_dir)
    assert windows(viz, env_name) == {}


def test_experiment_is_a_visdom_client_on_rank_zero_only(make_logger, viz, env_name, monkeypatch):
    logger = make_logger()
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    assert isinstance(logger.experiment, _DummyExperiment)
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.log_hyperparams({"lr": 0.1})
    logger.finalize("success")
    assert logger._transport is None and not os.path.exists(logger.root_dir)

    monkeypatch.setattr(rank_zero_only, "rank", 0)
    assert isinstance(logger.experiment, visdom.Visdom)
    assert logger.experiment.env == env_name
    logger.experiment.text("from the client", win="notes")
    assert json.loads(viz.get_window_data("notes", env=env_name))["content"] == "from the client"


def test_server_down_training_continues(tmp_path, caplog):
    logger = VisdomLogger(tmp_path, server="http://127.0.0.1:9")  # nothing listens on port 9
    with caplog.at_level(logging.WARNING):
        make_trainer(tmp_path, logger, max_epochs=1).fit(TinyModule(), *tiny_loaders())
    journals = list(Path(logger.log_dir).glob("visdom-journal-*.jsonl"))
    assert len(journals) == 1 and "train_loss" in journals[0].read_text()
    assert "Traceback" not in caplog.text
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    logger._transport.close(timeout=0)


def test_pickles_before_and_after_first_use(make_logger, viz, env_name):
    logger = make_logger()
    fresh = pickle.loads(pickle.dumps(logger))  # before first use
    assert fresh.env == logger.env and fresh.log_dir == logger.log_dir

    logger.log_metrics({"loss": 1.0}, step=0)
    logger.log_metrics({"loss": 0.9}, step=1)
    flush(logger)
    copy = pickle.loads(pickle.dumps(logger))  # after: threads, client and files stay behind
    assert copy._transport is None
    copy.log_metrics({"loss": 0.95}, step=1)  # a step again: the newest value wins
    copy.log_metrics({"loss": 0.8}, step=2)
    flush(copy)
    copy._transport.close()
    assert points(windows(viz, env_name)["loss"]) == ([0, 1, 2], [1.0, 0.95, 0.8])


def test_resume_from_checkpoint_continues_without_duplicates(tmp_path, make_logger, viz):
    """Run 1 saves a checkpoint every epoch and trains 3 epochs; run 2 resumes from epoch 1's.

    Run 2 trains epoch 2 again, whose points replace run 1's (TensorBoard's purge_step rule), and
    adds epoch 3: every curve ends up with each step once, in order.
    """
    every_epoch = dict(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}")
    first = make_logger(name="res", env=None)
    L.seed_everything(0, verbose=False)
    make_trainer(
        tmp_path,
        first,
        max_epochs=3,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(**every_epoch)],
    ).fit(TinyModule(), *tiny_loaders())
    flush(first)
    env = first.env
    before = windows(viz, env)
    first._transport.close()

    # what a restarted script does: a new logger for the same version, hence the same env
    second = make_logger(name="res", env=None, version=first.version)
    assert second.env == env
    csv_logger = CSVLogger(tmp_path, name="csv")
    make_trainer(
        tmp_path,
        [second, csv_logger],
        max_epochs=4,
        enable_checkpointing=True,
        callbacks=[ModelCheckpoint(**every_epoch)],
    ).fit(TinyModule(), *tiny_loaders(), ckpt_path=str(tmp_path / "ckpt" / "epoch=1.ckpt"))
    flush(second)

    held = windows(viz, env)
    rerun = csv_series(os.path.join(csv_logger.log_dir, "metrics.csv"))
    assert min(rerun["train_loss"]) == 2 * STEPS_PER_EPOCH  # run 2 started at epoch 2
    for key in ("train_loss", "val_acc", "epoch"):
        xs, ys = points(held[key])
        assert strictly_increasing(xs), (key, xs)
        old_xs, old_ys = points(before[key])
        kept = sum(x < 2 * STEPS_PER_EPOCH for x in old_xs)
        assert (xs[:kept], ys[:kept]) == (old_xs[:kept], old_ys[:kept]), key
        assert xs[kept:] == sorted(rerun[key]), key
        assert ys[kept:] == pytest.approx([rerun[key][x] for x in xs[kept:]], rel=1e-5), key
    assert points(held["train_loss"])[0] == list(range(4 * STEPS_PER_EPOCH))
    assert points(held["val_acc"])[0] == [4 * e - 1 for e in (1, 2, 3, 4)]
    assert points(held["epoch"])[1][-1] == 3


# -- multi-process -------------------------------------------------------------------------


def run_helper(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(HELPERS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def assert_one_run_of_two_epochs(viz, env: str) -> None:
    held = windows(viz, env)
    # each of the 2 processes sees half of the 32 samples: 2 steps per epoch
    xs, _ = points(held["train_loss"])
    assert xs == [0, 1, 2, 3], "each point exactly once, from one process"
    assert points(held["val_acc"])[0] == [1, 3]
    assert points(held["epoch"])[0] == [0, 1, 2, 3]
    assert "success" in text_of(held["status"])
    assert "sync_dist" in text_of(held["hparams"])


@pytest.mark.slow
def test_ddp_two_processes_one_writer(tmp_path, visdom_server, viz, env_name):
    run_helper("ddp_script.py", "ddp", visdom_server.url, env_name, str(tmp_path))
    assert_one_run_of_two_epochs(viz, env_name)
    assert os.listdir(tmp_path / "ddp") == ["version_0"]


@pytest.mark.slow
def test_ddp_spawn_pickles_the_logger(tmp_path, visdom_server, viz, env_name):
    run_helper("ddp_script.py", "ddp_spawn", visdom_server.url, env_name, str(tmp_path))
    assert_one_run_of_two_epochs(viz, env_name)
    assert os.listdir(tmp_path / "ddp") == ["version_0"]


@pytest.mark.slow
def test_lightning_cli(tmp_path, visdom_server, viz, env_name):
    pytest.importorskip("jsonargparse")
    run_helper(
        "cli_script.py",
        "fit",
        "--trainer.logger=visdomkit.VisdomLogger",
        f"--trainer.logger.init_args.env={env_name}",
        f"--trainer.logger.init_args.server={visdom_server.url}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.logger.init_args.group_stages=true",
        "--trainer.max_epochs=1",
        "--trainer.log_every_n_steps=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.accelerator=cpu",
        "--model.hidden=6",
    )
    held = windows(viz, env_name)
    assert set(lines(held["loss"])) == {"train_loss", "val_loss"}
    assert "hidden" in text_of(held["hparams"]) and "6" in text_of(held["hparams"])
    assert (tmp_path / "visdom" / "version_0" / "hparams.yaml").is_file()


# -- login ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_login_server_credentials_never_shown(tmp_path, monkeypatch, caplog, env_name):
    password = "s3cret-Pa55word"
    with (
        VisdomServer(env_path=tmp_path / "envs", username="alice", password=password) as server,
        caplog.at_level(logging.DEBUG),
    ):
        # credentials from the VisdomServer
        logger = VisdomLogger(tmp_path / "logs", env=env_name, server=server)
        assert password not in repr(logger)
        make_trainer(tmp_path, logger, max_epochs=1).fit(TinyModule(), *tiny_loaders())
        flush(logger)
        logger._transport.close()
        # credentials from the environment, with the server's URL only
        monkeypatch.setenv("VISDOM_USERNAME", "alice")
        monkeypatch.setenv("VISDOM_PASSWORD", password)
        by_env = VisdomLogger(tmp_path / "env", env=env_name, server=server.url)
        by_env.log_metrics({"extra": 1.0}, step=0)
        flush(by_env)
        by_env._transport.close()
        # a wrong password: nothing is shown, nothing raises
        wrong = VisdomLogger(tmp_path / "wrong", env=env_name, server=server.url, password="not-it")
        wrong.log_metrics({"intruder": 1.0}, step=0)
        assert not wrong._transport.flush(5)
        wrong._transport.close(timeout=0)

        viz = visdom.Visdom(
            server="http://127.0.0.1",
            port=server.port,
            env=env_name,
            use_incoming_socket=False,
            raise_exceptions=True,
            username="alice",
            password=password,
        )
        held = windows(viz, env_name)
    assert len(points(held["train_loss"])[0]) == STEPS_PER_EPOCH
    assert points(held["extra"]) == ([0], [1.0])
    assert "intruder" not in held
    for title in ("hparams", "model", "status"):
        assert password not in text_of(held[title])
    assert password not in caplog.text and "not-it" not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file() and "envs" not in path.parts:
            assert password not in path.read_text(errors="replace"), path

    # a login needs both halves
    monkeypatch.delenv("VISDOM_PASSWORD")
    with pytest.raises(ValueError, match="password"):
        VisdomLogger(tmp_path, server="http://127.0.0.1:1")._credentials()
    explicit = VisdomLogger(tmp_path, username="bob", password=password)
    assert explicit._credentials() == {"username": "bob", "password": password}
    in_url = VisdomLogger(tmp_path, server=f"http://bob:{password}@127.0.0.1:1")
    assert password not in repr(explicit) and password not in repr(in_url)
