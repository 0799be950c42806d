"""GradientNormLogger: correct norms (against step-time references) and what the server holds."""

from __future__ import annotations

import gc
import math
import weakref

import pytest
import torch
import torch.nn.functional as F
from gradient_helpers.common import (
    Branchy,
    Sink,
    StepReference,
    assert_close,
    env_windows,
    mlp,
    reference_norm,
    traces,
)
from torch import nn

from visdomkit import GradientNormLogger
from visdomkit.gradients import NormRow, grad_norms, module_of, window_values
from visdomkit.models import DeepMLP, SimpleCNN
from visdomkit.transport import Transport


@pytest.fixture
def transport(visdom_server, env_name, tmp_path):
    t = Transport(visdom_server, env_name, run_dir=tmp_path / "run", flush_interval=0.05)
    yield t
    t.close()


def points(logger: GradientNormLogger, window: str) -> tuple[list[int], list[float]]:
    pts = list(logger.history[window])
    return [s for s, _ in pts], [v for _, v in pts]


# -- correctness, on the server ----------------------------------------------------------------


def test_simplecnn_windows_hold_the_step_time_norms(
    visdom_server, env_name, viz, tmp_path, monkeypatch
):
    monkeypatch.setenv("VISDOMKIT_RUN_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = SimpleCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(
        model, optimizer=opt, server=visdom_server, env=env_name, flush_every_n_steps=4
    )
    for _ in range(6):
        x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    logger.remove()

    names = [n for n, _ in model.named_parameters()]
    assert len(names) == 8
    expected = {f"grad_norm/{n}" for n in names} | {"grad_norm/total"}
    assert set(env_windows(viz, env_name)) == expected  # 8 per-parameter windows + total
    for name in names:
        (x, y), *others = traces(viz, env_name, logger.window_id(f"grad_norm/{name}")).values()
        assert not others
        assert x == [0, 1, 2, 3, 4, 5]
        for step, value in enumerate(y):
            assert_close(value, ref.steps[step][name], f"{name} step {step}")
    ((x, y),) = traces(viz, env_name, logger.window_id("grad_norm/total")).values()
    assert x == [0, 1, 2, 3, 4, 5]
    for step, value in enumerate(y):
        assert_close(value, ref.totals[step], f"total step {step} vs get_total_norm")


def test_accumulated_gradient_is_measured_once_per_optimizer_step(transport, viz, env_name):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(model, optimizer=opt, transport=transport)
    k, partial = 4, []
    for _ in range(3):
        for micro in range(k):
            (model(torch.randn(4, 16)).pow(2).mean() / k).backward()
            if micro == 0:
                partial.append(reference_norm(model.fc1.weight.grad))
        opt.step()
        opt.zero_grad()
    logger.remove()

    for name in logger.names:
        ((x, y),) = traces(viz, env_name, logger.window_id(f"grad_norm/{name}")).values()
        assert x == [0, 1, 2]  # one point per optimizer step, not one per micro-batch
        for step, value in enumerate(y):
            assert_close(value, ref.steps[step][name], name)
    # The first micro-batch's partial gradient is not what got plotted.
    _, fc1 = points(logger, "grad_norm/fc1.weight")
    assert all(abs(v - p) > 1e-3 * p for v, p in zip(fc1, partial, strict=True))


def amp_steps(model, opt, scaler, logger, steps, inf_at, explicit):
    for step in range(steps):
        with torch.autocast("cpu", dtype=torch.float16):
            out = model(torch.randn(4, 16))
        scaler.scale(out.float().pow(2).mean()).backward()
        if step in inf_at:
            model.fc1.weight.grad[0, 0] = float("inf")  # the scaler must skip this step
        if explicit:
            logger.step()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()


