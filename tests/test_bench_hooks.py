"""The hooks benchmark runs end to end (a smoke run; no assertion on time) and its statistics."""

from __future__ import annotations

import math

import pytest

from visdomkit.bench import hooks


def test_quick_run_prints_every_row(capsys):
    assert hooks.main(["--quick", "--depth", "2", "--width", "32", "--compare-designs"]) == 0
    out = capsys.readouterr().out
    for variant in hooks.variants(compare_designs=True):
        assert variant.label in out
    assert "GradientNormLogger every step" in out and "<=2%" in out and "<=0.3%" in out
    assert "bootstrap 95 %" in out


def test_run_benchmark_returns_rows_for_a_notebook():
    result = hooks.run_benchmark(block=4, rounds=3, depth=2, width=16, batch=4)
    keys = [r.key for r in result.rows]
    assert keys[0] == hooks.BASELINE
    assert {"seed_empty", "lightning", "ours_every_step", "ours_every_100"} <= set(keys)
    base, *others = result.rows
    assert base.overheads == [] and math.isnan(base.ci_low) and base.ms_per_step > 0
    for row in others:
        assert len(row.overheads) == 3  # one pair (row block, baseline block) per round
        assert row.ci_low <= row.overhead_pct <= row.ci_high
    assert result.meta["rounds"] == 3 and result.meta["steps_per_row"] == 12
    assert result.as_dicts()[0]["key"] == hooks.BASELINE


def test_bootstrap_interval_and_verdicts():
    low, high = hooks.bootstrap_median_ci([0.1 * i for i in range(40)])
    assert low < 1.95 < high and high - low < 1.5
    assert all(math.isnan(v) for v in hooks.bootstrap_median_ci([1.0]))
    assert hooks._verdict(0.5, 1.5, 2.0) == "meets"
    assert hooks._verdict(2.5, 3.0, 2.0) == "misses"
    assert hooks._verdict(-1.0, 3.0, 2.0) == "CI wider than goal"
    assert hooks._verdict(3.0, 12.0, 2.0) == "CI wider than goal"  # wholly above, too wide
    assert hooks._verdict(-6.4, -0.1, 0.3) == "CI wider than goal"  # below, but far too wide
    assert hooks._verdict(1.5, 2.5, 2.0) == "undecided"
    assert hooks._verdict(0.0, 1.0, None) == ""


@pytest.mark.parametrize("argv", [["--rounds", "1"], ["--block", "0"], ["--device", "tpu"]])
def test_bad_options_are_refused(argv):
    with pytest.raises(SystemExit):
        hooks.main(argv)
