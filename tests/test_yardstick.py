"""The n-gram yardstick's records, table and sentences (gni.yardstick), on constructed
records and runs whose answers can be checked by hand; and the committed records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gni import GniError, yardstick
from gni.config import make_config, profile_config
from gni.data import DATASETS
from gni.ngram import KneserNey, fit_orders
from gni.results import SUMMARY_FIELDS, ResultsStore
from gni.yardstick import Baseline

ROOT = Path(__file__).resolve().parents[1]
MINUS = "\N{MINUS SIGN}"


def record(
    dataset: str = "shakespeare_char",
    profile: str = "cpu",
    modified: tuple[float, ...] = (3.0, 2.6, 2.4, 2.35, 2.3, 2.32, 2.33, 2.34),
    standard: tuple[float, ...] = (3.0, 2.7, 2.5, 2.45, 2.41, 2.40, 2.42, 2.43),
) -> dict:
    """A well-formed record of ``dataset`` at ``profile`` with these val losses by order
    (test: val + 0.1 where the dataset has a test split)."""
    data_bytes, train = yardstick.expected_training(dataset, profile)
    has_test = DATASETS[dataset].split_fractions[2] > 0
    return {
        "format": yardstick.FORMAT,
        "dataset": dataset,
        "profile": profile,
        "data_bytes": data_bytes,
        "train_chars": train,
        "vocab_size": 65,
        "text_sha256": "ab" * 32,
        "scored_chars": {"val": 1000, "test": 1000 if has_test else 0},
        "models": {
            kind: [
                {"order": k, "val": v, "test": v + 0.1 if has_test else None}
                for k, v in enumerate(values, start=1)
            ]
            for kind, values in (("standard", standard), ("modified", modified))
        },
        "made_by": {"gni_version": "0.1.0"},
    }


# --- records ---------------------------------------------------------------------------


def test_best_ngram_is_the_order_with_the_lowest_loss_of_its_kind():
    r = record()
    assert yardstick.best_ngram(r) == (5, 2.3)
    assert yardstick.best_ngram(r, modified=False) == (6, 2.40)
    e = record("enwik8", modified=(3, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.41))
    assert yardstick.best_ngram(e, "test") == (7, pytest.approx(2.5))


def test_best_ngram_on_a_split_the_dataset_lacks_says_which_it_has():
    with pytest.raises(GniError, match="shakespeare_char has no test split; allowed: val"):
        yardstick.best_ngram(record(), "test")


def test_a_record_round_trips_through_its_file(tmp_path):
    path = tmp_path / "ngram" / "text8-cpu.json"
    r = record("text8")
    assert yardstick.write_record(r, path) == path
    assert yardstick.read_record(path, "text8", "cpu") == r
    assert [p.name for p in path.parent.iterdir()] == ["text8-cpu.json"]  # no temporary


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON"),
        (lambda text: "[]", "expected a JSON object, found list"),
        (lambda text: text.replace('"format": 1', '"format": 2'), "this gni reads format 1"),
        (lambda text: text.replace('"vocab_size": 65', '"vocab_size": -1'), "vocab_size=-1"),
        (lambda text: text.replace('"val": 2.3,', '"val": NaN,'), "order 5"),
        (lambda text: text.replace('"test": null', '"test": 2.0', 1), "allowed: null"),
        (lambda text: text.replace('"profile": "cpu"', '"profile": "paper"'), "at 'paper'"),
        (lambda text: text.replace('"order": 8', '"order": 9'), "one row per order 1..8"),
    ],
)
def test_a_broken_record_is_one_line_naming_its_file(tmp_path, change, says):
    path = tmp_path / "shakespeare_char-cpu.json"
    path.write_text(change(json.dumps(record(), indent=1)))
    with pytest.raises(GniError) as error:
        yardstick.read_record(path, "shakespeare_char", "cpu")
    message = str(error.value)
    assert message.startswith(f"{path}: ") and says in message and "\n" not in message


def test_a_record_made_for_other_training_characters_asks_to_be_computed_again(tmp_path):
    path = tmp_path / "shakespeare_char-cpu.json"
    path.write_text(json.dumps(record() | {"train_chars": 20_000}))
    with pytest.raises(GniError, match=r"fit on 20,000 training .* now trains on 15,000"):
        yardstick.read_record(path, "shakespeare_char", "cpu")


def test_the_training_characters_are_the_profiles_without_the_data():
    assert yardstick.expected_training("shakespeare_char", "cpu") == (None, 15_000)
    assert yardstick.expected_training("enwik8", "cpu") == (3_000_000, 15_000)
    assert yardstick.expected_training("enwik8", "smoke") == (3_000_000, 2_700_000)
    assert yardstick.expected_training("shakespeare_char", "paper") == (None, 1_003_854)


def test_the_results_stores_record_comes_first_then_the_kept_one(monkeypatch, tmp_path):
    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "data"))  # not the shared data folder
    monkeypatch.setattr(yardstick.paths, "home", lambda: tmp_path / "checkout")  # none there
    committed = record(modified=(3, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.1))
    yardstick.write_record(committed, yardstick.record_path("shakespeare_char", "cpu"))
    yardstick.write_record(record(), yardstick.cache_path("shakespeare_char", "cpu"))
    assert yardstick.load_record("shakespeare_char", "cpu") == committed
    yardstick.record_path("shakespeare_char", "cpu").unlink()
    assert yardstick.load_record("shakespeare_char", "cpu") == record()


def test_without_a_record_or_the_text_nothing_is_computed(monkeypatch, tmp_path):
    monkeypatch.delenv("GNI_DATA_MIRROR")
    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(yardstick, "at_hand", lambda name, n_bytes: False)  # no network
    assert yardstick.load_record("enwik8", "paper") is None
    assert not (tmp_path / "empty").exists()


def test_a_store_of_your_own_reads_the_records_committed_with_the_checkout(tmp_path):
    """The results store is a fresh folder (conftest): the checkout's record is read, and
    nothing is computed or kept."""
    committed = yardstick.record_path("shakespeare_char", "cpu", ROOT / "results")
    assert yardstick.load_record("shakespeare_char", "cpu") == json.loads(committed.read_text())
    assert not yardstick.cache_path("shakespeare_char", "cpu").exists()


def test_a_computed_record_is_the_ngrams_of_the_profiles_training_text(monkeypatch, tmp_path):
    """The smoke profile's shakespeare_char: 20,000 training characters, its whole val."""
    monkeypatch.setattr(yardstick.paths, "home", lambda: tmp_path / "checkout")  # none there
    r = yardstick.load_record("shakespeare_char", "smoke")
    assert r["train_chars"] == 20_000 and r["scored_chars"] == {"val": 111_540, "test": 0}
    assert yardstick.cache_path("shakespeare_char", "smoke").is_file()
    assert not yardstick.record_path("shakespeare_char", "smoke").exists()  # not committed
    order, nats = yardstick.best_ngram(r)
    assert order >= 5 and nats < yardstick.best_ngram(r, modified=False)[1] < 2.6