def test_gradscaler_norms_are_unscaled_and_skipped_steps_are_marked(transport, viz, env_name):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    ref = StepReference(model, opt)  # runs only for steps the scaler applies, after unscaling
    logger = GradientNormLogger(model, optimizer=opt, scaler=scaler, transport=transport)
    amp_steps(model, opt, scaler, logger, steps=6, inf_at={2}, explicit=True)
    logger.remove()

    assert logger.skipped_steps == [2]
    applied = [0, 1, 3, 4, 5]
    assert len(ref.steps) == len(applied)
    for name in logger.names:
        ((x, y),) = traces(viz, env_name, logger.window_id(f"grad_norm/{name}")).values()
        assert x == applied  # nothing plotted for the skipped step
        for value, expected in zip(y, ref.steps, strict=True):
            assert_close(value, expected[name], name)
            assert value < 100 * expected[name]  # not the scaled gradient (scale 4096)
    ((x, y),) = traces(viz, env_name, logger.window_id("grad_norm/skipped")).values()
    assert (x, y) == ([2], [1.0])
    assert set(env_windows(viz, env_name)) == set(logger.windows)


def test_gradscaler_without_step_call_still_plots_unscaled_norms(caplog):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    ref = StepReference(model, opt)
    sink = Sink()
    with caplog.at_level("INFO", logger="visdomkit"):
        logger = GradientNormLogger(model, optimizer=opt, scaler=scaler, transport=sink)
        amp_steps(model, opt, scaler, logger, steps=4, inf_at={1}, explicit=False)
        logger.remove()
    assert "logger.step()" in caplog.text
    steps, values = points(logger, "grad_norm/fc2.weight")
    assert steps == [0, 1, 2]  # the skipped step is invisible without logger.step()
    for value, expected in zip(values, ref.steps, strict=True):
        assert_close(value, expected["fc2.weight"], "fc2.weight")


def test_frozen_unused_tied_and_sparse_parameters(transport, viz, env_name):
    torch.manual_seed(0)
    model = Branchy()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(model, optimizer=opt, transport=transport)
    # Frozen parameters are not hooked; the tied weight is one parameter under its first name.
    assert logger.names == [
        "emb.weight",
        "tied_in.weight",
        "body.weight",
        "body.bias",
        "branch.weight",
        "branch.bias",
    ]
    assert not model.frozen.weight._post_accumulate_grad_hooks
    assert logger.hooked == 6
    idx = torch.tensor([[1, 2, 2, 7], [7, 7, 3, 1]])  # repeated rows: uncoalesced sparse grads
    for step in range(4):
        model.use_branch = step % 2 == 0
        opt.zero_grad(set_to_none=False)  # an unused branch keeps a zero-filled .grad
        model(idx).pow(2).mean().backward()
        assert model.emb.weight.grad.is_sparse
        opt.step()
    logger.remove()

    assert ref.steps[1]["branch.weight"] == 0.0  # a stale zero a naive logger would plot
    ((x, y),) = traces(viz, env_name, logger.window_id("grad_norm/branch.weight")).values()
    assert x == [0, 2]
    for name in ["emb.weight", "tied_in.weight", "body.weight"]:
        ((x, y),) = traces(viz, env_name, logger.window_id(f"grad_norm/{name}")).values()
        assert x == [0, 1, 2, 3]
        for step, value in enumerate(y):
            assert_close(value, ref.steps[step][name], name)
    _, totals = points(logger, "grad_norm/total")
    for step, value in enumerate(totals):
        expected = math.sqrt(sum(v * v for v in ref.steps[step].values()))
        assert_close(value, expected, f"total step {step}")


def test_group_by_module(transport, viz, env_name):
    torch.manual_seed(0)
    model = SimpleCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(model, optimizer=opt, transport=transport, group_by="module")
    for _ in range(2):
        F.cross_entropy(model(torch.randn(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3])).backward()
        opt.step()
        opt.zero_grad()
    logger.remove()
    modules = ["conv1", "conv2", "fc1", "fc2"]
    assert logger.windows == [f"grad_norm/{m}" for m in modules] + ["grad_norm/total"]
    assert set(env_windows(viz, env_name)) == set(logger.windows)
    for module in modules:
        ((x, y),) = traces(viz, env_name, logger.window_id(f"grad_norm/{module}")).values()
        assert x == [0, 1]
        for step, value in enumerate(y):
            w, b = ref.steps[step][f"{module}.weight"], ref.steps[step][f"{module}.bias"]
            assert_close(value, math.hypot(w, b), module)


