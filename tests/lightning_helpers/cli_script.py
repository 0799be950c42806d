"""LightningCLI over TinyModule and TinyDataModule.

Run as ``python cli_script.py fit --trainer.logger=visdomkit.VisdomLogger ...``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lightning.pytorch.cli import LightningCLI

from lightning_helpers.tiny import TinyDataModule, TinyModule

if __name__ == "__main__":
    LightningCLI(TinyModule, TinyDataModule)
