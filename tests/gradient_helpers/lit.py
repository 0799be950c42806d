"""A small LightningModule that records reference norms, and a logger that keeps what it gets."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.loggers.logger import Logger
from torch.utils.data import DataLoader, TensorDataset

from gradient_helpers.common import reference_norm
from visdomkit.models import DeepMLP


def loader(n_batches: int, batch: int = 4, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(torch.randn(n_batches * batch, 16, generator=g)), batch)


class RefModule(L.LightningModule):
    """DeepMLP(3, 16) on ``mean(out**2)``; reads ``vector_norm(p.grad)`` in its own
    ``on_before_optimizer_step`` (Lightning calls it right after the callbacks' hook: same
    gradients). ``inf_at_step``: poison a gradient so that a GradScaler skips that step."""

    def __init__(self, inf_at_step: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = DeepMLP(depth=3, width=16)
        self.inf_at_step = inf_at_step
        self.refs: dict[int, dict[str, float]] = {}
        self.totals: dict[int, float] = {}

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return self.net(x).float().pow(2).mean()

    def on_after_backward(self) -> None:
        if self.global_step == self.inf_at_step:
            self.net.fc1.weight.grad[0, 0] = float("inf")

    def on_before_optimizer_step(self, optimizer) -> None:
        grads = {n: p.grad for n, p in self.net.named_parameters() if p.grad is not None}
        self.refs[self.global_step] = {n: reference_norm(g) for n, g in grads.items()}
        self.totals[self.global_step] = float(torch.nn.utils.get_total_norm(grads.values()))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class KeepLogger(Logger):
    """Keeps every ``log_metrics`` call: ``calls`` is a list of ``(step, metrics)``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "keep"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics, step=None) -> None:
        self.calls.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    def grad_norm_calls(self, prefix: str = "grad_norm/") -> dict[int, dict[str, float]]:
        """``{step: {name without prefix: value}}`` of the calls with gradient norms."""
        out: dict[int, dict[str, float]] = {}
        for step, metrics in self.calls:
            picked = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
            if picked:
                assert step not in out, f"step {step} logged twice"
                out[step] = picked
        return out


def trainer(**kwargs) -> L.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    defaults.update(kwargs)
    return L.Trainer(**defaults)
