import dataclasses

import pytest

from gni import GniError
from gni.config import FIELDS, PROFILES, RunConfig, make_config, parse_value, profile_config
from gni.data import DATASETS


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_profile_is_a_valid_baseline(dataset, profile):
    config = profile_config(dataset, profile, seed=3)
    assert (config.dataset, config.profile, config.seed) == (dataset, profile, 3)
    assert config.noise_schedule == "none"


def test_paper_profile_is_the_template():
    sc = profile_config("shakespeare_char", "paper")
    assert (sc.n_layer, sc.n_head, sc.n_embd, sc.block_size) == (6, 6, 384, 256)
    assert (sc.batch_size, sc.learning_rate, sc.min_lr, sc.max_iters, sc.warmup_iters) == (
        64,
        1e-3,
        1e-4,
        5000,
        100,
    )
    assert (sc.dropout, sc.weight_decay, sc.beta2, sc.grad_clip, sc.bias) == (
        0.2,
        0.1,
        0.99,
        1.0,
        False,
    )
    e8 = profile_config("enwik8", "paper")
    assert (
        e8.batch_size,
        e8.learning_rate,
        e8.min_lr,
        e8.max_iters,
        e8.warmup_iters,
        e8.eval_interval,
    ) == (32, 5e-4, 5e-5, 100_000, 200, 1000)
    assert e8.data_bytes is None  # the whole file


def test_cpu_profile_prefix_fits_inside_the_shipped_excerpts():
    for name in ("enwik8", "text8"):
        excerpt = next(s for s in DATASETS[name].sources if s.kind == "excerpt")
        assert profile_config(name, "cpu").data_bytes <= excerpt.size