# -- lifecycle ---------------------------------------------------------------------------------


def test_remove_and_context_exit_leave_no_hook_and_no_reference():
    model = mlp(depth=2, width=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with GradientNormLogger(model, optimizer=opt, transport=Sink()) as logger:
        assert logger.hooked == 4
        assert all(p._post_accumulate_grad_hooks for p in model.parameters())
        assert len(opt._optimizer_step_pre_hooks) == 1
        for _ in range(2):
            model(torch.randn(2, 8)).sum().backward()
            opt.step()
    assert logger.hooked == 0
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())
    assert not opt._optimizer_step_pre_hooks
    logger.remove()  # twice is fine
    logger.step()  # and a no-op now
    assert points(logger, "grad_norm/total")[0] == [0, 1]

    model_ref, opt_ref = weakref.ref(model), weakref.ref(opt)
    del model, opt
    gc.collect()
    assert model_ref() is None and opt_ref() is None  # the logger (still alive) holds neither


def test_every_n_steps_hooks_only_when_due_and_one_copy_per_flush():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(
        model,
        optimizer=opt,
        transport=Sink(),
        every_n_steps=3,
        flush_every_n_steps=6,
        flush_secs=1e9,
    )
    copies = []
    original = logger._rec.copy_out

    def counting_copy_out():
        copies.append(len(logger._rec._row_steps))
        original()

    logger._rec.copy_out = counting_copy_out
    hooked = []
    for _ in range(12):
        model(torch.randn(2, 16)).sum().backward()
        opt.step()
        opt.zero_grad()
        hooked.append(logger.hooked)
        if len(hooked) == 3:
            assert logger.transport.points == []  # nothing reached the host before a flush
        if len(hooked) == 4:
            assert logger.transport.points != []  # the buffer was full after step 3
    logger.remove()
    # Hooks are attached only for the backward passes of steps 3, 6, 9 (and 12).
    assert hooked == [0, 0, 6, 0, 0, 6, 0, 0, 6, 0, 0, 6]
    assert copies == [2, 2, 0]  # rows {0, 3} and {6, 9} in one copy each, then the final one
    steps, values = points(logger, "grad_norm/fc2.bias")
    assert steps == [0, 3, 6, 9]
    for step, value in zip(steps, values, strict=True):
        assert_close(value, ref.steps[step]["fc2.bias"], "fc2.bias")


