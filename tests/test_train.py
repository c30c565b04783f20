import dataclasses
import math
import re

import pytest
import torch

from gni import GniError, paths
from gni.config import make_config
from gni.data import TokenData
from gni.resources import (
    CpuTimeCheck,
    evaluations_after,
    gpu_advice,
    n_parameters,
    training_memory,
)
from gni.results import ResultsStore, load_curves, load_runs
from gni.train import (
    Run,
    build_model,
    lr_at,
    stream_seed,
    train,
)


def _smoke(**overrides):
    return make_config("shakespeare_char", "smoke", 0, overrides)


@pytest.mark.smoke
def test_smoke_run_writes_a_complete_record_and_is_reused(capsys):
    config = _smoke()
    result = train(config, progress=False)
    assert "warning" not in capsys.readouterr().err  # seconds on the CPU: nothing to say
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


@pytest.mark.smoke
def test_test_split_is_evaluated_where_it_exists():
    result = train(
        make_config("text8", "smoke", 0, {"max_iters": 4, "eval_interval": 2}), progress=False
    )
    assert result.summary["final_test_loss"] > 0 and result.summary["vocab_size"] == 27


def _template_lr(it: int, c) -> float:
    """get_lr of the AI Scientist nanoGPT template (templates/nanoGPT/experiment.py)."""
    if it < c.warmup_iters:
        return c.learning_rate * it / c.warmup_iters
    if it > c.lr_decay_iters:
        return c.min_lr
    decay_ratio = (it - c.warmup_iters) / (c.lr_decay_iters - c.warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return c.min_lr + coeff * (c.learning_rate - c.min_lr)


@pytest.mark.parametrize("dataset", ["shakespeare_char", "enwik8"])
@pytest.mark.parametrize("profile", ["paper", "cpu", "smoke"])
def test_learning_rate_is_the_templates_at_every_step(dataset, profile):
    c = make_config(dataset, profile)
    ours = [lr_at(c, it) for it in range(c.max_iters + 1)]  # the template takes max_iters + 1
    assert ours == [_template_lr(it, c) for it in range(c.max_iters + 1)]
    assert ours[0] == 0.0 and ours[c.warmup_iters] == c.learning_rate and ours[-1] == c.min_lr


@pytest.mark.smoke
def test_a_run_takes_max_iters_plus_one_steps_and_records_both_train_losses():
    config = _smoke(dropout=0.2)
    result = train(config, progress=False)
    s = result.summary
    assert s["iters_done"] == config.max_iters + 1
    assert result.curves["iter"].tolist() == [0, 10, 20]  # evaluations before steps 0, 10, 20
    assert s["final_train_loss_eval"] == result.curves["train_loss"].iloc[-1]
    # the template's final_train_loss: step max_iters's minibatch, in train mode (dropout on)
    assert s["final_train_loss_minibatch"] != s["final_train_loss_eval"]
    assert 0 < s["final_train_loss_minibatch"] < 10
    assert s["recipe_version"] >= 2 and s["gni_version"]
    assert s["git_commit"] is None or len(s["git_commit"].removesuffix("+dirty")) == 40


@pytest.mark.smoke
@pytest.mark.parametrize("noise", ["none", "independent", "anticorrelated"])
def test_resumed_run_matches_uninterrupted_run_bit_for_bit(noise, tmp_path):
    overrides = {"dropout": 0.1, "max_iters": 16, "eval_interval": 4}
    if noise != "none":
        overrides |= {"noise_schedule": "exponential", "noise_args": {"sigma0": 0.05, "gamma": 0.9}}
    if noise == "anticorrelated":  # the previous draw and the probe's state resume too
        overrides |= {"noise_kind": "anticorrelated", "diagnostics": True}
    config = _smoke(**overrides)
    whole = train(config, store=ResultsStore(tmp_path / "a"), checkpoint_interval=0, progress=False)
    stopped = train(config, store=ResultsStore(tmp_path / "b"), stop_at=7, progress=False)
    assert stopped.status == "stopped" and stopped.summary["iters_done"] == 7
    assert (paths.checkpoint_dir() / config.run_id / "resume.pt").is_file()
    torch.manual_seed(999)  # disturb the global generator: the checkpoint must restore it
    resumed = train(config, store=ResultsStore(tmp_path / "b"), progress=False)
    assert list(resumed.curves) == list(whole.curves)
    for column in whole.curves:
        if column != "wall_s":
            assert resumed.curves[column].equals(whole.curves[column]), column
    for key in ("final_train_loss_eval", "final_train_loss_minibatch", "best_val_loss"):
        assert resumed.summary[key] == whole.summary[key]


@pytest.mark.smoke
def test_diagnostics_measure_without_changing_training():
    noisy = {"noise_schedule": "constant", "noise_args": {"sigma0": 0.01}}
    plain = train(_smoke(**noisy), progress=False)
    probed = train(_smoke(**noisy, diagnostics=True), progress=False)
    assert probed.run_id != plain.run_id
    for column in plain.curves:
        if column != "wall_s":
            assert probed.curves[column].equals(plain.curves[column]), column
    assert probed.summary["final_val_loss"] == plain.summary["final_val_loss"]
    later = probed.curves.iloc[1:]
    names = [n for n, _ in build_model(_smoke(), 65).named_parameters()]
    assert {f"noise_ratio/{n}" for n in names} <= set(later)
    assert {f"adam_v/{n}" for n in names} <= set(later)
    assert (later["signal_step"] > 0).all() and (later["step_norm"] >= later["signal_step"]).all()
    assert later["grad_spread_rms"].gt(0).all() and later["grad_rms"].gt(0).all()
    # the per-tensor ratio is sigma * sqrt(n_i) / ||g_i||: its norm-weighted mean is the
    # whole-gradient ratio's order of magnitude
    assert later[[f"noise_ratio/{n}" for n in names]].gt(0).all().all()


@pytest.mark.smoke
@pytest.mark.parametrize("placement", ["post_clip", "pre_clip"])
def test_clipping_is_recorded_with_what_the_optimizer_receives(placement):
    noisy = {"noise_schedule": "constant", "noise_args": {"sigma0": 0.05}}
    tight = train(_smoke(**noisy, grad_clip=1e-3, noise_placement=placement), progress=False)
    later = tight.curves.iloc[1:]
    assert later["clipped_fraction"].eq(1.0).all()
    if placement == "pre_clip":  # clipping comes last: nothing larger reaches the optimizer
        assert later["update_grad_norm"].le(1e-3 * (1 + 1e-5)).all()
    else:  # the noise comes after clipping: about sigma * sqrt(n) on top
        assert later["update_grad_norm"].gt(1e-3).all()
    loose = train(_smoke(grad_clip=0.0, noise_placement=placement), progress=False)
    assert loose.curves["clipped_fraction"].iloc[1:].eq(0.0).all()
    # no noise, no clipping: the optimizer receives the gradient itself
    assert loose.curves["update_grad_norm"].iloc[1:].tolist() == pytest.approx(
        loose.curves["grad_norm"].iloc[1:].tolist(), rel=1e-5
    )


@pytest.mark.smoke
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


@pytest.mark.smoke
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


@pytest.mark.smoke
def test_relative_noise_is_recorded_as_its_norm_ratio():
    config = _smoke(noise_schedule="constant", noise_args={"sigma0": 0.2}, noise_scale="relative")
    curves = train(config, progress=False).curves
    # std = sigma * rms(g), so ||noise|| / ||g|| = sigma
    assert curves["noise_ratio"].iloc[1:].tolist() == pytest.approx([0.2, 0.2])


def test_streams_are_distinct_and_depend_on_the_seed():
    seeds = {stream_seed(s, name) for s in (0, 1) for name in ("init", "batches", "noise")}
    assert len(seeds) == 6


@pytest.mark.smoke
def test_diverging_run_is_recorded_as_diverged_without_raising():
    config = _smoke(learning_rate=1e6, min_lr=0.0, grad_clip=0.0, max_iters=40)
    result = train(config, progress=False)
    assert result.status == "diverged"
    assert result.summary["iters_done"] < 40
    assert result.summary["final_val_loss"] is None
    assert ResultsStore().has(config.run_id)


@pytest.mark.smoke
def test_long_cpu_run_warns_at_once_with_its_measured_time(capsys):
    config = _smoke(max_iters=10**9)  # milliseconds a step: hundreds of hours
    assert train(config, stop_at=6, progress=False).status == "stopped"
    err = capsys.readouterr().err
    # before any step, the first evaluation's batches bound the time from below
    assert err.count("gni: warning:") == 1 and err.endswith("\n"), err
    assert re.fullmatch(
        r"gni: warning: on the CPU this run needs more than [\d,]+\.\d hours "
        r"\(1,000,000,001 steps and 100,000,000 evaluations of 4 batches, each batch's "
        r"forward pass measured at [\d.e-]+ s and a step costing more\); on a CUDA GPU: "
        r".*--device cuda \(or auto\)\n",
        err,
    ), err
    # resumed from its checkpoint there is no first evaluation: steps 8-10 are timed
    assert train(config, stop_at=12, progress=False).status == "stopped"
    err = capsys.readouterr().err
    assert err.count("gni: warning:") == 1, err
    assert re.search(
        r"needs more than [\d,]+\.\d hours \(999,999,991 steps at [\d.e-]+ s/step, "
        r"measured; evaluations not counted\)",
        err,
    ), err


@pytest.mark.smoke
def test_cpu_time_check_warns_once_from_a_bound_or_an_estimate(capsys):
    paper = make_config("shakespeare_char", "paper")  # 5,000 steps, evaluated every 250
    assert evaluations_after(paper, 0) == 20 and evaluations_after(paper, 4999) == 1
    assert [evaluations_after(_smoke(max_iters=25), it) for it in (0, 20, 24)] == [3, 1, 1]
    advice = gpu_advice("paper")
    assert advice.startswith("the paper profile is meant for a CUDA GPU: ")

    check = CpuTimeCheck(paper, 0)
    for seconds in (9.0, 0.01, 0.01, 0.01):  # the first batch warms up
        check.eval_batch(seconds)
    assert capsys.readouterr().err == ""  # (5,000 + 20 x 400) x 0.01 s: under an hour
    for done, seconds in enumerate((30.0, 2.1, 2.1, 2.1, 99.0), start=1):
        check.step(seconds, done)
    assert capsys.readouterr().err == (
        "gni: warning: on the CPU this run needs about 2.9 hours (4,997 steps at 2.1 s/step "
        f"and 20 evaluations at 4 s each, measured); {advice}\n"
    )

    check = CpuTimeCheck(paper, 0)
    for seconds in (9.0, 2.0, 2.0, 2.0):
        check.eval_batch(seconds)
    for done in range(1, 6):
        check.step(30.0, done)  # already warned: says nothing more
    assert capsys.readouterr().err == (
        "gni: warning: on the CPU this run needs more than 7.2 hours (5,001 steps and 20 "
        "evaluations of 400 batches, each batch's forward pass measured at 2 s and a step "
        f"costing more); {advice}\n"
    )


@pytest.mark.parametrize(
    ("available", "build", "how"),
    [
        (True, "12.4", "this machine has one: pass --device cuda (or auto)"),
        (
            False,
            None,
            "install PyTorch's CUDA build (this one is CPU-only) and pass --device cuda (or auto)",
        ),
        (
            False,
            "12.4",
            "run it where PyTorch finds one (it finds none here), with --device cuda (or auto)",
        ),
    ],
)
def test_gpu_advice_follows_this_machines_pytorch(available, build, how, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.version, "cuda", build)
    assert gpu_advice("cpu") == f"on a CUDA GPU: {how}"


@pytest.mark.smoke
def test_fused_and_separate_noise_give_the_same_run_on_cpu():
    noisy = {"noise_schedule": "exponential", "noise_args": {"sigma0": 0.02, "gamma": 0.95}}
    separate = train(_smoke(**noisy, noise_impl="separate"), progress=False)
    fused = train(_smoke(**noisy, noise_impl="fused"), progress=False)
    assert separate.run_id != fused.run_id  # the record says which drew the noise
    for column in ("train_loss", "val_loss", "grad_norm", "noise_ratio"):
        assert fused.curves[column].tolist() == pytest.approx(
            separate.curves[column].tolist(), rel=1e-5, nan_ok=True
        ), column
    assert fused.summary["final_val_loss"] == pytest.approx(
        separate.summary["final_val_loss"], rel=1e-5
    )


@pytest.mark.smoke
@pytest.mark.parametrize("other", [{"optimizer": "sgd"}, {"noise_placement": "pre_clip"}])
def test_fused_noise_is_adamw_after_clipping_only(other):
    from gni import GniError

    with pytest.raises(GniError, match=r"noise_impl='fused' is out of range; allowed: separate"):
        _smoke(noise_impl="fused", **other)


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [("smoke", {}), ("smoke", {"bias": True, "n_layer": 3}), ("cpu", {}), ("paper", {})],
)
def test_parameter_estimate_is_the_models_exact_count(profile, overrides):
    for dataset, vocab_size in (("shakespeare_char", 65), ("enwik8", 205)):
        config = make_config(dataset, profile, 0, overrides)
        model = build_model(config, vocab_size)
        assert n_parameters(config, vocab_size) == sum(p.numel() for p in model.parameters())