def test_overrides_are_parsed_by_field_type():
    config = make_config(
        "text8",
        "smoke",
        1,
        {
            "dropout": "0.1",
            "max_iters": "30",
            "bias": "true",
            "train_chars": "none",
            "noise_schedule": "exponential",
            "noise_args": "sigma0:0.01,gamma:0.999",
        },
    )
    assert config.dropout == 0.1 and config.max_iters == 30 and config.bias is True
    assert config.train_chars is None
    assert config.noise_args == {"gamma": 0.999, "sigma0": 0.01}
    assert isinstance(make_config("text8", "smoke", 0, {"learning_rate": 1}).learning_rate, float)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"learning_rate": "-0.001"},
            r"learning_rate=-0.001 is out of range; allowed: a number > 0",
        ),
        ({"lr": "0.1"}, r"unknown config field 'lr'; valid fields: dataset, profile, seed"),
        ({"dropout": "1.0"}, r"dropout=1.0 is out of range; allowed: 0 <= value < 1"),
        ({"n_head": "3"}, r"n_embd=32 is out of range; allowed: a multiple of n_head=3"),
        ({"max_iters": "2.5"}, r"max_iters='2.5' is not a valid int"),
        ({"optimizer": "adam"}, r"optimizer='adam' is out of range; allowed: adamw, sgd"),
        ({"min_lr": "1.0"}, r"min_lr=1.0 is out of range; allowed: 0 <= min_lr <= learning_rate"),
        ({"noise_schedule": "exponential"}, r"missing argument\(s\) \['gamma', 'sigma0'\]"),
        ({"noise_args": "sigma0"}, "expected key:value pairs"),
        ({"data_bytes": "0"}, r"data_bytes=0 is out of range; allowed: None or 1..100000000"),
        ({"learning_rate": "nan"}, "learning_rate=nan is out of range; allowed: a finite number"),
        ({"max_iters": "inf"}, r"max_iters='inf' is not a valid int"),
        ({"max_iters": "nan"}, r"max_iters='nan' is not a valid int"),
        ({"max_iters": "1e400"}, r"max_iters='1e400' is not a valid int"),
        ({"seed": "0x10"}, r"seed='0x10' is not a valid int"),
        # issue 23: non-finite or absurd noise, a second seed, a key given twice
        (
            {"noise_schedule": "exponential", "noise_args": "sigma0:inf,gamma:0.9"},
            r"noise_args\['sigma0'\]=inf is out of range; allowed: a finite number of magnitude",
        ),
        (
            {"noise_schedule": "exponential", "noise_args": "sigma0:1e39,gamma:0.9"},
            r"noise_args\['sigma0'\]=1e\+39 is out of range",
        ),
        (
            {"noise_schedule": "linear", "noise_args": "sigma0:0.1,total_steps:inf"},
            r"noise_args\['total_steps'\]=inf is out of range",
        ),
        (
            {"noise_schedule": "exponential", "noise_args": "sigma0:0.1,sigma0:0.2,gamma:0.9"},
            r"'sigma0' is given twice",
        ),
        ({"seed": "11"}, r"dataset, profile and seed are chosen by their own arguments"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(overrides, message):
    with pytest.raises(GniError, match=message):
        make_config("text8", "smoke", 0, overrides)


def test_unknown_dataset_and_profile():
    with pytest.raises(GniError, match="unknown dataset 'wiki'; choose one of shakespeare_char"):
        profile_config("wiki", "cpu")
    with pytest.raises(GniError, match="unknown profile 'gpu'; choose one of smoke, cpu, cpu-long"):
        profile_config("text8", "gpu")


def test_python_types_are_checked_with_a_message():
    with pytest.raises(GniError, match=r"max_iters=True has type bool; expected int"):
        RunConfig(max_iters=True)
    with pytest.raises(GniError, match=r"dropout='0.1' has type str; expected float"):
        RunConfig(dropout="0.1")


def test_run_id_is_stable_and_tracks_every_field():
    a = profile_config("shakespeare_char", "cpu", seed=0)
    assert a.run_id == profile_config("shakespeare_char", "cpu", seed=0).run_id
    assert a.run_id.startswith("shakespeare_char-cpu-none-s0-")
    assert a.run_id == RunConfig.from_dict(a.to_dict()).run_id
    # 1 and 1.0 are the same setting
    assert dataclasses.replace(a, dropout=0).run_id == dataclasses.replace(a, dropout=0.0).run_id
    ids = {a.run_id}
    for name, value in [
        ("seed", 1),
        ("dropout", 0.1),
        ("weight_decay", 0.01),
        ("max_iters", 601),
        ("label_smoothing", 0.1),
        ("noise_placement", "pre_clip"),
        ("noise_kind", "anticorrelated"),
        ("diagnostics", True),
    ]:
        ids.add(dataclasses.replace(a, **{name: value}).run_id)
    assert len(ids) == 9


def test_fields_added_later_keep_the_ids_of_records_made_before_them():
    # the id of a record of the cpu profile before its batch was halved (the books of
    # November 2026, results/shakespeare_char-cpu-none-s0-ea7b8785a42e), made before
    # noise_kind and diagnostics existed
    config = make_config(
        "shakespeare_char",
        "cpu",
        seed=0,
        overrides={"batch_size": 32, "train_chars": 30_000, "eval_iters": 10},
    )
    assert config.run_id == "shakespeare_char-cpu-none-s0-ea7b8785a42e"
    assert dataclasses.replace(config, noise_kind="independent").run_id == config.run_id


def test_diagnostics_need_the_separate_noise():
    with pytest.raises(GniError, match="diagnostics=True is out of range; allowed: False with"):
        make_config("shakespeare_char", "paper", overrides={"diagnostics": True})
    with pytest.raises(GniError, match="noise_kind='brown' is out of range; allowed: independent"):
        RunConfig(noise_kind="brown")


def test_parse_value_lists_valid_fields():
    with pytest.raises(GniError, match="valid fields: " + ", ".join(FIELDS)):
        parse_value("nope", "1")


def test_integers_are_parsed_exactly():
    """Not through a float (2**53 + 1 would become 2**53); 1e3 is a whole number, so it is
    accepted; 2.5e0 is not."""
    assert (
        make_config("text8", "smoke", 0, {"max_iters": "9007199254740993"}).max_iters == 2**53 + 1
    )
    assert parse_value("seed", "123456789012345678901234567890") == 123456789012345678901234567890
    assert parse_value("max_iters", "1e3") == 1000 and parse_value("max_iters", "1.5e3") == 1500
    with pytest.raises(GniError, match=r"max_iters='2\.5e0' is not a valid int"):
        parse_value("max_iters", "2.5e0")
