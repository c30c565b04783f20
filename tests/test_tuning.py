import math
from collections import Counter

import pandas as pd
import pytest

from gni import GniError
from gni.config import make_config
from gni.grids import count_runs, expand
from gni.tuning import Arm, Protocol, with_noise

PROTOCOL = Protocol(learning_rates=(1e-3, 3e-3), tuning_seeds=(0, 1), report_seeds=(2, 3, 4))
BASE = Arm("baseline")
DROPOUT = Arm("dropout", strength="dropout", values=(0.1, 0.2))
NOISE = Arm(
    "gni",
    settings={"noise_schedule": "exponential", "noise_args": {"gamma": 0.92}},
    strength="noise_args.sigma0",
    values=(0.01, 0.03),
)
ARMS = [BASE, DROPOUT, NOISE]


def test_configurations_cross_the_learning_rates_with_the_arms_values():
    assert PROTOCOL.configurations(BASE) == [
        {"learning_rate": 1e-3, "min_lr": 1e-4},
        {"learning_rate": 3e-3, "min_lr": 3e-4},
    ]
    assert PROTOCOL.configurations(DROPOUT) == [
        {"learning_rate": lr, "min_lr": min_lr, "dropout": p}
        for lr, min_lr in ((1e-3, 1e-4), (3e-3, 3e-4))
        for p in (0.1, 0.2)
    ]
    noisy = PROTOCOL.configurations(NOISE)
    assert [c["noise_args"] for c in noisy] == [
        {"gamma": 0.92, "sigma0": s} for _ in (1e-3, 3e-3) for s in (0.01, 0.03)
    ]
    assert all(c["noise_schedule"] == "exponential" for c in noisy)
    assert NOISE.settings["noise_args"] == {"gamma": 0.92}  # the merge copies, never mutates
    assert [PROTOCOL.budget(a) for a in ARMS] == [2, 4, 4]
    assert [len(PROTOCOL.configurations(a)) for a in ARMS] == [2, 4, 4]


def test_min_lr_is_a_tenth_printed_exactly_so_the_profiles_runs_are_shared():
    (config,) = Protocol((3e-3,), (0,), (1,)).configurations(BASE)
    assert config["min_lr"] == 3e-4  # 3e-3 * 0.1 is 0.00030000000000000003
    smoke = make_config("shakespeare_char", "smoke")
    assert make_config("shakespeare_char", "smoke", 0, config).run_id == smoke.run_id


def test_tuning_grid_expands_to_every_arms_budget_on_the_tuning_seeds():
    grid = PROTOCOL.tuning_grid(ARMS, "shakespeare_char", "cpu")
    assert grid["seeds"] == [0, 1] and list(grid["axes"]) == ["arm"]
    points = expand(grid)
    per_arm = Counter(p.labels["arm"].split(" | ")[0] for p in points)
    assert per_arm == {a.name: PROTOCOL.budget(a) * 2 for a in ARMS}
    assert count_runs(grid) == len(points) == 20
    assert all(p.config.profile == "cpu" for p in points)
    assert {p.config.seed for p in points} == {0, 1}
    labels = list(dict.fromkeys(p.labels["arm"] for p in points))
    assert labels[:3] == [
        "baseline | lr=0.001",
        "baseline | lr=0.003",
        "dropout | lr=0.001 | dropout=0.1",
    ]
    assert labels[-1] == "gni | lr=0.003 | noise_args.sigma0=0.03"
    last = points[-1].config
    assert (last.learning_rate, last.min_lr) == (3e-3, 3e-4)
    assert last.noise_args == {"gamma": 0.92, "sigma0": 0.03} and last.dropout == 0.0


def test_equal_grids_give_every_arm_the_same_budget():
    protocol = Protocol((1e-3, 2e-3, 4e-3), (0, 1, 2), (3, 4))
    noise = {"noise_schedule": "constant"}
    arms = [
        Arm("dropout", strength="dropout", values=(0.05, 0.1, 0.2)),
        Arm("weight decay", strength="weight_decay", values=(0.01, 0.1, 1.0)),
        Arm("label smoothing", strength="label_smoothing", values=(0.02, 0.05, 0.1)),
        Arm("gni", settings=noise, strength="noise_args.sigma0", values=(0.003, 0.01, 0.03)),
    ]
    assert {protocol.budget(a) for a in arms} == {9}
    points = expand(protocol.tuning_grid(arms, "shakespeare_char", "smoke"))
    assert set(Counter(p.labels["arm"].split(" | ")[0] for p in points).values()) == {27}


def _table(protocol, arms, outcomes):
    """A sweep table of the tuning grid: ``outcomes`` maps a label to one (status, measure)
    per tuning seed; every other configuration's runs are ok at 9.0."""
    rows = []
    for variant in protocol.tuning_grid(arms, "shakespeare_char", "smoke")["axes"]["arm"]:
        runs = outcomes.get(variant["label"], [("ok", 9.0)] * len(protocol.tuning_seeds))
        for seed, (status, value) in zip(protocol.tuning_seeds, runs, strict=True):
            row = {"arm": variant["label"], "seed": seed, "status": status}
            rows.append(row | {"best_val_loss": value, "final_val_loss": 5.0})
    return pd.DataFrame(rows)