TEXT = "the cat sat on the mat; the dog sat on the log. a cat and a dog: that is all."


@pytest.mark.parametrize("modified", [False, True])
def test_fitting_every_order_at_once_gives_each_orders_model(modified):
    vocab = sorted(set(TEXT))
    tokens = [vocab.index(c) for c in TEXT]
    held_out = tokens[::-1]
    for model in fit_orders(tokens, 8, len(vocab), modified=modified):
        alone = KneserNey.fit(tokens, model.order, len(vocab), modified=modified)
        assert model.discounts == alone.discounts
        assert model.cross_entropy(held_out) == alone.cross_entropy(held_out)
        np.testing.assert_array_equal(
            model.probabilities(tokens[:5]), alone.probabilities(tokens[:5])
        )


def test_fit_orders_refuses_bad_input_in_one_line():
    with pytest.raises(GniError, match=r"max_order=9 is out of range; allowed: an integer 1..8"):
        fit_orders([0, 1, 0], 9, 2)
    with pytest.raises(GniError, match="an order-4 model needs at least 4"):
        fit_orders([0, 1, 0], 4, 2)


# --- the baseline in the store -----------------------------------------------------------


def _write_run(store: ResultsStore, config, best: float | None, status: str = "ok") -> None:
    summary = {field: None for field in SUMMARY_FIELDS} | {"iters_done": 11, "recipe_version": 2}
    summary |= {"run_id": config.run_id, "status": status, "best_val_loss": best}
    summary |= {"final_val_loss": None if best is None else best + 0.5}
    curves = pd.DataFrame({"iter": [0, 10], "train_loss": [3.0, 2.0], "val_loss": [3.0, 2.0]})
    store.write(config, curves, summary)