def test_memory_estimate_leaves_every_profile_room_on_a_small_gpu():
    for dataset in ("shakespeare_char", "enwik8"):
        paper = make_config(dataset, "paper")
        state, activations = training_memory(paper, 205)
        assert state == 20 * n_parameters(paper, 205)  # fp32: weights, grads, 2 moments, noise
        assert state + activations < 8 * 2**30  # the paper's runs fit an 8 GiB GPU
    state, activations = training_memory(make_config("text8", "cpu"), 27)
    assert state + activations < 2**30


@pytest.mark.smoke
def test_unknown_device_is_refused_even_when_the_record_exists():
    config = _smoke()
    assert train(config, progress=False).status == "ok"
    with pytest.raises(GniError, match=r"device='tpu'; allowed: auto, cpu, cuda, cuda:N"):
        train(config, device="tpu", progress=False)
    assert train(config, device="cpu", progress=False).reused


@pytest.mark.smoke
def test_label_smoothing_changes_training_only():
    baseline = train(_smoke(), progress=False)
    config = _smoke(label_smoothing=0.1)
    # stopped before the last step, its checkpoint holds the weights and batch stream of it
    assert train(config, stop_at=config.max_iters, progress=False).status == "stopped"
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    before_last = Run(config, data, "cpu")
    resume = paths.checkpoint_dir() / config.run_id / "resume.pt"
    before_last.load_state_dict(torch.load(resume, weights_only=True))
    x, y = data.get_batch("train", config.batch_size, config.block_size, before_last.batches)
    with torch.no_grad():
        smoothed_minibatch = before_last.model(x, y, label_smoothing=0.1)[1].item()
        plain_minibatch = before_last.model(x, y)[1].item()
    smoothed = train(config, progress=False)  # resumed: the uninterrupted run, bit for bit
    assert smoothed.status == "ok" and not smoothed.reused

    # the first evaluation comes before any update: the same weights and batches, plain loss
    for column in ("train_loss", "val_loss"):
        assert smoothed.curves[column].iloc[0] == baseline.curves[column].iloc[0], column
    assert smoothed.curves["train_loss"].iloc[-1] != baseline.curves["train_loss"].iloc[-1]
    # the training loss of the last minibatch is the smoothed one
    s = smoothed.summary
    assert s["final_train_loss_minibatch"] == pytest.approx(smoothed_minibatch, rel=1e-6)
    assert s["final_train_loss_minibatch"] != pytest.approx(plain_minibatch, rel=1e-3)

    # the final whole-split loss is plain cross-entropy of the saved weights
    saved = torch.load(paths.checkpoint_dir() / config.run_id / "model.pt", weights_only=True)
    model = build_model(config, len(saved["vocab"]))
    model.load_state_dict(saved["model"])
    model.eval()
    plain, with_smoothing, count = 0.0, 0.0, 0
    with torch.no_grad():
        for x, y in data.sequential_batches("val", config.batch_size, config.block_size):
            logits = model(x)[0].view(-1, len(saved["vocab"]))
            plain += torch.nn.functional.cross_entropy(logits, y.view(-1), reduction="sum").item()
            with_smoothing += torch.nn.functional.cross_entropy(
                logits, y.view(-1), reduction="sum", label_smoothing=0.1
            ).item()
            count += y.numel()
    assert s["final_val_loss"] == pytest.approx(plain / count, rel=1e-6)
    assert s["final_val_loss"] != pytest.approx(with_smoothing / count, rel=1e-3)


