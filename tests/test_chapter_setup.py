"""The setup chapter's tables (gni.chapters.setup), on small constructed datasets and
settings whose rows can be checked by hand."""

import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from gni.chapters import setup
from gni.chapters.setup import (
    calibration_summary,
    calibration_table,
    shown_calibration,
    stored_runs,
)
from gni.config import profile_config
from gni.data import DATASETS, Dataset, Source

ROOT = Path(__file__).resolve().parents[1]

SHA = "ab" * 32
TINY = Dataset(  # 1,000 bytes: 900 train, 50 val, 50 test
    name="enwik8",
    url="https://example.org/data/tiny.zip",
    text_bytes=1_000,
    split_fractions=(0.9, 0.05, 0.05),
    sources=(
        Source("tiny.zip", 400, SHA, kind="zip", member="tiny"),
        Source("tiny", 1_000, None, md5="0123456789abcdef0123456789abcdef"),
        Source("tiny_first_300_bytes", 300, "cd" * 32, kind="excerpt"),
    ),
    full_vocab_size=27,
)
NO_TEST = Dataset(  # 1,000 bytes: 900 train, 100 val, no test split
    name="shakespeare_char",
    url="https://example.org/input.txt",
    text_bytes=1_000,
    split_fractions=(0.9, 0.1, 0.0),
    sources=(Source("input.txt", 1_000, SHA),),
    full_vocab_size=65,
)


@pytest.fixture
def manifests(monkeypatch):
    """``describe`` answers from a constructed manifest and records what it was asked."""
    asked = []

    def describe(name, n_bytes=None):
        asked.append((name, n_bytes))
        return {"vocab_size": 11, "text_sha256": "ef" * 32}

    monkeypatch.setattr(setup, "describe", describe)
    return asked


def test_the_paper_profiles_vocabulary_is_the_whole_texts(manifests):
    assert setup.vocabulary_size(profile_config("text8", "paper")) == 27
    assert setup.vocabulary_size(profile_config("shakespeare_char", "paper")) == 65
    assert manifests == []  # read from gni.data, not from a manifest


def test_another_profiles_vocabulary_is_its_prepared_texts(manifests):
    assert setup.vocabulary_size(profile_config("enwik8", "cpu")) == 11
    assert manifests == [("enwik8", 3_000_000)]


def test_a_model_row_counts_the_parameters_without_position_embeddings():
    config = profile_config("shakespeare_char", "smoke")  # 2 layers, width 32, context 32
    row = setup.model_row(config, vocabulary=10)
    # per layer: attention 4 d^2, MLP 8 d^2, two LayerNorm weights 2 d (no biases);
    # then the final LayerNorm d and the token embedding (tied to the output) V d
    layers, d, vocabulary = 2, 32, 10
    assert row["parameters"] == layers * (12 * d * d + 2 * d) + d + vocabulary * d == 25_056
    assert row == {
        "profile": "smoke",
        "dataset": "shakespeare_char",
        "layers": 2,
        "heads": 2,
        "width": 32,
        "context": 32,
        "vocabulary": 10,
        "parameters": 25_056,
    }


def test_the_model_card_has_a_row_per_config_with_its_vocabulary(manifests):
    configs = [profile_config(d, "smoke") for d in ("shakespeare_char", "text8")]
    card = setup.model_card(configs)
    assert list(card.index) == [("smoke", "shakespeare_char"), ("smoke", "text8")]
    assert list(card["vocabulary"]) == [11, 11]
    assert list(card["parameters"]) == [2 * (12 * 32 * 32 + 2 * 32) + 32 + 11 * 32] * 2


def test_settings_are_the_same_when_only_the_dataset_differs():
    a = {"dataset": "enwik8", "n_layer": 4, "train_chars": None}
    assert setup.same_but_dataset(a, {**a, "dataset": "text8"})
    assert not setup.same_but_dataset(a, {**a, "dataset": "text8", "n_layer": 6})
    assert not setup.same_but_dataset(a, {**a, "extra": 1})


def _fake_profiles(monkeypatch, text8_layers):
    """profile_config returns constructed settings: text8's layers as given, else 4."""

    def profile_config(dataset, profile):
        layers = text8_layers if dataset == "text8" else 4
        settings = {"dataset": dataset, "profile": profile, "seed": 0, "n_layer": layers}
        settings["train_chars"] = None if dataset == "shakespeare_char" else 15_000
        return SimpleNamespace(to_dict=lambda: dict(settings))

    monkeypatch.setattr(setup, "profile_config", profile_config)