def test_the_baseline_is_the_profiles_settings_on_every_seed_that_ended_ok(tmp_path):
    store = ResultsStore(tmp_path)
    for seed, best in ((0, 2.0), (3, 3.0)):
        _write_run(store, profile_config("text8", "smoke", seed), best)
    _write_run(store, profile_config("text8", "smoke", 1), None, status="diverged")
    noisy = {"noise_schedule": "constant", "noise_args": {"sigma0": 0.1}}
    _write_run(store, make_config("text8", "smoke", 2, noisy), 1.0)  # noise: not the baseline
    _write_run(store, make_config("text8", "smoke", 4, {"dropout": 0.1}), 1.0)  # other settings
    _write_run(store, profile_config("enwik8", "smoke", 5), 1.0)  # another dataset
    assert yardstick.baseline_losses("text8", "smoke", store) == Baseline((0, 3), 2.5, 3.0)
    assert yardstick.baseline_losses("text8", "cpu", store) == Baseline((), None, None)
    assert yardstick.baseline_losses("text8", "smoke", ResultsStore(tmp_path / "none")) == (
        Baseline((), None, None)
    )


def test_the_template_quotes_only_enwik8s_validation_loss():
    assert yardstick.template_val_losses(ROOT / "book" / "paper_numbers.yaml") == {"enwik8": 1.0048}


# --- the setup chapter's table -----------------------------------------------------------


def test_the_table_sets_each_profiles_baseline_beside_its_ngrams():
    records = {
        ("cpu", "shakespeare_char"): record(),
        ("cpu", "enwik8"): record("enwik8", "cpu"),
        ("paper", "enwik8"): None,
        ("smoke", "text8"): record("text8", "smoke"),
    }
    baselines = {("cpu", "shakespeare_char"): Baseline((0, 1), 2.5304, 2.6)}
    table = yardstick.yardstick_table(records, baselines, {"enwik8": 1.0048})
    assert list(table.index) == list(records)
    cpu = table.loc[("cpu", "shakespeare_char")]
    assert cpu["train characters"] == 15_000
    assert cpu["modified KN, val (order)"] == "2.300 (5)"
    assert cpu["standard KN, val (order)"] == "2.400 (6)"
    assert (cpu["baseline seeds"], cpu["baseline best val"]) == (2, "2.530")
    assert cpu["baseline final val"] == "2.600"
    assert cpu[f"best val {MINUS} modified KN"] == "+0.230"
    assert cpu["template best val (reviews)"] == ""  # the template is the paper profile
    unrun = table.loc[("cpu", "enwik8")]
    assert (unrun["baseline seeds"], unrun["baseline best val"]) == ("not run", "")
    paper = table.loc[("paper", "enwik8")]
    assert paper["modified KN, val (order)"] == "not computed (needs the whole text)"
    assert paper["train characters"] == 90_000_000
    assert paper["template best val (reviews)"] == "1.0048"
    assert table.loc[("smoke", "text8"), "baseline seeds"] == "tests only"