def test_select_takes_the_lowest_mean_over_the_tuning_seeds():
    table = _table(
        PROTOCOL,
        ARMS,
        {
            "baseline | lr=0.003": [("ok", 1.0), ("ok", 2.0)],  # mean 1.5
            "dropout | lr=0.001 | dropout=0.2": [("ok", 0.5), ("ok", 3.0)],  # mean 1.75
            "dropout | lr=0.003 | dropout=0.1": [("ok", 1.7), ("ok", 1.7)],  # mean 1.7
            "gni | lr=0.001 | noise_args.sigma0=0.03": [("ok", 2.0), ("ok", 2.5)],
        },
    )
    selection = PROTOCOL.select(table, ARMS)
    assert selection.chosen == {
        "baseline": {"learning_rate": 3e-3, "min_lr": 3e-4},
        "dropout": {"learning_rate": 3e-3, "min_lr": 3e-4, "dropout": 0.1},
        "gni": {
            "noise_schedule": "exponential",
            "noise_args": {"gamma": 0.92, "sigma0": 0.03},
            "learning_rate": 1e-3,
            "min_lr": 1e-4,
        },
    }
    scores = selection.scores
    assert list(scores.columns) == [
        "arm", "label", "learning_rate", "strength", "value", "mean", "runs_ok", "chosen"
    ]  # fmt: skip
    assert len(scores) == 10 and scores.groupby("arm")["chosen"].sum().eq(1).all()
    row = scores[scores["chosen"] & (scores["arm"] == "dropout")].iloc[0]
    assert (row["learning_rate"], row["strength"], row["value"]) == (3e-3, "dropout", 0.1)
    assert (row["mean"], row["runs_ok"]) == (pytest.approx(1.7), 2)
    assert scores[scores["arm"] == "baseline"]["value"].isna().all()
    # another measure, another choice: every final_val_loss ties, so the first wins
    other = Protocol(PROTOCOL.learning_rates, (0, 1), (2,), measure="final_val_loss")
    assert other.select(table, ARMS).chosen["dropout"]["dropout"] == 0.1
    assert other.select(table, ARMS).chosen["dropout"]["learning_rate"] == 1e-3


def test_a_run_not_ok_or_without_a_measure_disqualifies_its_configuration():
    table = _table(
        PROTOCOL,
        [DROPOUT],
        {
            # a diverged run keeps the best validation loss it had before diverging
            "dropout | lr=0.001 | dropout=0.1": [("ok", 0.1), ("diverged", 0.05)],
            "dropout | lr=0.001 | dropout=0.2": [("failed", math.nan), ("ok", 0.1)],
            "dropout | lr=0.003 | dropout=0.1": [("ok", 0.1), ("ok", math.nan)],
            "dropout | lr=0.003 | dropout=0.2": [("ok", 4.0), ("ok", 4.0)],
        },
    )
    selection = PROTOCOL.select(table, [DROPOUT])
    assert selection.chosen["dropout"]["dropout"] == 0.2
    assert selection.chosen["dropout"]["learning_rate"] == 3e-3
    assert selection.scores["runs_ok"].tolist() == [1, 1, 1, 2]
    assert selection.scores["mean"].tolist() == [0.1, 0.1, 0.1, 4.0]  # over the ok runs
    # a configuration whose run for a tuning seed is missing cannot be chosen either
    partial = table[~((table["arm"] == "dropout | lr=0.003 | dropout=0.2") & (table["seed"] == 1))]
    with pytest.raises(GniError, match=r"arm 'dropout': no configuration can be chosen"):
        PROTOCOL.select(partial, [DROPOUT])


def test_ties_go_to_the_first_configuration_in_grid_order():
    same = [("ok", 1.0), ("ok", 2.0)]
    table = _table(
        PROTOCOL,
        [DROPOUT],
        {"dropout | lr=0.001 | dropout=0.2": same, "dropout | lr=0.003 | dropout=0.1": same},
    )
    selection = PROTOCOL.select(table, [DROPOUT])
    assert selection.chosen["dropout"] == {"learning_rate": 1e-3, "min_lr": 1e-4, "dropout": 0.2}


def test_an_arm_without_a_usable_configuration_is_named():
    diverged = [("diverged", None), ("ok", 1.0)]
    outcomes = {f"baseline | lr={lr:g}": diverged for lr in PROTOCOL.learning_rates}
    table = _table(PROTOCOL, ARMS, outcomes)
    with pytest.raises(GniError, match=r"arm 'baseline': no configuration can be chosen"):
        PROTOCOL.select(table, ARMS)
    with pytest.raises(GniError, match=r"lacks column\(s\) \['status'\]"):
        PROTOCOL.select(table.drop(columns="status"), ARMS)
    with pytest.raises(GniError, match=r"more than one run of 'baseline \| lr=0.001'"):
        PROTOCOL.select(pd.concat([table, table]), ARMS)