def test_enwik8_and_text8_are_identical_only_in_every_profile(monkeypatch):
    _fake_profiles(monkeypatch, text8_layers=4)
    assert setup.enwik8_text8_identical(["cpu", "paper"])
    _fake_profiles(monkeypatch, text8_layers=6)
    assert not setup.enwik8_text8_identical(["cpu", "paper"])


def test_the_books_profiles_give_enwik8_and_text8_the_same_settings():
    assert setup.enwik8_text8_identical()


def test_one_column_stands_for_enwik8_and_text8_only_when_asked():
    assert setup.settings_columns(True) == {
        "shakespeare_char": "shakespeare_char",
        "enwik8": "enwik8, text8",
    }
    assert list(setup.settings_columns(False).values()) == ["shakespeare_char", "enwik8", "text8"]


def test_shown_settings_leave_out_what_a_profile_does_not_set():
    settings = {"dataset": "text8", "seed": 3, "noise_args": {"sigma0": 0.1}, "n_layer": 4}
    shown = setup.shown_settings(settings | {"train_chars": None, "data_bytes": 3_000})
    assert shown == {"n_layer": 4, "train_chars": "whole", "data_bytes": 3_000}


def test_the_hyperparameter_table_has_a_column_per_dataset_label_and_profile(monkeypatch):
    _fake_profiles(monkeypatch, text8_layers=6)
    table = setup.hyperparameter_table(enwik8_stands_for_text8=True, profiles=["cpu", "paper"])
    assert list(table.columns) == [
        ("shakespeare_char", "cpu"),
        ("shakespeare_char", "paper"),
        ("enwik8, text8", "cpu"),
        ("enwik8, text8", "paper"),
    ]
    assert table.columns.names == ["dataset", "profile"]
    assert list(table.index) == ["n_layer", "train_chars"]
    assert list(table.loc["train_chars"]) == ["whole", "whole", 15_000, 15_000]
    apart = setup.hyperparameter_table(enwik8_stands_for_text8=False, profiles=["cpu"])
    assert list(apart.loc["n_layer"]) == [4, 4, 6]


def test_the_excerpt_is_the_sources_prefix():
    assert setup.excerpt_bytes(TINY) == 300
    assert setup.excerpt_bytes(DATASETS["enwik8"]) == 4_154_064


def test_the_provenance_table_links_the_download_and_shortens_its_digest():
    table = setup.provenance_table({"enwik8": TINY})
    row = table.loc["enwik8"]
    assert row["bytes"] == 400  # the zip at the url, not the text
    assert (
        ">tiny.zip</a>" in row["download"]
        and 'href="https://example.org/data/tiny.zip"' in row["download"]
    )
    assert (
        row["sha256"].startswith(f'<code title="{SHA}"') and f">{SHA[:12]}…</code>" in row["sha256"]
    )


def test_the_digest_of_the_text_is_the_published_one_at_the_paper_profile(manifests):
    assert setup.text_digest(TINY, profile_config("text8", "paper")) == "0123456789abcdef" * 2
    assert setup.text_digest(NO_TEST, profile_config("shakespeare_char", "paper")) == SHA
    assert manifests == []
    assert setup.text_digest(TINY, profile_config("enwik8", "cpu")) == "ef" * 32
    assert manifests == [("enwik8", 3_000_000)]


def test_epochs_count_the_characters_of_every_step():
    config = profile_config("shakespeare_char", "smoke")  # 21 steps of 8 x 32 characters
    assert setup.epochs(config, 21 * 8 * 32) == 1.0
    assert setup.epochs(config, 21 * 8 * 16) == 2.0


def test_a_split_row_counts_the_characters_of_each_split():
    config = replace(profile_config("enwik8", "smoke"), data_bytes=None, train_chars=112)
    row = setup.split_row(TINY, config, digest="12" * 32)
    assert {k: row[k] for k in ("text used (bytes)", "train", "val", "test", "epochs")} == {
        "text used (bytes)": 1_000,
        "train": 112,  # the first 112 of 900
        "val": 50,
        "test": 50,
        "epochs": f"{21 * 8 * 32 / 112:.1f}",  # 48.0
    }
    assert row["digest of the text"].startswith(f'<code title="{"12" * 32}"')
    whole = setup.split_row(NO_TEST, replace(config, data_bytes=500, train_chars=None), "")
    assert (whole["text used (bytes)"], whole["train"], whole["val"], whole["test"]) == (
        500,
        450,
        50,
        "none",
    )


