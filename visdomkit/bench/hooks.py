"""``python -m visdomkit bench hooks``: what gradient-norm logging costs a training step.

The seed's workload: :class:`~visdomkit.models.DeepMLP` (20 x Linear(512, 512), 40 parameter
tensors), batch 64, forward + backward + ``zero_grad(set_to_none=True)``, on CPU (and on CUDA
when present). Rows:

* baseline (nothing attached);
* the seed's five variants, with ``Tensor.register_hook`` on every parameter: empty hooks,
  hooks that store a reference to the gradient, ``.norm()`` + ``.item()`` every step,
  ``.norm()`` without ``.item()``, and ``.norm()`` + ``.item()`` every 100 steps;
* Lightning's ``lightning.pytorch.utilities.grad_norm`` every step;
* pytorch-ignite's ``GradsScalarHandler`` every step (when ignite is installed; its Visdom
  client is replaced by a stand-in that converts the values as ``viz.line`` does, and sends
  nothing);
* :class:`~visdomkit.GradientNormLogger` measuring every step and every 100 steps (its transport
  is a stand-in that takes the floats and sends nothing, so the rows measure the logger and not
  the network).

``--compare-designs`` adds the two ways of computing the norms that the logger chose between:
a norm inside each parameter's post-accumulate-grad hook (gradient still in cache) and fused
``torch._foreach_norm`` at step time, both writing into a device buffer without the logger.

Method (the machines are shared and noisy): every round runs, for every row in a freshly
shuffled order, one block of ``--block`` steps of that row and one of the baseline right before
or after it (a coin flip); the row's overhead in that round is its block time over its paired
baseline block's, minus one. Each row reports the median overhead over rounds and a bootstrap
95 % confidence interval of that median. With ``--max-seconds``, rounds are added until every
row with a goal has an interval narrower than its goal, or the time is up;
the table says which intervals are still too wide. On CUDA, the host synchronizations of each
row are counted with ``torch.cuda.set_sync_debug_mode("warn")``, and the logger rows are also run
once under ``"error"`` (zero host syncs between flushes is a goal).

``run_benchmark()`` returns the rows (for a notebook to chart); ``main()`` prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["BenchResult", "Row", "format_table", "main", "run_benchmark"]

BASELINE = "baseline"


# -- rows ---------------------------------------------------------------------------------------


class _Attachment:
    """What a row attaches to the model for one block: ``after_backward()`` runs every step."""

    def after_backward(self) -> None:
        pass

    def close(self) -> None:
        pass


class _TensorHooks(_Attachment):
    """The seed's variants: ``Tensor.register_hook`` on every trainable parameter."""

    def __init__(self, model: nn.Module, make: Callable[[str, dict], Callable]) -> None:
        self.store: dict[str, Any] = {}
        self.step = 0
        self.handles = [
            p.register_hook(make(name, self))
            for name, p in model.named_parameters()
            if p.requires_grad
        ]

    def after_backward(self) -> None:
        self.step += 1

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _seed_empty(name: str, owner: _TensorHooks) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        return None

    return hook


def _seed_store(name: str, owner: _TensorHooks) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        owner.store[name] = grad

    return hook


def _seed_norm_item(name: str, owner: _TensorHooks) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        owner.store[name] = grad.norm().item()

    return hook


def _seed_norm(name: str, owner: _TensorHooks) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        owner.store[name] = grad.norm()

    return hook


def _seed_every_100(name: str, owner: _TensorHooks) -> Callable:
    def hook(grad: torch.Tensor) -> None:
        if owner.step % 100 == 0:
            owner.store[name] = grad.norm().item()

    return hook


class _LightningGradNorm(_Attachment):
    def __init__(self, model: nn.Module) -> None:
        from lightning.pytorch.utilities import grad_norm

        self.model, self.grad_norm, self.last = model, grad_norm, None

    def after_backward(self) -> None:
        self.last = self.grad_norm(self.model, norm_type=2)


class _FakeVis:
    """Stands in for ``visdom.Visdom``: converts Y like ``viz.line`` does, sends nothing."""

    env = "bench"

    def line(self, X, Y, win=None, **kwargs):
        [float(y) for y in Y]  # the host copy visdom's line() makes of each value
        return win or kwargs.get("name")

    def save(self, envs):
        return envs


