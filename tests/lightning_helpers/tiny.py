"""A tiny LightningModule on synthetic tensors: fast enough for real ``Trainer.fit`` runs in tests.

32 samples of 4 features, batch 8: 4 training steps per epoch.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def tiny_dataset(n: int = 32, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 4, generator=generator)
    labels = (features[:, 0] > 0).long()
    return TensorDataset(features, labels)


def tiny_loaders(batch_size: int = 8) -> tuple[DataLoader, DataLoader]:
    return (
        DataLoader(tiny_dataset(seed=0), batch_size=batch_size),
        DataLoader(tiny_dataset(n=16, seed=1), batch_size=batch_size),
    )


class TinyModule(L.LightningModule):
    """Logs ``train_loss`` every step and ``val_loss`` / ``val_acc`` every validation epoch.

    Args:
        lr: SGD learning rate.
        hidden: width of the hidden layer.
        sync_dist: reduce validation metrics across processes (DDP runs).
    """

    def __init__(self, lr: float = 0.1, hidden: int = 8, sync_dist: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.example_input_array = torch.zeros(1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        sync = self.hparams.sync_dist
        self.log("val_loss", nn.functional.cross_entropy(logits, y), sync_dist=sync)
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), sync_dist=sync)

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class TinyDataModule(L.LightningDataModule):
    """The tiny data as a DataModule (for LightningCLI)."""

    def __init__(self, batch_size: int = 8) -> None:
        super().__init__()
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return tiny_loaders(self.batch_size)[0]

    def val_dataloader(self) -> DataLoader:
        return tiny_loaders(self.batch_size)[1]
