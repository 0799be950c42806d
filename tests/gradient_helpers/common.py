"""Shared pieces of the gradient-norm tests: references, small models, what the server holds."""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from visdomkit.models import DeepMLP

RTOL = 1e-5


def reference_norm(grad: torch.Tensor) -> float:
    """The issue's reference: ``torch.linalg.vector_norm`` of the gradient (sparse: coalesced)."""
    if grad.is_sparse:
        grad = grad.coalesce().values()
    return float(torch.linalg.vector_norm(grad))


def named_grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


class StepReference:
    """Reads ``vector_norm(p.grad)`` of every parameter at optimizer-step time (a step pre-hook
    registered before the logger's; neither changes the gradients), plus get_total_norm."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.steps: list[dict[str, float]] = []
        self.totals: list[float] = []
        self.handle = optimizer.register_step_pre_hook(self._hook)

    def _hook(self, optimizer, args, kwargs) -> None:
        self.capture()

    def capture(self) -> None:
        grads = named_grads(self.model)
        self.steps.append({n: reference_norm(g) for n, g in grads.items()})
        dense = [g for g in grads.values() if not g.is_sparse]
        self.totals.append(float(torch.nn.utils.get_total_norm(dense)) if dense else math.nan)


def traces(viz, env: str, win: str) -> dict[str, tuple[list, list]]:
    """``{trace name: (x, y)}`` of one window as the server holds it."""
    pane = json.loads(viz.get_window_data(win, env=env))
    return {t["name"]: (t["x"], t["y"]) for t in pane["content"]["data"]}


def env_windows(viz, env: str) -> dict[str, dict]:
    """Every window of ``env`` by title."""
    data = json.loads(viz.get_window_data(None, env=env) or "{}")
    return {w["title"]: w for w in data.values()}


def assert_close(actual: float, expected: float, what: str = "") -> None:
    assert math.isclose(actual, expected, rel_tol=RTOL), f"{what}: {actual} != {expected}"


class Branchy(nn.Module):
    """Frozen layer, an optional branch, tied weights and a sparse embedding in one model.

    Parameters: ``emb.weight`` (sparse gradient), ``frozen.*`` (requires_grad=False),
    ``body.*``, ``branch.*`` (used only when ``use_branch``), ``head.weight`` tied to
    ``tied_in.weight`` (one parameter, two names).
    """

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8, sparse=True)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.tied_in = nn.Linear(8, 8, bias=False)
        self.body = nn.Linear(8, 8)
        self.branch = nn.Linear(8, 8)
        self.head = nn.Linear(8, 8, bias=False)
        self.head.weight = self.tied_in.weight  # shared parameter
        self.use_branch = True

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.frozen(self.emb(idx).mean(1))
        h = torch.relu(self.body(self.tied_in(h)))
        if self.use_branch:
            h = h + self.branch(h)
        return self.head(h)


class Sink:
    """A transport stand-in that keeps the points (for tests about the logger alone)."""

    env = "sink"

    def __init__(self) -> None:
        self.points: list[tuple[str, float, float]] = []

    def append(self, window, x, y, **kwargs) -> None:
        self.points.append((window, x, y))

    def window_id(self, name: str) -> str:
        return name

    def flush(self, timeout=None) -> bool:
        return True

    def close(self, timeout=None) -> bool:
        return True


def mlp(depth: int = 3, width: int = 16, seed: int = 0) -> DeepMLP:
    torch.manual_seed(seed)
    return DeepMLP(depth=depth, width=width)
