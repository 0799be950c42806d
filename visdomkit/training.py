"""The training code the demo and the notebooks share: a hand-written loop and a LightningModule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from visdomkit.models import SimpleCNN


@dataclass
class EpochResult:
    """What one epoch of :func:`fit_manual` measured."""

    epoch: int
    train_loss: float
    val_accuracy: float
    learning_rate: float


def evaluate(model: nn.Module, loader: DataLoader) -> float:
    """Accuracy of ``model`` on ``loader`` (a float in [0, 1])."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += labels.numel()
    model.train()
    return correct / max(total, 1)


def fit_manual(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    epochs: int,
    lr: float = 1e-3,
    on_epoch_end: Callable[[EpochResult], None] | None = None,
    progress: bool = False,
) -> list[EpochResult]:
    """Train with a hand-written loop: Adam, cross-entropy, one callback per epoch.

    Args:
        model: the network (e.g. :class:`~visdomkit.models.SimpleCNN`).
        train_loader: training batches.
        val_loader: validation batches, for the accuracy after each epoch.
        epochs: number of passes over ``train_loader``.
        lr: Adam's learning rate.
        on_epoch_end: called with each :class:`EpochResult` (e.g. to plot it).
        progress: show a tqdm progress bar.

    Returns:
        One :class:`EpochResult` per epoch.
    """
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    results = []
    model.train()
    for epoch in range(epochs):
        total_loss = torch.zeros(())
        batches = tqdm(train_loader, desc=f"epoch {epoch}", disable=not progress, leave=False)
        for images, labels in batches:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach()
        result = EpochResult(
            epoch=epoch,
            train_loss=total_loss.item() / max(len(train_loader), 1),
            val_accuracy=evaluate(model, val_loader),
            learning_rate=optimizer.param_groups[0]["lr"],
        )
        results.append(result)
        if on_epoch_end is not None:
            on_epoch_end(result)
    return results


class LitClassifier(L.LightningModule):
    """:class:`~visdomkit.models.SimpleCNN` as a LightningModule (stage 3).

    Logs ``train_loss`` every step and ``val_acc`` every validation epoch; Lightning adds
    ``epoch`` to what loggers receive.

    Args:
        lr: Adam's learning rate.
    """

    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = SimpleCNN()
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = self.criterion(self(images), labels)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        images, labels = batch
        accuracy = (self(images).argmax(dim=1) == labels).float().mean()
        self.log("val_acc", accuracy, on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