class _IgniteGrads(_Attachment):
    def __init__(self, model: nn.Module) -> None:
        from ignite.engine import Engine, Events
        from ignite.handlers.visdom_logger import GradsScalarHandler, VisdomLogger, _DummyExecutor

        self.logger = VisdomLogger.__new__(VisdomLogger)  # no server connection
        self.logger.vis = _FakeVis()
        self.logger.executor = _DummyExecutor()
        self.engine = Engine(lambda engine, batch: None)
        self.event = Events.ITERATION_COMPLETED
        self.handler = GradsScalarHandler(model, reduction=torch.norm)

    def after_backward(self) -> None:
        self.engine.state.iteration += 1
        self.handler(self.engine, self.logger, self.event)


class _NullTransport:
    """Takes points like :class:`~visdomkit.transport.Transport` and sends nothing."""

    env = "bench"

    def __init__(self) -> None:
        self.points = 0

    def append(self, window: str, x: Any, y: Any, **kwargs: Any) -> None:
        float(y)
        self.points += 1

    def window_id(self, name: str) -> str:
        return name

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> bool:
        return True


class _Ours(_Attachment):
    def __init__(self, model: nn.Module, every_n_steps: int) -> None:
        from visdomkit.gradients import GradientNormLogger

        self.transport = _NullTransport()
        self.logger = GradientNormLogger(
            model, transport=self.transport, every_n_steps=every_n_steps, flush_every_n_steps=100
        )

    def after_backward(self) -> None:
        self.logger.step()

    def close(self) -> None:
        self.logger.remove()


class _AltInHook(_Attachment):
    """Design alternative: the norm inside each post-accumulate-grad hook, into a buffer."""

    def __init__(self, model: nn.Module) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        self.buf = torch.zeros(100, len(params), device=params[0].device)
        self.row = 0
        self.handles = []
        for i, p in enumerate(params):

            def hook(param: torch.Tensor, i: int = i) -> None:
                torch.linalg.vector_norm(param.grad, out=self.buf[self.row, i])

            self.handles.append(p.register_post_accumulate_grad_hook(hook))

    def after_backward(self) -> None:
        self.row = (self.row + 1) % len(self.buf)

    def close(self) -> None:
        for h in self.handles:
            h.remove()


class _AltFused(_Attachment):
    """Design alternative: fused ``torch._foreach_norm`` at step time, into a buffer."""

    def __init__(self, model: nn.Module) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.buf = torch.zeros(100, len(self.params), device=self.params[0].device)
        self.row = 0

    def after_backward(self) -> None:
        norms = torch._foreach_norm([p.grad for p in self.params], 2.0)
        torch.stack(norms, out=self.buf[self.row])
        self.row = (self.row + 1) % len(self.buf)


@dataclass(frozen=True)
class Variant:
    """One row of the table: ``make(model)`` attaches it for one block."""

    key: str
    label: str
    make: Callable[[nn.Module], _Attachment]
    goal_pct: float | None = None
    ours: bool = False