@pytest.mark.smoke
def test_early_stopping_reports_the_test_loss_of_the_best_evaluations_weights():
    config = make_config("enwik8", "smoke", 0, {"max_iters": 12, "eval_interval": 4})
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    run = Run(config, data, "cpu")
    weights = {}  # the model's weights at each evaluation
    for _ in range(3):
        run.evaluate(0.0)
        weights[run.iter] = {k: v.clone() for k, v in run.model.state_dict().items()}
        for _ in range(4):
            run.train_step()
    val = {r["iter"]: r["val_loss"] for r in run.rows}
    best = min(val, key=val.get)
    assert run.best["iter"] == best and run.best["val_loss"] == val[best]
    assert all(torch.equal(run.best["model"][k], weights[best][k]) for k in weights[best])
    final = run.split_loss("test")
    at_best = run.split_loss_at_best("test")
    assert run.split_loss("test") == final  # the current weights are back
    fresh = Run(config, data, "cpu")
    fresh.model.load_state_dict(weights[best])
    assert at_best == fresh.split_loss("test")
    # a checkpoint from before runs kept their best weights: the step, without weights
    state = run.state_dict()
    del state["best"]
    resumed = Run(config, data, "cpu")
    resumed.load_state_dict(state)
    assert resumed.best["iter"] == best and resumed.best["model"] is None
    assert resumed.split_loss_at_best("test") is None


@pytest.mark.smoke
def test_the_record_holds_the_test_loss_at_the_best_evaluation_where_there_is_a_test_split():
    text8 = train(make_config("text8", "smoke", 0, {"max_iters": 4, "eval_interval": 2}))
    assert math.isfinite(text8.summary["test_loss_at_best_val"])
    assert train(_smoke(), progress=False).summary["test_loss_at_best_val"] is None
