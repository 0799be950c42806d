"""GradientNormLogger with two gloo processes on CPU: DDP, manual sharding, FSDP2.

The two ranks run every mode in turn (one launch: importing torch is the slow part).
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from gradient_helpers.common import assert_close, env_windows, traces

from visdomkit.transport import window_id

SCRIPT = Path(__file__).parent / "gradient_helpers" / "dist_script.py"
MODES = ("ddp", "sharded", "fsdp2")
STEPS = 4

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(visdom_server, tmp_path_factory) -> dict[str, tuple[str, dict, dict]]:
    """``{mode: (env, rank 0 result, rank 1 result)}``."""
    out = tmp_path_factory.mktemp("dist")
    env = f"test_dist_{uuid.uuid4().hex[:8]}"
    port = str(free_port())
    logs = [open(out / f"rank{rank}.log", "w") for rank in (0, 1)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                str(rank),
                port,
                visdom_server.url,
                env,
                str(out),
                *MODES,
            ],
            stdout=logs[rank],
            stderr=subprocess.STDOUT,  # files, not pipes: a full pipe would stall its rank
        )
        for rank in (0, 1)
    ]
    try:
        for proc in procs:
            proc.wait(timeout=300)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for f in logs:
            f.close()
    for rank, proc in enumerate(procs):
        log_text = (out / f"rank{rank}.log").read_text()[-3000:]
        assert proc.returncode == 0, f"rank {rank}: {log_text}"
    return {
        mode: (
            f"{env}_{mode}",
            *(json.loads((out / mode / f"rank{r}.json").read_text()) for r in (0, 1)),
        )
        for mode in MODES
    }


def check_server(viz, env: str, rank0: dict) -> None:
    """The server holds rank zero's points, once: one trace per window, x = 0..STEPS-1."""
    expected = {f"grad_norm/{n}" for n in rank0["names"]} | {"grad_norm/total"}
    assert set(env_windows(viz, env)) == expected
    for window, points in rank0["history"].items():
        ((x, y),) = traces(viz, env, window_id(window)).values()
        assert x == list(range(STEPS))
        assert y == pytest.approx([v for _, v in points], rel=1e-6)


def test_ddp_norms_are_of_synchronized_gradients_and_only_rank_zero_logs(runs, viz):
    env, rank0, rank1 = runs["ddp"]
    assert rank1["history"] == {}  # rank 1 logged nothing
    assert rank0["hooked_after"] == rank1["hooked_after"] == 0
    for step in range(STEPS):
        for name in rank0["names"]:
            logged = rank0["history"][f"grad_norm/{name}"][step]
            assert logged[0] == step
            assert_close(logged[1], rank0["refs"][step][name], name)
            # Synchronized: both ranks hold the same gradient, unlike their local ones.
            assert_close(rank1["refs"][step][name], rank0["refs"][step][name], name)
        local = rank0["local"][step]["fc1.weight"]
        assert abs(rank0["refs"][step]["fc1.weight"] - local) > 1e-4 * local
    check_server(viz, env, rank0)


@pytest.mark.parametrize("mode", ["sharded", "fsdp2"])
def test_sharded_total_is_reduced_as_a_sum_of_squares(mode, runs, viz):
    env, rank0, rank1 = runs[mode]
    assert rank1["history"] == {}
    if mode == "fsdp2":
        assert rank0["sharded"] is True  # detected from the DTensor parameters
    else:
        assert "extra" in rank0["names"]  # a parameter only rank 0 has data for
    for step in range(STEPS):
        for name in rank0["names"]:
            logged = rank0["history"][f"grad_norm/{name}"][step]
            assert logged[0] == step
            assert_close(logged[1], rank0["refs"][step][name], f"{name} step {step}")
        total = rank0["history"]["grad_norm/total"][step][1]
        assert math.isfinite(total)
        assert_close(total, rank0["totals"][step], f"total step {step}")
    check_server(viz, env, rank0)