def test_a_baseline_below_the_ngram_has_a_negative_gap():
    table = yardstick.yardstick_table(
        {("paper", "shakespeare_char"): record(profile="paper")},
        {("paper", "shakespeare_char"): Baseline((0,), 2.1, 2.2)},
        {},
    )
    row = table.iloc[0]
    assert row[f"best val {MINUS} modified KN"] == f"{MINUS}0.200"
    assert row["template best val (reviews)"] == "not quoted"


# --- the sentences -------------------------------------------------------------------------


def runs(rows: list[tuple[str, str, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "status", "best_val_loss"])


def test_a_chapter_on_one_dataset_beaten_by_counts():
    rows = [("shakespeare_char", "ok", 2.6), ("shakespeare_char", "ok", 2.45)]
    chapter = runs([*rows, ("shakespeare_char", "diverged", None)])
    assert yardstick.chapter_sentence(chapter, "cpu", {"shakespeare_char": record()}) == (
        "At the cpu profile, the lowest best validation loss among the 2 of this chapter's 3 "
        "runs that did not diverge is 2.450 nats per character on shakespeare_char, where a "
        "modified Kneser-Ney 5-gram fit on the same 15,000 training characters reaches "
        "2.300: the transformer has learned less than counts do."
    )


def test_a_chapter_on_three_datasets_with_mixed_standing():
    records = {
        "shakespeare_char": record(),
        "enwik8": record("enwik8"),
        "text8": record("text8", modified=(3, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.41)),
    }
    chapter = runs([("shakespeare_char", "ok", 2.2), ("enwik8", "ok", 2.5), ("text8", "ok", 2.4)])
    assert yardstick.chapter_sentence(chapter, "cpu", records) == (
        "At the cpu profile, the lowest best validation losses among this chapter's 3 runs are "
        "2.200, 2.500 and 2.400 nats per character on shakespeare_char, enwik8 and text8, "
        "where modified Kneser-Ney n-grams (orders 5, 5 and 7) fit on the same 15,000 "
        "training characters reach 2.300, 2.300 and 2.400: the transformer has learned more "
        "than counts do on shakespeare_char, less on enwik8 and as much on text8."
    )


def test_a_chapter_names_its_runs_as_asked():
    chapter = runs([("shakespeare_char", "ok", 2.5), ("shakespeare_char", "ok", 2.6)])
    sentence = yardstick.chapter_sentence(
        chapter, "cpu", {"shakespeare_char": record()}, "confirmation runs"
    )
    assert "among this chapter's 2 confirmation runs is 2.500" in sentence


def test_every_dataset_beaten_says_so_once():
    records = {"shakespeare_char": record(), "enwik8": record("enwik8")}
    chapter = runs([("shakespeare_char", "ok", 2.5), ("enwik8", "ok", 2.9)])
    assert yardstick.chapter_sentence(chapter, "cpu", records).endswith(
        "reach 2.300 and 2.300: on every dataset the transformer has learned less than counts do."
    )


def test_a_dataset_without_runs_or_without_an_ngram_is_named():
    records = {
        "shakespeare_char": record(profile="paper"),
        "enwik8": None,
        "text8": None,
    }
    assert yardstick.chapter_sentence(runs([]), "paper", records) == (
        "At the paper profile, this chapter has no run that ended without diverging, so "
        "where its transformer stands against counts is not known here; a modified "
        "Kneser-Ney 5-gram fit on its runs' 1,003,854 training characters reaches 2.300 nats "
        "per character on shakespeare_char; none is computed for enwik8 and text8, as the "
        "whole text was not at hand."
    )
    some = runs([("enwik8", "ok", 2.0)])
    text = yardstick.chapter_sentence(
        some, "cpu", {"shakespeare_char": record(), "enwik8": record("enwik8")}
    )
    assert "is 2.000 nats per character on enwik8, where a modified Kneser-Ney 5-gram" in text
    assert text.endswith(
        "more than counts do (on shakespeare_char, this chapter has no run that ended "
        "without diverging)."
    )


def test_the_baseline_sentence_says_over_how_many_seeds():
    records = {"shakespeare_char": record(), "enwik8": record("enwik8")}
    baselines = {"shakespeare_char": Baseline((0, 1, 2), 2.5, 2.6)}
    assert yardstick.baseline_sentence("cpu", baselines, records) == (
        "At the cpu profile, the baseline's best validation loss (the mean of 3 seeds) is "
        "2.500 nats per character on shakespeare_char, where a modified Kneser-Ney 5-gram "
        "fit on the same 15,000 training characters reaches 2.300: the transformer has "
        "learned less than counts do (on enwik8, no baseline run is in the results store)."
    )
    baselines["enwik8"] = Baseline((0,), 2.9, 3.0)
    assert "(means of 3 and 1 seeds) are 2.500 and 2.900" in yardstick.baseline_sentence(
        "cpu", baselines, records
    )
    baselines["enwik8"] = Baseline((0, 1, 2), 2.9, 3.0)
    assert "(means of 3 seeds each) are" in yardstick.baseline_sentence("cpu", baselines, records)


# --- the committed records ----------------------------------------------------------------

COMMITTED = [
    (profile, dataset)
    for profile in ("smoke", "cpu", "cpu-long", "paper")
    for dataset in DATASETS
    if not (profile == "paper" and dataset != "shakespeare_char")  # the whole text: absent
]


def test_every_committed_record_is_well_formed_and_of_the_profiles_training_text():
    folder = ROOT / "results" / "ngram"
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(
        f"{d}-{p}.json" for p, d in COMMITTED
    )
    for profile, dataset in COMMITTED:
        r = yardstick.read_record(folder / f"{dataset}-{profile}.json", dataset, profile)
        assert r["made_by"]["git_commit"] and not r["made_by"]["git_commit"].endswith("+dirty")


def test_a_profiles_sentence_takes_its_own_datasets_from_the_tables_mappings(tmp_path):
    records = {("cpu", "shakespeare_char"): record(), ("paper", "shakespeare_char"): None}
    baselines = yardstick.load_baselines(
        ["cpu", "paper"], ["shakespeare_char"], ResultsStore(tmp_path)
    )
    assert baselines == {key: Baseline((), None, None) for key in records}
    baselines[("cpu", "shakespeare_char")] = Baseline((0,), 2.5, 2.6)
    assert yardstick.profile_sentence("cpu", records, baselines) == (
        yardstick.baseline_sentence(
            "cpu",
            {"shakespeare_char": baselines[("cpu", "shakespeare_char")]},
            {"shakespeare_char": record()},
        )
    )
    assert "(the mean of 1 seed) is 2.500" in yardstick.profile_sentence("cpu", records, baselines)
    assert yardstick.profile_sentence("paper", records, baselines) == (
        "At the paper profile, no n-gram yardstick is computed for shakespeare_char, as "
        "the whole text was not at hand."
    )


def test_a_chapters_standing_reads_the_records_of_its_datasets_in_the_books_order(tmp_path):
    for dataset in ("text8", "shakespeare_char"):
        yardstick.write_record(record(dataset), yardstick.record_path(dataset, "cpu"))
    chapter = runs([("text8", "ok", 2.5), ("shakespeare_char", "ok", 2.5)])
    assert yardstick.chapter_standing(chapter, "cpu") == (
        "At the cpu profile, the lowest best validation losses among this chapter's 2 runs "
        "are 2.500 and 2.500 nats per character on shakespeare_char and text8, where "
        "modified Kneser-Ney n-grams (order 5) fit on the same 15,000 training "
        "characters reach 2.300 and 2.300: on every dataset the transformer has learned "
        "less than counts do."
    )


def test_no_dataset_is_no_sentence():
    with pytest.raises(GniError, match="no dataset"):
        yardstick.chapter_sentence(runs([]), "cpu", {})
