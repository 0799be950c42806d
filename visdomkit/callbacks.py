"""Lightning Callback forms of the gradient-norm monitor.

:class:`GradientNormMonitor` measures per-parameter and total L2 gradient norms in
``on_before_optimizer_step`` (which Lightning calls once per optimizer step, after gradient
accumulation, after unscaling with ``precision="16-mixed"``, and before clipping) and logs them
through the trainer's loggers, like Lightning's ``LearningRateMonitor``. The measuring machinery
(hooks, device buffer, one host copy every N steps) is the one of
:class:`~visdomkit.GradientNormLogger`; see :mod:`visdomkit.gradients`.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from visdomkit.gradients import _GROUP_BY, NormRow, _check_positive_int, _Recorder, window_values

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from visdomkit.gradients import GradientNormLogger

log = logging.getLogger("visdomkit")

__all__ = ["GradientNormMonitor"]

_SHARDED_STRATEGIES = ("FSDPStrategy", "DeepSpeedStrategy", "ModelParallelStrategy")


def scaler_state(
    trainer: pl.Trainer, optimizer: Any
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(found_inf, inv_scale)`` of the trainer's GradScaler for ``optimizer``, on the device.

    ``found_inf`` (> 0: the scaler will skip this step) is ``None`` without an enabled scaler.
    ``inv_scale`` is set only when the gradients are still scaled (an optimizer that unscales
    inside its own step, which Lightning leaves alone). Never synchronizes.
    """
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    if scaler is None or not scaler.is_enabled() or getattr(scaler, "_scale", None) is None:
        return None, None
    from torch.amp.grad_scaler import OptState

    optimizer = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer
    state = scaler._per_optimizer_states[id(optimizer)]
    if state["stage"] is OptState.READY:
        return None, scaler._scale.double().reciprocal().float()
    found = list(state["found_inf_per_device"].values())
    if not found:
        return None, None
    total = found[0].float()
    for t in found[1:]:
        total = total + t.to(total.device, non_blocking=True)
    return total, None