def test_the_splits_table_has_a_row_per_dataset_and_profile(manifests):
    table = setup.splits_table(["smoke", "paper"], {"shakespeare_char": NO_TEST})
    assert list(table.index) == [("shakespeare_char", "smoke"), ("shakespeare_char", "paper")]
    assert list(table["train"]) == [900, 900]  # smoke's 20,000 train_chars exceed 900
    assert list(table["epochs"]) == [f"{21 * 8 * 32 / 900:.1f}", f"{5001 * 64 * 256 / 900:.1f}"]
    assert ("ef" * 32)[:12] in table.loc[("shakespeare_char", "smoke"), "digest of the text"]
    assert SHA[:12] in table.loc[("shakespeare_char", "paper"), "digest of the text"]


def _calibration(chosen_ran: bool = True):
    from gni.config import make_config
    from gni.grids import SweepPoint

    shapes = {
        "short": {"train_chars": 250_000, "max_iters": 599},
        "long": {"train_chars": 250_000, "max_iters": 1799},
        "all text": {},
    }
    points = [
        SweepPoint(make_config("shakespeare_char", "cpu-long", 0, o), {"shape": name})
        for name, o in shapes.items()
    ]
    ids = [p.config.run_id for p in points]
    runs = pd.DataFrame(
        {
            "run_id": ids,
            "status": ["ok", "ok", "ok" if chosen_ran else "diverged"],
            "best_val_loss": [2.3, 2.1, 1.7],
            "best_val_iter": [599, 1500, 2400],
            "final_val_loss": [2.31, 2.2, 1.71],
            "wall_seconds": [60.0, 180.0, 270.0],
        }
    )
    return calibration_table(points, runs, chosen=ids[2])


def test_the_calibration_table_gives_each_shapes_epochs_losses_and_the_chosen_one():
    table = _calibration()
    assert table.loc["short", "steps"] == 600 and table.loc["short", "epochs"] == pytest.approx(
        round(600 * 16 * 64 / 250_000, 1)
    )
    assert table.loc["all text", "train characters"] > 1_000_000  # the whole train split
    assert table.loc["long", "at step"] == 1500 and table.loc["all text", "minutes"] == 4.5
    assert table["profile"].tolist() == ["", "", "cpu-long"]
    summary = calibration_summary(table, ngram_val=1.5)
    assert summary["best"] == "1.700" and summary["best_step"] == "2,400"
    assert summary["ngram_gap"] == "+0.200" and summary["fewer_gap"] == "0.400"
    assert summary["steps"] == "2,400" and summary["n_shapes"] == "3"


def test_a_shape_whose_run_did_not_end_has_no_losses():
    table = _calibration(chosen_ran=False)
    assert math.isnan(table.loc["all text", "best val"])
    assert math.isnan(table.loc["all text", "minutes"])
    summary = calibration_summary(table, ngram_val=1.5)
    assert summary["best"] == summary["ngram_gap"] == summary["fewer_gap"] == "n/a"
    assert summary["steps"] == "2,400" and summary["n_shapes"] == "2"


def test_a_store_without_the_calibration_runs_says_so():
    """A results store of your own (the smoke book's): no record of any shape."""
    from gni.grids import expand, load_grid

    grid = expand(load_grid(ROOT / "grids" / "calibrate_cpu_long.yaml"))
    table = calibration_table(grid, pd.DataFrame(), chosen=grid[2].config.run_id)
    assert table["best val"].isna().all() and table["profile"].tolist().count("cpu-long") == 1
    assert calibration_summary(table, ngram_val=1.5)["best"] == "n/a"


def test_only_the_runs_the_store_holds_are_read(tmp_path):
    from gni.grids import expand, load_grid
    from gni.results import ResultsStore

    grid = expand(load_grid(ROOT / "grids" / "calibrate_cpu_long.yaml"))
    assert stored_runs(grid, ResultsStore(tmp_path)).empty  # an empty store: no error
    committed = stored_runs(grid, ResultsStore(ROOT / "results"))
    assert set(committed["run_id"]) == {p.config.run_id for p in grid}


def test_the_calibration_is_shown_with_fixed_decimals():
    shown = shown_calibration(_calibration(chosen_ran=False))
    assert shown.loc["long", ["epochs", "best val", "at step", "minutes"]].tolist() == [
        "7.4",
        "2.100",
        "1,500",
        "3.0",
    ]
    assert shown.loc["all text", "best val"] == "" and shown.loc["all text", "epochs"] == "2.4"
