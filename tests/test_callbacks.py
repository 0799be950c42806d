"""GradientNormMonitor (a Lightning Callback): real Trainer runs, step-time references."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from gradient_helpers.common import assert_close, env_windows, traces
from gradient_helpers.lit import KeepLogger, RefModule, loader, trainer
from lightning.pytorch.plugins.precision import MixedPrecision

from visdomkit import GradientNormLogger, GradientNormMonitor
from visdomkit.transport import Transport

NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def check_against_refs(logged: dict[int, dict[str, float]], module: RefModule) -> None:
    for step, values in logged.items():
        assert set(values) == {f"net.{n}" for n in NAMES} | {"total"}
        for name in NAMES:
            assert_close(values[f"net.{name}"], module.refs[step][name], f"{name} step {step}")
        assert_close(values["total"], module.totals[step], f"total step {step}")


def test_monitor_logs_step_time_norms_through_the_trainers_loggers():
    module, keep, monitor = RefModule(), KeepLogger(), GradientNormMonitor()
    trainer(logger=keep, callbacks=[monitor], max_steps=6).fit(module, loader(6))
    logged = keep.grad_norm_calls()
    assert sorted(logged) == [0, 1, 2, 3, 4, 5]  # every_n_steps: the trainer's log_every_n_steps
    check_against_refs(logged, module)
    assert monitor.hooked == 0  # nothing left on the model after fit


def test_accumulate_grad_batches_logs_the_accumulated_gradient():
    module, keep = RefModule(), KeepLogger()
    trainer(logger=keep, callbacks=[GradientNormMonitor()], accumulate_grad_batches=3).fit(
        module, loader(12)
    )
    logged = keep.grad_norm_calls()
    assert sorted(logged) == [0, 1, 2, 3]  # 12 micro-batches, 4 optimizer steps
    check_against_refs(logged, module)


def test_16_mixed_norms_are_unscaled_and_skipped_steps_marked():
    module, keep = RefModule(inf_at_step=2), KeepLogger()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    trainer(
        logger=keep,
        callbacks=[GradientNormMonitor()],
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],  # CPU fp16 AMP + scaler
        max_steps=5,
    ).fit(module, loader(5))
    logged = keep.grad_norm_calls()
    assert logged.pop(2) == {"skipped": 1.0}  # marked, no norms for the skipped step
    assert sorted(logged) == [0, 1, 3, 4]
    check_against_refs(logged, module)
    for step, values in logged.items():
        assert values["total"] < 100 * module.totals[step]  # not scaled by 4096


def test_bf16_mixed():
    module, keep = RefModule(), KeepLogger()
    trainer(
        logger=keep, callbacks=[GradientNormMonitor()], precision="bf16-mixed", max_steps=3
    ).fit(module, loader(3))
    logged = keep.grad_norm_calls()
    assert sorted(logged) == [0, 1, 2]
    check_against_refs(logged, module)


def test_every_n_steps_and_group_by_module():
    module, keep = RefModule(), KeepLogger()
    monitor = GradientNormMonitor(every_n_steps=2, group_by="module", flush_every_n_steps=4)
    trainer(logger=keep, callbacks=[monitor], max_steps=7).fit(module, loader(7))
    logged = keep.grad_norm_calls()
    assert sorted(logged) == [0, 2, 4, 6]
    for step, values in logged.items():
        assert set(values) == {"net.fc1", "net.fc2", "net.fc3", "total"}
        for layer in ("fc1", "fc2", "fc3"):
            w, b = module.refs[step][f"{layer}.weight"], module.refs[step][f"{layer}.bias"]
            assert_close(values[f"net.{layer}"], math.hypot(w, b), layer)
    assert [s for s, _ in monitor.history["grad_norm/total"]] == [0, 2, 4, 6]


def test_gradient_norm_logger_lightning_callback_writes_to_visdom(
    visdom_server, env_name, viz, tmp_path
):
    module = RefModule()
    transport = Transport(visdom_server, env_name, run_dir=tmp_path, flush_interval=0.05)
    with GradientNormLogger(module.net, transport=transport) as grads:
        trainer(logger=False, callbacks=[grads.lightning_callback()], max_steps=4).fit(
            module, loader(4)
        )
    transport.close()
    assert grads.hooked == 0
    assert set(env_windows(viz, env_name)) == {f"grad_norm/{n}" for n in NAMES} | {
        "grad_norm/total"
    }
    for name in NAMES:
        ((x, y),) = traces(viz, env_name, grads.window_id(f"grad_norm/{name}")).values()
        assert x == [0, 1, 2, 3]
        for step, value in enumerate(y):
            assert_close(value, module.refs[step][name], name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n_steps": 0}, "every_n_steps must be a positive int, got 0"),
        ({"group_by": "layer"}, "group_by must be one of"),
        ({"flush_every_n_steps": -3}, "flush_every_n_steps must be a positive int, got -3"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradientNormMonitor(**kwargs)


@pytest.mark.slow
def test_ddp_only_rank_zero_logs_synchronized_norms(tmp_path):
    script = Path(__file__).parent / "gradient_helpers" / "lit_ddp_script.py"
    with open(tmp_path / "out.log", "w") as out:  # a file, not a pipe: rank 1 writes to it too
        proc = subprocess.run(
            [sys.executable, str(script), str(tmp_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert proc.returncode == 0, (tmp_path / "out.log").read_text()[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank1["logged"] == {}
    assert sorted(rank0["logged"]) == ["0", "1", "2", "3"]
    for step, values in rank0["logged"].items():
        for name in NAMES:
            expected = rank0["refs"][step][name]
            assert_close(values[f"net.{name}"], expected, f"{name} step {step}")
            assert_close(rank1["refs"][step][name], expected, "ranks hold the same gradient")
        assert_close(values["total"], rank0["totals"][step], f"total step {step}")
    assert rank0["hooked"] == rank1["hooked"] == 0
