"""Train TinyModule on 2 CPU processes with VisdomLogger.

Run as ``python ddp_script.py STRATEGY URL ENV SAVE_DIR``.

``strategy="ddp"`` re-runs this script for rank 1, so it must be a file, not a test function.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lightning as L

from lightning_helpers.tiny import TinyModule, tiny_loaders
from visdomkit import VisdomLogger


def main() -> None:
    strategy, url, env, save_dir = sys.argv[1:5]
    L.seed_everything(0, verbose=False)
    logger = VisdomLogger(save_dir, name="ddp", env=env, server=url)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=strategy,
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    train, val = tiny_loaders()
    trainer.fit(TinyModule(sync_dist=True), train, val)


if __name__ == "__main__":
    main()
