import dataclasses
import math

import pytest
import torch

from gni import paths
from gni.config import make_config
from gni.data import TokenData
from gni.results import ResultsStore, load_curves, load_runs
from gni.train import Run, build_model, lr_at, stream_seed, train

pytestmark = pytest.mark.smoke


def _smoke(**overrides):
    return make_config("shakespeare_char", "smoke", 0, overrides)


def test_smoke_run_writes_a_complete_record_and_is_reused():
    config = _smoke()
    result = train(config, progress=False)
    assert not result.reused and result.status == "ok"
    assert sorted(p.name for p in result.path.iterdir()) == [
        "config.json",
        "curves.csv",
        "summary.json",
    ]
    curves = result.curves
    assert curves["iter"].tolist() == [0, 10, 20]
    assert curves["train_loss"].iloc[-1] < curves["train_loss"].iloc[0]  # it learns
    assert math.isnan(curves["grad_norm"].iloc[0]) and curves["grad_norm"].iloc[1:].gt(0).all()
    assert curves["lr"].iloc[-1] == pytest.approx(lr_at(config, 20))
    s = result.summary
    assert s["final_val_bpc"] == pytest.approx(s["final_val_loss"] / math.log(2))
    assert s["final_test_loss"] is None  # shakespeare_char has no test split
    assert s["tokens_per_s"] > 0 and s["peak_memory_mb"] > 0 and s["vocab_size"] == 65
    assert (paths.checkpoint_dir() / config.run_id / "model.pt").is_file()
    assert not (paths.checkpoint_dir() / config.run_id / "resume.pt").exists()

    again = train(config, progress=False)
    assert again.reused and again.summary == s

    runs = load_runs(dataset="shakespeare_char")
    assert runs["run_id"].tolist() == [config.run_id] and runs["status"].tolist() == ["ok"]
    assert len(load_curves(profile="smoke")) == 3 and load_runs(dataset="text8").empty


def test_test_split_is_evaluated_where_it_exists():
    result = train(
        make_config("text8", "smoke", 0, {"max_iters": 4, "eval_interval": 2}), progress=False
    )
    assert result.summary["final_test_loss"] > 0 and result.summary["vocab_size"] == 27


def test_lr_schedule_warmup_then_cosine_to_min_lr():
    c = _smoke(learning_rate=1.0, min_lr=0.1, warmup_iters=4, lr_decay_iters=14)
    assert lr_at(c, 0) == pytest.approx(0.2) and lr_at(c, 3) == pytest.approx(0.8)
    assert lr_at(c, 4) == pytest.approx(1.0)
    assert lr_at(c, 9) == pytest.approx(0.55)
    assert lr_at(c, 14) == lr_at(c, 100) == pytest.approx(0.1)


@pytest.mark.parametrize("noise", [False, True])
def test_resumed_run_matches_uninterrupted_run_bit_for_bit(noise, tmp_path):
    overrides = {"dropout": 0.1, "max_iters": 16, "eval_interval": 4}
    if noise:
        overrides |= {"noise_schedule": "exponential", "noise_args": {"sigma0": 0.05, "gamma": 0.9}}
    config = _smoke(**overrides)
    whole = train(config, store=ResultsStore(tmp_path / "a"), checkpoint_interval=0, progress=False)
    assert train(config, store=ResultsStore(tmp_path / "b"), stop_at=7, progress=False) is None
    assert (paths.checkpoint_dir() / config.run_id / "resume.pt").is_file()
    torch.manual_seed(999)  # disturb the global generator: the checkpoint must restore it
    resumed = train(config, store=ResultsStore(tmp_path / "b"), progress=False)
    for column in ("train_loss", "val_loss", "grad_norm", "noise_ratio", "lr", "sigma"):
        assert resumed.curves[column].equals(whole.curves[column]), column
    for key in ("final_train_loss", "best_val_loss", "final_val_loss"):
        assert resumed.summary[key] == whole.summary[key]


def test_baseline_and_noisy_runs_share_init_and_batches():
    base = _smoke()
    noisy = dataclasses.replace(base, noise_schedule="constant", noise_args={"sigma0": 0.1})
    a, b = build_model(base, 65), build_model(noisy, 65)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    ra, rb = train(base, progress=False), train(noisy, progress=False)
    # the first evaluation happens before any update: identical losses
    for column in ("train_loss", "val_loss"):
        assert ra.curves[column].iloc[0] == rb.curves[column].iloc[0]
    # afterwards the noise changes the trajectory
    assert ra.curves["train_loss"].iloc[-1] != rb.curves["train_loss"].iloc[-1]
    assert rb.curves["noise_ratio"].iloc[1] > 0 and rb.curves["sigma"].iloc[0] == 0.1


def test_baseline_and_noisy_runs_draw_identical_batches():
    base = _smoke()
    noisy = dataclasses.replace(base, noise_schedule="constant", noise_args={"sigma0": 0.1})
    data = TokenData(base.dataset, base.data_bytes, base.train_chars)
    runs = [Run(base, data, "cpu"), Run(noisy, data, "cpu")]
    for _ in range(5):
        for run in runs:
            run.train_step()
    assert torch.equal(runs[0].batches.get_state(), runs[1].batches.get_state())
    assert runs[1].noise.t == 5 and runs[1].noise.last_std == 0.1


def test_relative_noise_is_recorded_as_its_norm_ratio():
    config = _smoke(noise_schedule="constant", noise_args={"sigma0": 0.2}, noise_scale="relative")
    curves = train(config, progress=False).curves
    # std = sigma * rms(g), so ||noise|| / ||g|| = sigma
    assert curves["noise_ratio"].iloc[1:].tolist() == pytest.approx([0.2, 0.2])


def test_streams_are_distinct_and_depend_on_the_seed():
    seeds = {stream_seed(s, name) for s in (0, 1) for name in ("init", "batches", "noise")}
    assert len(seeds) == 6


def test_diverging_run_is_recorded_as_diverged_without_raising():
    config = _smoke(learning_rate=1e6, min_lr=0.0, grad_clip=0.0, max_iters=40)
    result = train(config, progress=False)
    assert result.status == "diverged"
    assert result.summary["iters_done"] < 40
    assert result.summary["final_val_loss"] is None
    assert ResultsStore().has(config.run_id)
