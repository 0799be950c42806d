"""The main job: the MNIST dashboard of every stage in one Visdom env.

Stage 1 trains :class:`~visdomkit.models.SimpleCNN` with a hand-written loop and plots loss,
accuracy and learning rate per epoch through :class:`~visdomkit.LinePlotter`. Stages 3 and 4 train
the same model through a LightningModule and Trainer with :class:`~visdomkit.VisdomLogger`
(``train_loss``, ``val_acc``, ``epoch``) and :class:`~visdomkit.GradientNormLogger` (one window
per parameter and the total): 15 plots in all.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("visdomkit")

STAGE1_METRICS = ("loss", "accuracy", "learning_rate")
DEFAULT_ENV = "visdomkit_demo"


@dataclass
class DemoResult:
    """What :func:`run_demo` produced."""

    env: str
    data_description: str
    seconds: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    server: Any,
    *,
    env: str = DEFAULT_ENV,
    epochs: int = 3,
    fast: bool = False,
    run_dir: str | Path = "runs",
    progress: bool = False,
    stages: tuple[str, ...] = ("1", "3", "4"),
    seed: int = 0,
) -> DemoResult:
    """Train the demo model and stream every stage's plots to ``server`` in env ``env``.

    Args:
        server: a URL such as ``http://127.0.0.1:8097`` or a :class:`~visdomkit.VisdomServer`.
        env: the Visdom env that receives every window.
        epochs: epochs per stage.
        fast: shrink the data (1,024 training / 512 validation digits) for a quick run.
        run_dir: folder for the Lightning logger's run files.
        progress: show progress bars.
        stages: which stages to run: ``"1"`` (hand-written loop), ``"3"`` (Lightning with
            VisdomLogger), ``"4"`` (adds GradientNormLogger to the stage-3 run; needs ``"3"``).
        seed: seeds torch, the data split and the shuffling.

    Returns:
        A :class:`DemoResult` naming the env and the data source.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    unknown = set(stages) - {"1", "3", "4"}
    if unknown or ("4" in stages and "3" not in stages):
        raise ValueError(
            f"stages must be drawn from ('1', '3', '4'), and '4' needs '3'; got {stages!r}"
        )
    from visdomkit.data import mnist_loaders

    start = time.perf_counter()
    train_loader, val_loader, data = mnist_loaders(batch_size=64, fast=fast, seed=seed)
    result = DemoResult(env=env, data_description=data.description, seconds=0.0)
    if "1" in stages:
        t0 = time.perf_counter()
        _stage1(server, env, train_loader, val_loader, epochs, progress, seed)
        result.stage_seconds["1"] = time.perf_counter() - t0
    if "3" in stages:
        t0 = time.perf_counter()
        _stage3(
            server,
            env,
            train_loader,
            val_loader,
            epochs,
            progress,
            seed,
            Path(run_dir),
            fast,
            with_gradients="4" in stages,
        )
        result.stage_seconds["3"] = time.perf_counter() - t0
    result.seconds = time.perf_counter() - start
    return result


def _stage1(server, env, train_loader, val_loader, epochs, progress, seed) -> None:
    from visdomkit.models import SimpleCNN
    from visdomkit.plotter import LinePlotter
    from visdomkit.training import fit_manual

    torch.manual_seed(seed)
    with LinePlotter(env=env, server=server, xlabel="epoch", log_y={"learning_rate"}) as plotter:

        def plot(r):
            plotter.log(
                {
                    "loss": r.train_loss,
                    "accuracy": r.val_accuracy,
                    "learning_rate": r.learning_rate,
                },
                step=r.epoch,
            )

        fit_manual(
            SimpleCNN(),
            train_loader,
            val_loader,
            epochs=epochs,
            on_epoch_end=plot,
            progress=progress,
        )
        plotter.flush()


def _stage3(
    server, env, train_loader, val_loader, epochs, progress, seed, run_dir, fast, with_gradients
) -> None:
    import lightning as L

    from visdomkit.gradients import GradientNormLogger
    from visdomkit.lightning import VisdomLogger
    from visdomkit.training import LitClassifier

    L.seed_everything(seed, verbose=False)
    module = LitClassifier(lr=1e-3)
    logger = VisdomLogger(save_dir=run_dir, name="demo", env=env, server=server)
    with contextlib.ExitStack() as stack:
        callbacks = []
        if with_gradients:
            grads = stack.enter_context(GradientNormLogger(module.model, env=env, server=server))
            callbacks.append(grads.lightning_callback())
        trainer = L.Trainer(
            max_epochs=epochs,
            logger=logger,
            callbacks=callbacks,
            accelerator="cpu",
            devices=1,
            enable_checkpointing=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
            log_every_n_steps=1 if fast else 10,
        )
        trainer.fit(module, train_loader, val_loader)
