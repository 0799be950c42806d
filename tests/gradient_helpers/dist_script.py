"""Two gloo processes on CPU: GradientNormLogger under DDP, manual sharding and FSDP2.

Run one process per rank: ``python dist_script.py RANK PORT URL ENV OUT_DIR MODE...`` with MODEs
``ddp``, ``sharded``, ``fsdp2`` (run in turn; env ``ENV_MODE``). Each rank writes
``OUT_DIR/MODE/rankN.json``: what its logger recorded (``history``), the
reference norms read at optimizer-step time, and, for DDP, the norms of the local (not yet
synchronized) gradients.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
import torch.distributed as dist
from torch import nn

from gradient_helpers.common import reference_norm
from visdomkit import GradientNormLogger
from visdomkit.models import DeepMLP
from visdomkit.transport import Transport

STEPS = 4
WORLD = 2


def run_ddp(rank: int, url: str, env: str, out: Path) -> dict:
    torch.manual_seed(0)
    model = DeepMLP(depth=3, width=16)
    local = DeepMLP(depth=3, width=16)
    local.load_state_dict(model.state_dict())
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    local_opt = torch.optim.SGD(local.parameters(), lr=0.1)
    refs: list[dict] = []
    opt.register_step_pre_hook(
        lambda o, a, k: refs.append(
            {n: reference_norm(p.grad) for n, p in model.named_parameters()}
        )
    )
    transport = Transport(url, env, run_dir=out / f"run{rank}", flush_interval=0.05)
    logger = GradientNormLogger(ddp, optimizer=opt, transport=transport)
    local_norms = []
    gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
    for _ in range(STEPS):
        x = torch.randn(8, 16, generator=gen)
        opt.zero_grad()
        ddp(x).pow(2).mean().backward()
        local_opt.zero_grad()
        local(x).pow(2).mean().backward()
        local_norms.append({n: reference_norm(p.grad) for n, p in local.named_parameters()})
        opt.step()
        local_opt.step()
    logger.remove()
    transport.close()
    return {
        "refs": refs,
        "local": local_norms,
        "names": logger.names,
        "history": {k: list(v) for k, v in logger.history.items()},
        "hooked_after": logger.hooked,
    }


class FullModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(8, 6)
        self.extra = nn.Parameter(torch.randn(3))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        return (y**2).sum() / y.numel() + (self.extra**2).sum()


class ShardedModel(nn.Module):
    """Rank r holds rows 3r..3r+2 of ``layer``; ``extra`` lives on rank 0 only (empty on 1)."""

    def __init__(self, full: FullModel, rank: int) -> None:
        super().__init__()
        rows = slice(3 * rank, 3 * rank + 3)
        self.layer = nn.Linear(8, 3)
        with torch.no_grad():
            self.layer.weight.copy_(full.layer.weight[rows])
            self.layer.bias.copy_(full.layer.bias[rows])
        self.extra = nn.Parameter(full.extra.detach().clone() if rank == 0 else torch.empty(0))
        self.rank = rank

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x)
        loss = (y**2).sum() / (y.numel() * WORLD)  # the full loss is the sum over ranks
        if self.rank == 0:
            loss = loss + (self.extra**2).sum()
        return loss


def run_sharded(rank: int, url: str, env: str, out: Path) -> dict:
    torch.manual_seed(0)
    full = FullModel()
    shard = ShardedModel(full, rank)
    opt = torch.optim.SGD(shard.parameters(), lr=0.1)
    full_opt = torch.optim.SGD(full.parameters(), lr=0.1)
    transport = Transport(url, env, run_dir=out / f"run{rank}", flush_interval=0.05)
    logger = GradientNormLogger(shard, optimizer=opt, transport=transport, sharded=True)
    refs, totals = [], []
    gen = torch.Generator().manual_seed(7)  # the same data on both ranks
    for _ in range(STEPS):
        x = torch.randn(5, 8, generator=gen)
        opt.zero_grad()
        shard.loss(x).backward()
        full_opt.zero_grad()
        full.loss(x).backward()
        refs.append({n: reference_norm(p.grad) for n, p in full.named_parameters()})
        grads = [p.grad for p in full.parameters()]
        totals.append(float(torch.nn.utils.get_total_norm(grads)))
        opt.step()
        full_opt.step()
    logger.remove()
    transport.close()
    return {
        "refs": refs,
        "totals": totals,
        "names": logger.names,
        "history": {k: list(v) for k, v in logger.history.items()},
    }


def run_fsdp2(rank: int, url: str, env: str, out: Path) -> dict:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    full = DeepMLP(depth=3, width=16)
    model = DeepMLP(depth=3, width=16)
    model.load_state_dict(full.state_dict())
    for layer in (model.fc1, model.fc2, model.fc3):
        fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    full_opt = torch.optim.SGD(full.parameters(), lr=0.1)
    transport = Transport(url, env, run_dir=out / f"run{rank}", flush_interval=0.05)
    logger = GradientNormLogger(model, optimizer=opt, transport=transport)  # sharded: detected
    refs, totals = [], []
    for step in range(STEPS):
        xs = [
            torch.randn(4, 16, generator=torch.Generator().manual_seed(10 * step + r))
            for r in range(WORLD)
        ]
        opt.zero_grad()
        model(xs[rank]).pow(2).mean().backward()  # FSDP averages the gradient over ranks
        full_opt.zero_grad()
        sum(full(x).pow(2).mean() for x in xs).div(WORLD).backward()
        refs.append({n: reference_norm(p.grad) for n, p in full.named_parameters()})
        totals.append(float(torch.nn.utils.get_total_norm([p.grad for p in full.parameters()])))
        opt.step()
        full_opt.step()
    logger.remove()
    transport.close()
    return {
        "refs": refs,
        "totals": totals,
        "names": logger.names,
        "sharded": logger._rec.sharded,
        "history": {k: list(v) for k, v in logger.history.items()},
    }


def main() -> None:
    """``python dist_script.py RANK PORT URL ENV OUT_DIR MODE...``: one of the two ranks."""
    rank, port, url, env, out, *modes = sys.argv[1:]
    rank = int(rank)
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        for mode in modes:
            run = {"ddp": run_ddp, "sharded": run_sharded, "fsdp2": run_fsdp2}[mode]
            folder = Path(out, mode)
            folder.mkdir(parents=True, exist_ok=True)
            result = run(rank, url, f"{env}_{mode}", folder)
            result["rank"] = rank
            (folder / f"rank{rank}.json").write_text(json.dumps(result))
            dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