def test_report_grid_runs_the_chosen_overrides_on_the_report_seeds():
    chosen = PROTOCOL.select(_table(PROTOCOL, ARMS, {}), ARMS).chosen
    grid = PROTOCOL.report_grid(chosen, "shakespeare_char", "cpu")
    assert grid["seeds"] == [2, 3, 4]
    points = expand(grid)
    assert [p.labels["arm"] for p in points] == [a.name for a in ARMS for _ in range(3)]
    assert [p.config.seed for p in points] == [2, 3, 4] * 3
    for point in points:
        expected = make_config(
            "shakespeare_char", "cpu", point.config.seed, chosen[point.labels["arm"]]
        )
        assert point.config == expected
    gni = points[-1].config
    assert gni.noise_args == {"gamma": 0.92, "sigma0": 0.01} and gni.learning_rate == 1e-3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Protocol((1e-3,), (0, 1), (1, 2)), r"seed\(s\) \[1\] are both tuning and report"),
        (lambda: Protocol((1e-3, 1e-3), (0,), (1,)), r"repeat\(s\) 0.001"),
        (lambda: Protocol((1e-3,), (0,), (1,), measure="final_test_loss"), r"allowed: best_val"),
        (lambda: Arm("d", strength="dropuot", values=(0.1,)), r"'dropuot' is not a field to tune"),
        (lambda: Arm("d", strength="learning_rate", values=(0.1,)), r"allowed: .*dropout"),
        (lambda: Arm("d", strength="noise_args.sigma0", values=(0.1,)), r"schedule 'none'"),
        (
            lambda: Arm("d", {"noise_schedule": "constant"}, "noise_args.gamma", (0.9,)),
            r"'noise_args.gamma' is not an argument of noise schedule 'constant' \(it takes sig",
        ),
        (lambda: Arm("d", values=(0.1,)), r"values=\(0.1,\) given without a strength"),
        (lambda: Arm("d", strength="dropout"), r"strength='dropout' without values"),
        (lambda: Arm("d", strength="dropout", values=(0.1, 0.1)), r"repeat\(s\) 0.1"),
        (lambda: Arm(" "), r"arm name=' '; allowed: a non-empty string"),
        (lambda: Arm("d", {"seed": 3}), r"settings key 'seed' is not allowed"),
        (lambda: Arm("d", {"dropout": 0.1}, "dropout", (0.2,)), r"also fixed in its settings"),
    ],
)
def test_bad_protocols_and_arms_are_refused_by_name(make, message):
    with pytest.raises(GniError, match=message):
        make()


def test_arms_that_share_a_name_or_a_run_are_refused():
    with pytest.raises(GniError, match=r"arm name\(s\) \['baseline'\] given more than once"):
        PROTOCOL.tuning_grid(
            [BASE, Arm("baseline", strength="dropout", values=(0.1,))], "text8", "cpu"
        )
    with_zero = Arm("dropout", strength="dropout", values=(0.0, 0.1))  # the cpu profile's dropout
    with pytest.raises(
        GniError,
        match=r"'baseline \| lr=0.001' and 'dropout \| lr=0.001 \| dropout=0' are the same run",
    ):
        PROTOCOL.tuning_grid([BASE, with_zero], "text8", "cpu")
    with pytest.raises(GniError, match=r"'dropout \| lr=0.001 \| dropout=1.5': dropout=1.5"):
        PROTOCOL.tuning_grid([Arm("dropout", strength="dropout", values=(1.5,))], "text8", "cpu")


def test_with_noise_adds_only_the_noise_fields():
    regularizer = {"learning_rate": 2e-3, "min_lr": 2e-4, "dropout": 0.1}
    noisy = {
        "learning_rate": 1e-3,
        "min_lr": 1e-4,
        "noise_schedule": "constant",
        "noise_kind": "anticorrelated",
        "noise_args": {"sigma0": 1e-4},
    }
    combined = with_noise(regularizer, noisy)
    assert combined == {
        "learning_rate": 2e-3,
        "min_lr": 2e-4,
        "dropout": 0.1,
        "noise_schedule": "constant",
        "noise_kind": "anticorrelated",
        "noise_args": {"sigma0": 1e-4},
    }
    combined["noise_args"]["sigma0"] = 1.0
    assert noisy["noise_args"]["sigma0"] == 1e-4  # a copy, not shared


def test_with_noise_refuses_noise_twice_or_none():
    noisy = {"noise_schedule": "constant", "noise_args": {"sigma0": 1e-4}}
    with pytest.raises(GniError, match="already set noise"):
        with_noise(noisy, noisy)
    with pytest.raises(GniError, match="set no noise schedule"):
        with_noise({"dropout": 0.1}, {"dropout": 0.2})