def variants(compare_designs: bool = False) -> list[Variant]:
    """The rows, in table order (ignite's only when pytorch-ignite is installed)."""
    rows = [
        Variant(BASELINE, "baseline (nothing attached)", lambda m: _Attachment()),
        Variant("seed_empty", "seed: empty hooks", lambda m: _TensorHooks(m, _seed_empty)),
        Variant(
            "seed_store", "seed: store-reference hooks", lambda m: _TensorHooks(m, _seed_store)
        ),
        Variant(
            "seed_norm_item",
            "seed: .norm()+.item() every step",
            lambda m: _TensorHooks(m, _seed_norm_item),
        ),
        Variant(
            "seed_norm", "seed: .norm() without .item()", lambda m: _TensorHooks(m, _seed_norm)
        ),
        Variant(
            "seed_every_100",
            "seed: .norm()+.item() every 100 steps",
            lambda m: _TensorHooks(m, _seed_every_100),
        ),
        Variant("lightning", "Lightning grad_norm every step", _LightningGradNorm),
    ]
    try:
        import ignite  # noqa: F401

        rows.append(Variant("ignite", "ignite GradsScalarHandler every step", _IgniteGrads))
    except ImportError:
        pass
    rows += [
        Variant(
            "ours_every_step",
            "visdomkit GradientNormLogger every step",
            lambda m: _Ours(m, 1),
            goal_pct=2.0,
            ours=True,
        ),
        Variant(
            "ours_every_100",
            "visdomkit GradientNormLogger every 100 steps",
            lambda m: _Ours(m, 100),
            goal_pct=0.3,
            ours=True,
        ),
    ]
    if compare_designs:
        rows += [
            Variant("alt_in_hook", "design: norm in post-accumulate hook", _AltInHook),
            Variant("alt_fused", "design: fused _foreach_norm at step", _AltFused),
        ]
    return rows


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One row of results.

    Attributes:
        key: short name (``"ours_every_step"``).
        label: table text.
        ms_per_step: median block time over rounds, per step, in milliseconds.
        overhead_pct: median over rounds of (block time / baseline block time - 1), in %.
        ci_low: lower end of the bootstrap 95 % confidence interval of that median, in %.
        ci_high: upper end, in %.
        goal_pct: the goal it is compared with, if any.
        verdict: ``"meets"``, ``"misses"``, ``"CI wider than goal"`` or ``""``.
        syncs_per_step: host synchronizations per step (CUDA only; ``None`` elsewhere).
        sync_error_check: ``"pass"`` / the error, for the logger rows on CUDA.
        overheads: the per-round overheads, in %.
    """

    key: str
    label: str
    ms_per_step: float
    overhead_pct: float
    ci_low: float
    ci_high: float
    goal_pct: float | None = None
    verdict: str = ""
    syncs_per_step: float | None = None
    sync_error_check: str | None = None
    overheads: list[float] = field(default_factory=list)


@dataclass
class BenchResult:
    """Rows plus how they were measured (``meta``: device, threads, block, rounds, load...)."""

    rows: list[Row]
    meta: dict[str, Any]

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as plain dicts (e.g. for ``pandas.DataFrame``)."""
        return [asdict(r) for r in self.rows]


