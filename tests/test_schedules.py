import math

import pytest

from gni.schedules import SCHEDULES, make_schedule


def test_values_at_known_steps():
    assert make_schedule("none")(5) == 0.0
    assert make_schedule("constant", sigma0=0.3)(1000) == 0.3
    exp = make_schedule("exponential", sigma0=0.01, gamma=0.9)
    assert exp(0) == 0.01  # t counts from 0: the first update uses sigma_0
    assert exp(2) == pytest.approx(0.01 * 0.81)
    poly = make_schedule("polynomial", eta=0.3)  # eta is a variance: sigma_0 = sqrt(eta)
    assert poly(0) == pytest.approx(math.sqrt(0.3))
    assert poly(9) == pytest.approx(math.sqrt(0.3 / 10**0.55))
    lin = make_schedule("linear", sigma0=1.0, total_steps=10)
    assert [lin(t) for t in (0, 5, 10, 20)] == [1.0, 0.5, 0.0, 0.0]
    cos = make_schedule("cosine", sigma0=1.0, total_steps=10)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.5) and cos(10) == 0.0
    inv = make_schedule("inverse_sqrt", sigma0=1.0, warmup=4)
    assert inv(0) == inv(4) == 1.0 and inv(16) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("exponentail", {}, "unknown noise schedule 'exponentail'; choose one of none, constant"),
        ("exponential", {"sigma0": -1.0, "gamma": 0.9}, "sigma0=-1.0 must be >= 0"),
        ("exponential", {"sigma0": 0.1, "gamma": 1.5}, r"gamma=1.5 must be in \(0, 1\]"),
        ("exponential", {"sigma0": 0.1}, r"missing argument\(s\) \['gamma'\]"),
        ("linear", {"sigma0": 0.1, "total_steps": 0}, "total_steps=0 must be >= 1"),
        ("linear", {"sigma0": 0.1, "total_steps": float("inf")}, "total_steps=inf must be finite"),
        ("exponential", {"sigma0": float("inf"), "gamma": 0.9}, "sigma0=inf must be finite"),
        ("linear", {"sigma0": 0.1, "total_steps": 2.5}, "must be an integer"),
        (
            "constant",
            {"sigma0": 0.1, "eta": 1.0},
            r"unknown argument\(s\) \['eta'\]; it takes sigma0",
        ),
    ],
)
def test_bad_arguments_are_rejected_with_what_is_allowed(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_schedule(name, **kwargs)


def test_every_schedule_describes_itself_in_latex():
    examples = {
        "none": {},
        "constant": {"sigma0": 0.1},
        "exponential": {"sigma0": 0.1, "gamma": 0.99},
        "polynomial": {"eta": 0.01},
        "linear": {"sigma0": 0.1, "total_steps": 100},
        "cosine": {"sigma0": 0.1, "total_steps": 100},
        "inverse_sqrt": {"sigma0": 0.1, "warmup": 10},
    }
    assert set(examples) == set(SCHEDULES)
    for name, kwargs in examples.items():
        latex = make_schedule(name, **kwargs).latex
        assert latex.startswith(r"\sigma_t =") and "\n" not in latex


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("constant", {"sigma0": 0.3}),
        ("exponential", {"sigma0": 0.01, "gamma": 0.99}),
        ("polynomial", {"eta": 0.3, "gamma": 0.55}),
        ("linear", {"sigma0": 0.2, "total_steps": 300}),
        ("cosine", {"sigma0": 0.2, "total_steps": 601}),
        ("inverse_sqrt", {"sigma0": 0.05, "warmup": 10}),
    ],
)
def test_schedules_matched_to_one_total_variance(name, arguments):
    from gni.schedules import match_total_variance, total_variance

    target = total_variance(make_schedule("exponential", sigma0=1e-3, gamma=0.998), 601)
    matched = match_total_variance(name, arguments, target, 601)
    assert total_variance(make_schedule(name, **matched), 601) == pytest.approx(target, rel=1e-12)
    assert set(matched) == set(arguments)


def test_total_variance_sums_the_squared_standard_deviations():
    from gni.schedules import match_total_variance, total_variance

    assert total_variance(make_schedule("constant", sigma0=0.5), 4) == pytest.approx(1.0)
    assert total_variance(make_schedule("exponential", sigma0=1.0, gamma=0.5), 3) == pytest.approx(
        1 + 0.25 + 0.0625
    )
    with pytest.raises(ValueError, match="adds no noise"):
        match_total_variance("constant", {"sigma0": 0.0}, 1.0, 10)
