"""GradientNormMonitor under Lightning DDP, 2 CPU processes: ``python lit_ddp_script.py OUT``.

``strategy="ddp"`` re-runs this file for rank 1. Each rank writes ``OUT/rankN.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from gradient_helpers.lit import KeepLogger, RefModule, loader, trainer
from visdomkit import GradientNormMonitor


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    module, keep, monitor = RefModule(), KeepLogger(), GradientNormMonitor()
    t = trainer(logger=keep, callbacks=[monitor], strategy="ddp", devices=2, max_steps=4)
    t.fit(module, loader(8))  # the sampler gives each rank different batches
    result = {
        "rank": t.global_rank,
        "logged": keep.grad_norm_calls(),
        "refs": module.refs,
        "totals": module.totals,
        "hooked": monitor.hooked,
    }
    (out / f"rank{t.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