def bootstrap_median_ci(
    values: list[float], *, n_resamples: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap 95 % confidence interval of the median of ``values``.

    Example:
        >>> low, high = bootstrap_median_ci([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> low <= 3.0 <= high
        True
    """
    if len(values) < 2:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(n_resamples))
    return medians[int(0.025 * n_resamples)], medians[int(0.975 * n_resamples) - 1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _block(model: nn.Module, x: torch.Tensor, variant: Variant, steps: int) -> float:
    """Seconds for ``steps`` forward+backward passes with ``variant`` attached."""
    attachment = variant.make(model)
    gc.disable()  # as timeit does: no collection pauses inside a timed block
    try:
        _sync(x.device)
        start = time.perf_counter()
        for _ in range(steps):
            model(x).pow(2).mean().backward()
            attachment.after_backward()
            model.zero_grad(set_to_none=True)
        _sync(x.device)
        return time.perf_counter() - start
    finally:
        gc.enable()
        attachment.close()


def _count_syncs(model: nn.Module, x: torch.Tensor, variant: Variant, steps: int) -> float:
    """Host synchronizations per step under ``set_sync_debug_mode("warn")`` (CUDA)."""
    attachment = variant.make(model)
    try:
        model(x).pow(2).mean().backward()  # first-use allocations outside the count
        attachment.after_backward()
        model.zero_grad(set_to_none=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for _ in range(steps):
                    model(x).pow(2).mean().backward()
                    attachment.after_backward()
                    model.zero_grad(set_to_none=True)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught) / steps
    finally:
        attachment.close()


def _error_check(model: nn.Module, x: torch.Tensor, variant: Variant, steps: int) -> str:
    """Run ``steps`` steps (two flushes or more) under ``set_sync_debug_mode("error")``."""
    attachment = variant.make(model)
    try:
        model(x).pow(2).mean().backward()
        attachment.after_backward()
        model.zero_grad(set_to_none=True)
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(steps):
                model(x).pow(2).mean().backward()
                attachment.after_backward()
                model.zero_grad(set_to_none=True)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return "pass"
    except RuntimeError as exc:
        return f"FAILED: {str(exc).splitlines()[0][:80]}"
    finally:
        attachment.close()


def _verdict(low: float, high: float, goal: float | None) -> str:
    if goal is None or math.isnan(low):
        return ""
    # Either verdict needs an interval narrower than the goal: with few rounds the bootstrap
    # interval of a median is little more than the range of a handful of noisy values, so a
    # wide one that happens to lie wholly above (or below) the goal settles nothing.
    if high - low >= goal:
        return "CI wider than goal"
    if low > goal:
        return "misses"
    if high <= goal:
        return "meets"
    return "undecided"


def run_benchmark(
    *,
    device: str = "cpu",
    block: int = 100,
    rounds: int = 5,
    max_seconds: float = 0.0,
    depth: int = 20,
    width: int = 512,
    batch: int = 64,
    threads: int | None = None,
    compare_designs: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure every row; see the module docstring for the method.

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        block: steps per timed block (keep it a multiple of 100 so that the every-100-steps rows
            do their work once per block).
        rounds: rounds to run at least (each times one block of every row).
        max_seconds: keep adding rounds while a goal row's interval is wider than its goal, until
            this many seconds have passed since the start (0: exactly ``rounds``).
        depth: DeepMLP depth.
        width: DeepMLP width.
        batch: batch size.
        threads: ``torch.set_num_threads`` (default: leave torch's choice).
        compare_designs: add the two norm-placement rows.
        seed: seeds the model, the input and the shuffles.
        progress: called with a line of text after each round.

    Returns:
        A :class:`BenchResult`.

    Example:
        >>> result = run_benchmark(block=10, rounds=2, depth=2, width=32)  # doctest: +SKIP
        >>> [(r.key, round(r.overhead_pct, 1)) for r in result.rows]  # doctest: +SKIP
    """
    from visdomkit.models import DeepMLP

    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available")
    torch.manual_seed(seed)
    model = DeepMLP(depth=depth, width=width).to(dev)
    x = torch.randn(batch, width, device=dev)
    rows = variants(compare_designs)
    shuffler = random.Random(seed)
    load_before = _loadavg()
    start = time.monotonic()

    for variant in rows:  # warm-up: allocator, lazy imports, first-use costs
        _block(model, x, variant, min(block, 5))

    # Each row's block is paired with a baseline block run right before or after it (a coin
    # flip), so that the slow drifts of a shared machine cancel within the pair.
    baseline, *others = rows  # variants() lists the baseline first
    times: dict[str, list[float]] = {v.key: [] for v in others}
    paired_base: dict[str, list[float]] = {v.key: [] for v in others}
    done = 0
    while True:
        order = list(others)
        shuffler.shuffle(order)
        gc.collect()  # once per round, outside the timed blocks
        for variant in order:
            first_base = shuffler.random() < 0.5
            if first_base:
                base = _block(model, x, baseline, block)
            times[variant.key].append(_block(model, x, variant, block))
            if not first_base:
                base = _block(model, x, baseline, block)
            paired_base[variant.key].append(base)
        done += 1
        summary = _summarize(rows, times, paired_base, block)
        if progress:
            wide = [r.key for r in summary if r.verdict == "CI wider than goal"]
            progress(
                f"round {done}: {time.monotonic() - start:.0f} s"
                + (f", intervals still wider than goal: {', '.join(wide)}" if wide else "")
            )
        if done < rounds:
            continue
        too_wide = any(r.verdict == "CI wider than goal" for r in summary)
        if not too_wide or time.monotonic() - start >= max_seconds:
            break

    if dev.type == "cuda":
        for variant, row in zip(rows, summary, strict=True):
            row.syncs_per_step = _count_syncs(model, x, variant, min(block, 250))
            if variant.ours:
                row.sync_error_check = _error_check(model, x, variant, 250)
    meta = {
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "model": f"DeepMLP(depth={depth}, width={width}), batch {batch}",
        "block": block,
        "rounds": done,
        "steps_per_row": done * block,
        "seconds": round(time.monotonic() - start, 1),
        "loadavg_before": load_before,
        "loadavg_after": _loadavg(),
    }
    return BenchResult(summary, meta)


def _summarize(
    rows: list[Variant],
    times: dict[str, list[float]],
    paired_base: dict[str, list[float]],
    block: int,
) -> list[Row]:
    baseline, *others = rows
    all_base = [b for blocks in paired_base.values() for b in blocks]  # every baseline block
    base_ms = 1000.0 * statistics.median(all_base) / block
    out = [Row(BASELINE, baseline.label, base_ms, 0.0, math.nan, math.nan)]
    for variant in others:
        t, base = times[variant.key], paired_base[variant.key]
        overheads = [100.0 * (a / b - 1.0) for a, b in zip(t, base, strict=True)]
        low, high = bootstrap_median_ci(overheads)
        out.append(
            Row(
                key=variant.key,
                label=variant.label,
                ms_per_step=1000.0 * statistics.median(t) / block,
                overhead_pct=statistics.median(overheads),
                ci_low=low,
                ci_high=high,
                goal_pct=variant.goal_pct,
                verdict=_verdict(low, high, variant.goal_pct),
                overheads=overheads,
            )
        )
    return out


def _loadavg() -> tuple[float, float, float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    return None


# -- output -------------------------------------------------------------------------------------


def format_table(result: BenchResult) -> str:
    """The result as a plain-text table with a header of how it was measured."""
    m = result.meta
    lines = [
        f"gradient-norm logging overhead — {m['model']}, device {m['device']}, "
        f"torch {m['torch']}, {m['threads']} threads on {m['cpus']} CPUs",
        f"{m['rounds']} rounds x {m['block']} steps per row ({m['steps_per_row']} steps), "
        f"{m['seconds']} s; load average before {m['loadavg_before']}, after "
        f"{m['loadavg_after']}",
        "overhead = median over rounds of (row block time / its paired baseline block time - 1); "
        "CI: bootstrap 95 % of that median",
        "",
    ]
    cuda = any(r.syncs_per_step is not None for r in result.rows)
    header = f"{'row':<46} {'ms/step':>8} {'overhead':>9} {'95% CI':>17} {'goal':>7}  verdict"
    if cuda:
        header += "  syncs/step  sync 'error' check"
    lines += [header, "-" * len(header)]
    for r in result.rows:
        ci = f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if not math.isnan(r.ci_low) else "n/a"
        goal = f"<={r.goal_pct:g}%" if r.goal_pct is not None else ""
        over = "—" if r.key == BASELINE else f"{r.overhead_pct:+.2f}%"
        ci = "" if r.key == BASELINE else ci
        line = f"{r.label:<46} {r.ms_per_step:8.2f} {over:>9} {ci:>17} {goal:>7}  {r.verdict}"
        if cuda:
            line += f"  {r.syncs_per_step:10.2f}  {r.sync_error_check or ''}"
        lines.append(line.rstrip())
    wide = [r for r in result.rows if r.verdict == "CI wider than goal"]
    if wide:
        lines += [
            "",
            "Not settled: the interval is not narrower than the goal for "
            + ", ".join(
                f"'{r.label}' (width {r.ci_high - r.ci_low:.2f} points vs goal {r.goal_pct:g} %)"
                for r in wide
            )
            + ". Run more rounds (--rounds / --max-seconds) on a quieter machine.",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m visdomkit bench hooks``; prints the table(s)."""
    parser = argparse.ArgumentParser(
        prog="python -m visdomkit bench hooks",
        description="Overhead of gradient-norm logging on DeepMLP forward+backward passes "
        "(paired, interleaved, shuffled rounds; median and bootstrap 95%% CI).",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=500,
        help="steps per row in all (rounds = steps / block); default 500",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds (overrides --steps); each times one block of every row",
    )
    parser.add_argument(
        "--block",
        type=int,
        default=100,
        help="steps per timed block; keep a multiple of 100 (default 100)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=0.0,
        help="add rounds until every goal's CI is narrower than the goal, or "
        "this many seconds have passed (default 0: no extra rounds)",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "all"],
        default=None,
        help="default: cpu, then cuda when available",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--compare-designs",
        action="store_true",
        help="add rows for norms in post-accumulate hooks vs fused at step time",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 rounds of 10-step blocks (numbers mean nothing)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("steps", "block", "depth", "width", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.rounds is not None and args.rounds < 2:
        parser.error(f"--rounds must be >= 2 (an interval needs two), got {args.rounds}")
    if args.quick:
        args.block, args.rounds = 10, 2
    rounds = args.rounds or max(2, args.steps // args.block)
    if args.device in (None, "all"):
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [args.device]
    if args.device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    for i, device in enumerate(devices):
        result = run_benchmark(
            device=device,
            block=args.block,
            rounds=rounds,
            max_seconds=args.max_seconds,
            depth=args.depth,
            width=args.width,
            batch=args.batch,
            threads=args.threads,
            compare_designs=args.compare_designs,
            seed=args.seed,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        if i:
            print()
        print(format_table(result))
        if args.quick:
            print("(--quick: a smoke run; the numbers mean nothing)")
    if "cuda" not in devices:
        print("\n(no CUDA device: CUDA rows and the host-sync check were not run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
