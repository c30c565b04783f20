"""gni.pairs: seeds, the paired configs and their table, without training."""

import pytest

from gni import GniError
from gni.pairs import (
    PAPER_NOISE,
    check_device_for,
    differences,
    pair_configs,
    pair_table,
    parse_seeds,
)


def test_seeds_are_a_range_or_a_list():
    assert parse_seeds("1000-1003") == (1000, 1001, 1002, 1003)
    assert parse_seeds(" 7, 3 ") == (7, 3)
    for bad, message in [
        ("1003-1000", "first <= last"),
        ("0-5000", "at most 1,000 seeds"),
        ("1,1", "distinct integers"),
        ("a-b", "allowed: first-last or a comma-separated list"),
        ("-1", "allowed: first-last"),
    ]:
        with pytest.raises(GniError, match=message):
            parse_seeds(bad)


def test_the_paper_profile_wants_a_gpu_unless_the_cpu_is_asked_for():
    with pytest.raises(GniError, match="profile paper needs a CUDA GPU"):
        check_device_for("paper", "auto", cuda_available=False)
    check_device_for("paper", "auto", cuda_available=True)
    check_device_for("paper", "cpu", cuda_available=False)
    check_device_for("cpu", "auto", cuda_available=False)


def test_pairs_differ_only_by_the_noise():
    pairs = pair_configs("text8", "cpu", (5, 6), {"dropout": "0.1"}, PAPER_NOISE)
    assert [(b.seed, n.seed) for b, n in pairs] == [(5, 5), (6, 6)]
    base, noisy = pairs[0]
    assert base.dropout == noisy.dropout == 0.1 and base.noise_schedule == "none"
    assert noisy.noise_schedule == "exponential" and noisy.noise_args == {
        "sigma0": 0.01,
        "gamma": 0.99,
    }
    with pytest.raises(GniError, match="noise_schedule set both by --set and --noise"):
        pair_configs("text8", "cpu", (5,), {"noise_schedule": "constant"}, PAPER_NOISE)
    with pytest.raises(GniError, match="the noise setting is empty"):
        pair_configs("text8", "cpu", (5,), {}, {})


def test_the_table_pairs_each_seeds_runs_and_their_differences():
    pairs = pair_configs("text8", "cpu", (1, 2, 3), {}, PAPER_NOISE)
    losses = {1: (2.0, 1.9), 2: (2.1, 2.1), 3: (2.2, 2.0)}  # seed: (baseline, noise)

    def train_one(config):
        loss = losses[config.seed][config.noise_schedule != "none"]
        return {"status": "ok", "device": "cuda", "best_val_loss": loss, "final_val_loss": None}

    table = pair_table(pairs, train_one)
    assert table["seed"].tolist() == [1, 2, 3]
    assert table["noise_best_val_loss"].tolist() == [1.9, 2.1, 2.0]
    assert set(table["noise_device"]) == {"cuda"}
    diff = differences(table)
    assert set(diff) == {"best_val_loss"}  # the other measures are missing
    assert diff["best_val_loss"].difference.mean == pytest.approx(-0.1)
    assert diff["best_val_loss"].difference.n == 3