class GradientNormMonitor(Callback):
    """Logs per-parameter (or per-module) and total L2 gradient norms through the trainer's loggers.

    Metric names: ``{prefix}/{parameter name}`` (or ``{prefix}/{module name}`` with
    ``group_by="module"``), ``{prefix}/total``, and ``{prefix}/skipped`` (skipped steps so far)
    at a step the GradScaler skips for inf/NaN gradients (no norms are logged for that step).
    The ``step`` given to the loggers is ``trainer.global_step`` at the optimizer step.

    Norms are measured in ``on_before_optimizer_step``: the accumulated gradient with
    ``accumulate_grad_batches``, unscaled with ``precision="16-mixed"``, synchronized under DDP
    (only rank zero logs). With sharded strategies (FSDP, DeepSpeed, ModelParallel; or
    ``sharded=True``) the squares are summed across ranks. They stay on the device and reach the
    loggers in one copy every ``flush_every_n_steps`` steps and at the end of training, so the
    loggers receive them late (with their own ``step``). Loggers that refuse steps older than the
    last one they saw (Weights & Biases) may drop them; ``flush_every_n_steps=1`` makes the delay
    at most one step (not verified with W&B).

    Args:
        every_n_steps: measure every this many optimizer steps. Default: the trainer's
            ``log_every_n_steps``.
        flush_every_n_steps: optimizer steps between host copies.
        flush_secs: seconds between host copies at most.
        group_by: ``"parameter"`` or ``"module"``.
        prefix: metric name prefix.
        sharded: sum squares across ranks (default: by strategy or DTensor parameters).

    Example:
        >>> from lightning.pytorch import Trainer
        >>> from visdomkit import GradientNormMonitor, VisdomLogger
        >>> trainer = Trainer(
        ...     logger=VisdomLogger(env="mnist"),
        ...     callbacks=[GradientNormMonitor(every_n_steps=10)],
        ...     precision="16-mixed",
        ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        *,
        flush_every_n_steps: int = 100,
        flush_secs: float = 5.0,
        group_by: str = "parameter",
        prefix: str = "grad_norm",
        sharded: bool | None = None,
        history_size: int = 10_000,
    ) -> None:
        if every_n_steps is not None:
            _check_positive_int("every_n_steps", every_n_steps)
        _check_positive_int("flush_every_n_steps", flush_every_n_steps)
        _check_positive_int("history_size", history_size)
        if not isinstance(flush_secs, int | float) or not flush_secs > 0:
            raise ValueError(f"flush_secs must be a positive number, got {flush_secs!r}")
        if group_by not in _GROUP_BY:
            raise ValueError(f"group_by must be one of {_GROUP_BY}, got {group_by!r}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
        self.every_n_steps = every_n_steps
        self.flush_every_n_steps = flush_every_n_steps
        self.flush_secs = flush_secs
        self.group_by = group_by
        self.prefix = prefix
        self.sharded = sharded
        self.names: list[str] = []
        self.history: dict[str, deque[tuple[int, float]]] = defaultdict(
            lambda: deque(maxlen=history_size)
        )
        self.skipped_steps: list[int] = []
        self._rec: _Recorder | None = None
        self._failed = False

    @property
    def hooked(self) -> int:
        """How many backward hooks are attached right now."""
        return self._rec.hooked if self._rec is not None else 0

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After the strategy wrapped the model (FSDP replaces parameters).
        sharded = self.sharded
        if sharded is None and type(trainer.strategy).__name__ in _SHARDED_STRATEGIES:
            sharded = True
        self._teardown()
        self._rec = _Recorder(
            pl_module,
            every_n_steps=self.every_n_steps or max(1, trainer.log_every_n_steps),
            flush_every_n_steps=self.flush_every_n_steps,
            flush_secs=self.flush_secs,
            sharded=sharded,
            process_group=None,
        )
        self.names = list(self._rec.names)
        self._failed = False
        if trainer.is_global_zero and not trainer.loggers:
            log.warning("GradientNormMonitor: the trainer has no logger; norms are not logged")

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self._rec is None or self._failed:
            return
        try:
            found_inf, inv_scale = scaler_state(trainer, optimizer)
            self._rec.record(trainer.global_step, found_inf=found_inf, inv_scale=inv_scale)
            self._log(trainer, self._rec.drain())
        except Exception as exc:  # monitoring must never stop training
            self._failed = True
            log.warning("GradientNormMonitor failed; disabled for this run: %s", exc, exc_info=True)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._rec is not None and not self._failed:
            self._rec.copy_out()
            self._log(trainer, self._rec.drain(block=True))
        self._teardown()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._teardown()  # also after an exception: leave no hook behind

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._teardown()

    def _teardown(self) -> None:
        if self._rec is not None:
            self._rec.detach()
            self._rec = None

    def _log(self, trainer: pl.Trainer, rows: list[NormRow]) -> None:
        if not rows or not trainer.is_global_zero:
            return
        for row in rows:
            if row.skipped:
                self.skipped_steps.append(row.step)
                metrics = {f"{self.prefix}/skipped": float(len(self.skipped_steps))}
            else:
                metrics = {
                    f"{self.prefix}/{k}": v
                    for k, v in window_values(row, self.names, self.group_by).items()
                }
            if not metrics:
                continue
            for key, value in metrics.items():
                self.history[key].append((row.step, value))
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=row.step)


class GradientNormLoggerCallback(Callback):
    """Drives a :class:`~visdomkit.GradientNormLogger` from Lightning (it writes to Visdom
    itself, not through the trainer's loggers). Made by
    :meth:`GradientNormLogger.lightning_callback`.

    Example:
        >>> with GradientNormLogger(module, env="mnist") as grads:  # doctest: +SKIP
        ...     Trainer(callbacks=[grads.lightning_callback()]).fit(module, loader)
    """

    def __init__(self, logger: GradientNormLogger) -> None:
        self.logger = logger

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        found_inf, inv_scale = scaler_state(trainer, optimizer)
        self.logger._record(trainer.global_step, found_inf, inv_scale)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.logger.flush(timeout=0)