def test_no_host_synchronization_between_flushes(monkeypatch):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = StepReference(model, opt)
    ref.handle.remove()  # it reads .item(); capture by hand after the guarded section
    logger = GradientNormLogger(
        model, optimizer=opt, transport=Sink(), flush_every_n_steps=1000, flush_secs=1e9
    )
    syncs = []

    def forbid(name):
        def call(self, *args, **kwargs):
            syncs.append(name)
            raise AssertionError(f"host synchronization: Tensor.{name}")

        return call

    grads_per_step = []
    with monkeypatch.context() as m:
        for name in ["item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__"]:
            m.setattr(torch.Tensor, name, forbid(name))
        for _ in range(5):
            model(torch.randn(2, 16)).sum().backward()
            grads_per_step.append({n: p.grad.clone() for n, p in model.named_parameters()})
            opt.step()
            opt.zero_grad()
    assert syncs == []
    assert logger.transport.points == []
    logger.remove()
    for step, grads in enumerate(grads_per_step):
        for name, grad in grads.items():
            assert_close(logger.history[f"grad_norm/{name}"][step][1], reference_norm(grad), name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_cuda_synchronization_between_flushes():
    torch.manual_seed(0)
    model = DeepMLP(depth=4, width=64).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    logger = GradientNormLogger(model, optimizer=opt, transport=Sink(), flush_every_n_steps=10)
    x = torch.randn(8, 64, device="cuda")
    model(x).sum().backward()  # warm-up allocations outside the checked section
    opt.step()
    opt.zero_grad()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(25):  # includes two flushes (asynchronous copies)
            model(x).sum().backward()
            opt.step()
            opt.zero_grad()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    logger.remove()
    assert len(logger.history["grad_norm/total"]) == 26


def test_explicit_step_without_optimizer():
    model = mlp(depth=2, width=8)
    logger = GradientNormLogger(model, transport=Sink())
    expected = []
    for _ in range(3):
        model(torch.randn(2, 8)).sum().backward()
        expected.append(reference_norm(model.fc2.weight.grad))
        logger.step()
        model.zero_grad()
    logger.remove()
    steps, values = points(logger, "grad_norm/fc2.weight")
    assert steps == [0, 1, 2]
    for value, exp in zip(values, expected, strict=True):
        assert_close(value, exp, "fc2.weight")


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_model(backend):
    torch._dynamo.reset()
    model = mlp()
    compiled = torch.compile(model, backend=backend)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref = StepReference(model, opt)
    logger = GradientNormLogger(compiled, optimizer=opt, transport=Sink(), every_n_steps=2)
    assert logger.names == [n for n, _ in model.named_parameters()]  # no "_orig_mod." prefix
    from torch._dynamo.utils import counters

    counters.clear()
    for _ in range(6):
        compiled(torch.randn(4, 16)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
    logger.remove()
    assert counters["stats"]["unique_graphs"] <= 1  # attaching/removing hooks: no recompiles
    steps, values = points(logger, "grad_norm/fc1.weight")
    assert steps == [0, 2, 4]
    for step, value in zip(steps, values, strict=True):
        assert_close(value, ref.steps[step]["fc1.weight"], "fc1.weight")


# -- pieces and arguments ----------------------------------------------------------------------


def test_grad_norms_matches_vector_norm_across_dtypes():
    torch.manual_seed(0)
    grads = [
        torch.randn(300, 7),
        torch.randn(50, dtype=torch.float64),
        torch.randn(64, dtype=torch.float16) * 1000,  # its norm overflows fp16 arithmetic
        torch.randn(33, dtype=torch.bfloat16),
        torch.sparse_coo_tensor(
            torch.tensor([[0, 0, 3]]), torch.tensor([1.0, 2.0, 4.0]), (5,), check_invariants=True
        ),
    ]
    norms = grad_norms(grads)
    assert all(n.dtype == torch.float32 and n.dim() == 0 for n in norms)
    for n, g in zip(norms, grads, strict=True):
        dense = g.to_dense() if g.is_sparse else g
        assert_close(float(n), float(torch.linalg.vector_norm(dense.double())), str(g.dtype))
    assert math.isclose(float(norms[-1]), 5.0)  # duplicates summed before squaring: (3, 4)


def test_window_values_and_module_names():
    row = NormRow(7, [3.0, 4.0, None, 12.0], skipped=False)
    names = ["a.weight", "a.bias", "b.weight", "scale"]
    assert window_values(row, names, "parameter") == {
        "a.weight": 3.0,
        "a.bias": 4.0,
        "scale": 12.0,
        "total": 13.0,
    }
    assert window_values(row, names, "module") == {"a": 5.0, "model": 12.0, "total": 13.0}
    assert window_values(NormRow(0, [None] * 4, False), names, "parameter") == {}
    assert module_of("encoder.layers.0.weight") == "encoder.layers.0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n_steps": 0}, "every_n_steps must be a positive int, got 0"),
        ({"flush_every_n_steps": 2.5}, "flush_every_n_steps must be a positive int, got 2.5"),
        ({"group_by": "layer"}, "group_by must be one of"),
        ({"scaler": object()}, "scaler needs optimizer="),
        ({"flush_secs": -1}, "flush_secs must be a positive number, got -1"),
        ({"prefix": ""}, "prefix must be a non-empty string"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradientNormLogger(nn.Linear(2, 2), transport=Sink(), **kwargs)


def test_model_without_trainable_parameters_is_refused():
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        GradientNormLogger(frozen, transport=Sink())
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        GradientNormLogger("model", transport=Sink())


def test_bad_server_or_env_leaves_no_hook_behind():
    model = mlp(depth=2, width=8)
    with pytest.raises(ValueError, match="server must be a URL"):
        GradientNormLogger(model, server="not a url")
    with pytest.raises(ValueError, match="env must not contain"):
        GradientNormLogger(model, server="http://127.0.0.1:1", env="../x")
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())
