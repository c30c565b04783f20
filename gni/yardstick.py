"""The n-gram yardstick: where the book's transformers stand against counts.

For each profile and dataset, interpolated Kneser-Ney character n-grams
(:mod:`gni.ngram`) of orders 1 to 8, standard (one discount per order) and modified (three),
are fit on exactly the training characters of the profile's runs and scored on the same
validation and test text, in nats per character. Modified Kneser-Ney is *the* yardstick:
the stronger of the two, so the fairer bar for a transformer; its best order is chosen on
the validation split, as a run's best validation loss is its lowest evaluation.

A record, ``<results>/ngram/<dataset>-<profile>.json``, holds the numbers (format
:data:`FORMAT`: dataset, profile, the profile's ``data_bytes``, the training characters,
the vocabulary size, the sha256 of the text, the characters scored in each split, each
kind's val and test nats per character by order, and ``made_by``,
:func:`gni.recipe.provenance`). Records are committed with the run records, so that the
book is built from them without the data. Where the results store lacks one, it is
computed from the data when the data is at hand (seconds) and kept in the data folder
(``<data>/ngram/``, never committed), like a prepared dataset; ``python -m gni.yardstick``
writes the results store's records. A record that cannot be read, or was made for other
training characters than the profile now uses, is a GniError naming its file.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gni import GniError, paths
from gni.atomic import write_json
from gni.config import PROFILES, profile_config
from gni.data import DATASETS, at_hand, split_sizes
from gni.report import and_list
from gni.results import ResultsStore
from gni.untrusted import load_yaml, read_text, shown

__all__ = [
    "FORMAT",
    "KINDS",
    "ORDERS",
    "Baseline",
    "baseline_losses",
    "baseline_sentence",
    "best_ngram",
    "cache_path",
    "chapter_sentence",
    "chapter_standing",
    "check_record",
    "compute_record",
    "expected_training",
    "load_baselines",
    "load_record",
    "load_records",
    "main",
    "profile_sentence",
    "read_record",
    "record_path",
    "template_val_losses",
    "write_record",
    "write_records",
    "yardstick_table",
]

FORMAT = 1  # the records' layout; a reader refuses any other
KINDS = ("standard", "modified")  # Kneser-Ney: one discount per order, or three
ORDERS = tuple(range(1, 9))  # every record holds orders 1..8
TESTS_ONLY = "smoke"  # the profile whose runs (a few steps) the yardstick table leaves out
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Record = dict[str, Any]


# --- where records are, and what they must hold ----------------------------------------


def record_path(dataset: str, profile: str, root: Path | None = None) -> Path:
    """The committed record of ``dataset`` at ``profile``:
    ``<root>/ngram/<dataset>-<profile>.json``, ``root`` the results store (default:
    :func:`gni.paths.results_dir`)."""
    return (root or paths.results_dir()) / "ngram" / f"{dataset}-{profile}.json"


def cache_path(dataset: str, profile: str) -> Path:
    """Where a record computed for lack of a committed one is kept: in the data folder
    (:func:`gni.paths.data_dir`), beside the prepared data, never committed."""
    return paths.data_dir() / "ngram" / f"{dataset}-{profile}.json"


def expected_training(dataset: str, profile: str) -> tuple[int | None, int]:
    """The profile's ``data_bytes`` (None: the whole text) and the characters its runs
    train on (the first ``train_chars`` of the train split, or all of it); no data needed."""
    config = profile_config(dataset, profile)
    spec = DATASETS[dataset]
    train = split_sizes(spec, config.data_bytes or spec.text_bytes)["train"]
    return config.data_bytes, min(train, config.train_chars or train)


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_loss(value: Any) -> bool:
    """A loss in nats per character: a finite number above 0."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _models_problem(models: Any, has_test: bool) -> str | None:
    """Why a record's ``models`` is not each kind's rows for orders 1..8, or None."""
    if not isinstance(models, dict) or sorted(models) != sorted(KINDS):
        return f"models must hold {' and '.join(KINDS)}, found {shown(models)}"
    for kind in KINDS:
        rows = models[kind]
        if not isinstance(rows, list) or [
            r.get("order") if isinstance(r, dict) else None for r in rows
        ] != list(ORDERS):
            return f"models.{kind} must be one row per order {ORDERS[0]}..{ORDERS[-1]}"
        for row in rows:
            if sorted(row) != ["order", "test", "val"] or not _is_loss(row["val"]):
                return f"models.{kind}, order {row['order']}: {shown(row)} is not val and test nats"
            if (row["test"] is None) == has_test or not (
                row["test"] is None or _is_loss(row["test"])
            ):
                wanted = "a loss" if has_test else "null (the dataset has no test split)"
                where = f"models.{kind}, order {row['order']}"
                return f"{where}: test={shown(row['test'])}; allowed: {wanted}"
    return None


def _record_problem(value: Any, dataset: str, profile: str) -> str | None:
    """Why ``value`` is not a well-formed record of ``dataset`` at ``profile``, or None."""
    if not isinstance(value, dict):
        return f"expected a JSON object, found {type(value).__name__}"
    fields = (
        "format",
        "dataset",
        "profile",
        "data_bytes",
        "train_chars",
        "vocab_size",
        "text_sha256",
        "scored_chars",
        "models",
        "made_by",
    )
    missing = [f for f in fields if f not in value]
    if missing:
        return f"lacks {', '.join(missing)}"
    if value["format"] != FORMAT:
        return f"format={shown(value['format'])}; this gni reads format {FORMAT}"
    if (value["dataset"], value["profile"]) != (dataset, profile):
        return f"is the record of {shown(value['dataset'])} at {shown(value['profile'])}"
    if not (value["data_bytes"] is None or _is_int(value["data_bytes"], 1)):
        return f"data_bytes={shown(value['data_bytes'])}; allowed: null or an integer >= 1"
    for name in ("train_chars", "vocab_size"):
        if not _is_int(value[name], 1):
            return f"{name}={shown(value[name])}; allowed: an integer >= 1"
    if not isinstance(value["text_sha256"], str) or not _SHA256.match(value["text_sha256"]):
        return f"text_sha256={shown(value['text_sha256'])} is not a sha256"
    scored = value["scored_chars"]
    if not isinstance(scored, dict) or sorted(scored) != ["test", "val"]:
        return f"scored_chars={shown(scored)}; allowed: the characters of val and test"
    if not (_is_int(scored["val"], 1) and _is_int(scored["test"])):
        return f"scored_chars={shown(scored)}; allowed: val >= 1, test >= 0"
    if not isinstance(value["made_by"], dict):
        return f"made_by={shown(value['made_by'])} is not an object"
    return _models_problem(value["models"], scored["test"] > 0)


def check_record(value: Any, where: Path, dataset: str, profile: str) -> Record:
    """``value`` if it is a well-formed record of ``dataset`` at ``profile``, made for the
    training characters the profile uses now; otherwise one GniError naming ``where``."""
    problem = _record_problem(value, dataset, profile)
    if problem is None:
        data_bytes, train = expected_training(dataset, profile)
        if (value["data_bytes"], value["train_chars"]) != (data_bytes, train):
            problem = (
                f"was fit on {value['train_chars']:,} training characters of "
                f"data_bytes={value['data_bytes']}, but the {profile} profile now trains on "
                f"{train:,} of data_bytes={data_bytes}: compute it again "
                f"(python -m gni.yardstick --profile {profile} --dataset {dataset} --force)"
            )
    if problem is not None:
        raise GniError(f"{where}: {problem}")
    return value


def read_record(path: Path, dataset: str, profile: str) -> Record:
    """The record at ``path``, read as untrusted JSON (:func:`gni.untrusted.read_text`) and
    checked (:func:`check_record`); one GniError naming the file if it is missing or broken."""
    if not path.is_file():
        raise GniError(f"{path}: no such record")
    text = read_text(path, str(path))
    try:
        value = json.loads(text)
    except ValueError as e:
        raise GniError(f"{path}: not valid JSON ({' '.join(str(e).split())})") from None
    return check_record(value, path, dataset, profile)


def write_record(record: Record, path: Path) -> Path:
    """Write ``record`` (checked first) to ``path`` all or nothing; returns ``path``."""
    check_record(record, path, record.get("dataset"), record.get("profile"))
    write_json(path, record)
    return path


# --- computing them ---------------------------------------------------------------------


def compute_record(dataset: str, profile: str) -> Record:
    """Fit and score the n-grams of ``dataset`` at ``profile`` (needs the data: it is
    prepared like a run's, :class:`gni.data.TokenData`); seconds for the smoke and cpu
    profiles' texts, about a minute for a whole train split."""
    from gni.data import TokenData
    from gni.ngram import fit_orders
    from gni.recipe import provenance

    config = profile_config(dataset, profile)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    scored = {s: len(data.splits[s]) if s in data.splits else 0 for s in ("val", "test")}
    models = {}
    for kind in KINDS:
        fitted = fit_orders(
            data.splits["train"], ORDERS[-1], data.vocab_size, None, kind == "modified"
        )
        models[kind] = [
            {
                "order": m.order,
                **{
                    s: m.cross_entropy(data.splits[s]) if scored[s] else None
                    for s in ("val", "test")
                },
            }
            for m in fitted
        ]
    return {
        "format": FORMAT,
        "dataset": dataset,
        "profile": profile,
        "data_bytes": config.data_bytes,
        "train_chars": len(data.splits["train"]),
        "vocab_size": data.vocab_size,
        "text_sha256": data.meta["text_sha256"],
        "scored_chars": scored,
        "models": models,
        "made_by": provenance(),
    }


def load_record(dataset: str, profile: str, root: Path | None = None) -> Record | None:
    """The record of ``dataset`` at ``profile``: the results store's (``root``) if it has
    one; else the one committed with the checkout (a store of your own still reads the
    book's); else the one kept in the data folder; else computed now, and kept there, if
    the text is at hand (:func:`gni.data.at_hand`); else None (not computed). A record
    of a store that is broken or out of date is a GniError naming it."""
    for store in (root or paths.results_dir(), paths.home() / "results"):
        committed = record_path(dataset, profile, store)
        if committed.exists():
            return read_record(committed, dataset, profile)
    kept = cache_path(dataset, profile)
    if kept.is_file():
        try:
            return read_record(kept, dataset, profile)
        except GniError:
            pass  # a cache: computed again below
    data_bytes, _ = expected_training(dataset, profile)
    if not at_hand(dataset, data_bytes):
        return None
    record = compute_record(dataset, profile)
    write_record(record, kept)
    return record


def load_records(
    profiles: Sequence[str] = PROFILES, datasets: Iterable[str] = DATASETS
) -> dict[tuple[str, str], Record | None]:
    """:func:`load_record` of every (profile, dataset)."""
    return {(p, d): load_record(d, p) for p in profiles for d in datasets}


def write_records(
    profiles: Sequence[str] = PROFILES, datasets: Iterable[str] = DATASETS, force: bool = False
) -> list[Path]:
    """Write the results store's record of every (profile, dataset) whose text is at hand
    and that lacks one (every one with ``force``); returns the files written."""
    written = []
    for profile in profiles:
        for dataset in datasets:
            path = record_path(dataset, profile)
            if path.exists() and not force:
                read_record(path, dataset, profile)  # a broken one is an error, not skipped
                continue
            if not at_hand(dataset, expected_training(dataset, profile)[0]):
                print(f"{dataset} at {profile}: the text is not at hand; not computed")
                continue
            written.append(write_record(compute_record(dataset, profile), path))
            print(f"wrote {path}")
    return written


# --- reading what they say ------------------------------------------------------------


def best_ngram(record: Record, split: str = "val", modified: bool = True) -> tuple[int, float]:
    """The order with the lowest loss on ``split`` among the record's n-grams of one kind
    (modified Kneser-Ney, or standard), and that loss in nats per character."""
    rows = record["models"]["modified" if modified else "standard"]
    scored = [(row["order"], row[split]) for row in rows if row.get(split) is not None]
    if not scored:
        raise GniError(
            f"{record['dataset']} has no {split} split; allowed: "
            f"{', '.join(s for s in ('val', 'test') if rows[0].get(s) is not None)}"
        )
    return min(scored, key=lambda pair: (pair[1], pair[0]))


@dataclass(frozen=True)
class Baseline:
    """A profile's baseline runs in the results store (its settings, no noise): the seeds
    that ended ok, and their mean best and final validation losses in nats per character
    (None without runs). The best is the lowest periodic estimate (``eval_iters`` batches),
    the final the whole validation split at the last step."""

    seeds: tuple[int, ...]
    best_val_loss: float | None
    final_val_loss: float | None


def baseline_losses(dataset: str, profile: str, store: ResultsStore | None = None) -> Baseline:
    """The :class:`Baseline` of ``dataset`` at ``profile``: every seed s whose run of
    ``profile_config(dataset, profile, s)`` the store holds, ended ok."""
    store = store or ResultsStore()
    pattern = re.compile(rf"^{re.escape(dataset)}-{re.escape(profile)}-none-s(\d+)-[0-9a-f]{{12}}$")
    found = []
    names = sorted(p.name for p in store.root.iterdir()) if store.root.is_dir() else []
    for name in names:
        match = pattern.match(name)
        if not match or profile_config(dataset, profile, int(match.group(1))).run_id != name:
            continue
        if store.has(name):
            summary = store.read_summary(name)
            losses = (summary["best_val_loss"], summary["final_val_loss"])
            if summary["status"] == "ok" and None not in losses:
                found.append((int(match.group(1)), *losses))
    if not found:
        return Baseline((), None, None)
    seeds, best, final = zip(*sorted(found), strict=True)
    return Baseline(tuple(seeds), sum(best) / len(best), sum(final) / len(final))


def load_baselines(
    profiles: Sequence[str] = PROFILES,
    datasets: Iterable[str] = DATASETS,
    store: ResultsStore | None = None,
) -> dict[tuple[str, str], Baseline]:
    """:func:`baseline_losses` of every (profile, dataset)."""
    store = store or ResultsStore()
    return {(p, d): baseline_losses(d, p, store) for p in profiles for d in datasets}


def template_val_losses(paper_numbers: Path) -> dict[str, float]:
    """The template's validation losses as the reviews quote them, by dataset (nats per
    character): the baseline's ``best_val_loss`` rows of ``book/paper_numbers.yaml``'s
    table_1 (enwik8's only)."""
    where = paper_numbers.name
    table = load_yaml(read_text(paper_numbers, where), where)
    rows = table.get("table_1") if isinstance(table, dict) else None
    if not isinstance(rows, list):
        raise GniError(f"{where}: no table_1 list")
    return {
        row["dataset"]: float(row["baseline"])
        for row in rows
        if isinstance(row, dict) and row.get("measure") == "best_val_loss"
    }


# --- the setup chapter's table ----------------------------------------------------------


def _nats(value: float) -> str:
    return f"{value:.3f}"


def _missing_text(datasets: Sequence[str], profile: str) -> str:
    """What was not at hand to compute the records of ``datasets`` at ``profile``: "the
    whole text" where the profile uses all of it, else "the text"."""
    whole = all(expected_training(d, profile)[0] is None for d in datasets)
    return "the whole text" if whole else "the text"


def yardstick_table(
    records: Mapping[tuple[str, str], Record | None],
    baselines: Mapping[tuple[str, str], Baseline],
    template: Mapping[str, float],
) -> pd.DataFrame:
    """Table S5, one row per (profile, dataset) of ``records``: the training characters;
    the best modified and standard Kneser-Ney n-grams on val, "nats (order)"; the
    baseline's seeds and mean best and final val losses ("not run" without runs; the
    smoke profile's, a few steps for the tests, are left out); the baseline's best minus
    the modified n-gram's; and the template's best val loss as the reviews quote it
    (at the paper profile; "not quoted" where they quote none). Losses in nats per
    character, three decimals."""
    rows = []
    for (profile, dataset), record in records.items():
        row: dict[str, Any] = {"profile": profile, "dataset": dataset}
        row["train characters"] = (
            record["train_chars"] if record else expected_training(dataset, profile)[1]
        )
        for kind in ("modified", "standard"):
            if record is None:
                whole = expected_training(dataset, profile)[0] is None
                row[f"{kind} KN, val (order)"] = (
                    "not computed (needs the whole text)" if whole else "not computed (no text)"
                )
            else:
                order, nats = best_ngram(record, "val", kind == "modified")
                row[f"{kind} KN, val (order)"] = f"{_nats(nats)} ({order})"
        baseline = baselines.get((profile, dataset), Baseline((), None, None))
        if profile == TESTS_ONLY:
            row["baseline seeds"], best, final = "tests only", None, None
        else:
            row["baseline seeds"] = len(baseline.seeds) or "not run"
            best, final = baseline.best_val_loss, baseline.final_val_loss
        row["baseline best val"] = "" if best is None else _nats(best)
        row["baseline final val"] = "" if final is None else _nats(final)
        gap = ""
        if best is not None and record is not None:
            gap = f"{best - best_ngram(record)[1]:+.3f}".replace("-", "\N{MINUS SIGN}")
        row["best val \N{MINUS SIGN} modified KN"] = gap
        quoted = template.get(dataset) if profile == "paper" else None
        row["template best val (reviews)"] = (
            f"{quoted:g}" if quoted is not None else "not quoted" if profile == "paper" else ""
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index(["profile", "dataset"])


# --- one sentence: where a page's models stand ------------------------------------------


def _verdicts(model: Mapping[str, float], ngram: Mapping[str, float]) -> str:
    """How much the transformer has learned against counts, dataset by dataset (compared
    at the three decimals shown)."""
    groups: dict[str, list[str]] = {}
    for dataset, loss in model.items():
        ours, theirs = round(loss, 3), round(ngram[dataset], 3)
        word = "less" if ours > theirs else "more" if ours < theirs else "as much"
        groups.setdefault(word, []).append(dataset)
    full = {"less": "less than", "more": "more than", "as much": "as much as"}
    if len(groups) == 1:
        (word,) = groups
        where = "on every dataset " if len(model) > 1 else ""
        return f"{where}the transformer has learned {full[word]} counts do"
    parts = [f"{word} on {and_list(datasets)}" for word, datasets in groups.items()]
    first_word, first = next(iter(groups.items()))
    parts[0] = f"{full[first_word]} counts do on {and_list(first)}"
    return f"the transformer has learned {and_list(parts)}"


def _sentence(
    profile: str,
    subject: tuple[str, str, str],
    model: Mapping[str, float | None],
    records: Mapping[str, Record | None],
) -> str:
    """The sentence of :func:`chapter_sentence` and :func:`baseline_sentence`; ``subject``
    names the models' loss for one dataset, for several, and says that there is none."""
    datasets = list(records)
    if not datasets:
        raise GniError("no dataset to set against the n-gram yardstick")
    compared = [d for d in datasets if model.get(d) is not None and records[d] is not None]
    uncomputed = [d for d in datasets if records[d] is None]
    unrun = [d for d in datasets if model.get(d) is None and records[d] is not None]
    missing = _missing_text(uncomputed, profile) if uncomputed else ""
    if not compared and not unrun:
        return (
            f"At the {profile} profile, no n-gram yardstick is computed for "
            f"{and_list(uncomputed)}, as {missing} was not at hand."
        )
    best = {d: best_ngram(records[d]) for d in datasets if records[d] is not None}
    shown_on = compared or unrun
    trains = [records[d]["train_chars"] for d in shown_on]
    whose = "the same" if compared else "its runs'"  # runs to train on them, or none yet
    chars = (
        f"{whose} {trains[0]:,} training characters"
        if len(set(trains)) == 1
        else f"{whose} training characters ({and_list([f'{t:,}' for t in trains])})"
    )
    if len(shown_on) == 1:
        ngrams = f"a modified Kneser-Ney {best[shown_on[0]][0]}-gram fit on {chars} reaches"
    else:
        orders = [str(best[d][0]) for d in shown_on]
        order = f"order {orders[0]}" if len(set(orders)) == 1 else f"orders {and_list(orders)}"
        ngrams = f"modified Kneser-Ney n-grams ({order}) fit on {chars} reach"
    theirs = and_list([_nats(best[d][1]) for d in shown_on])
    if compared:
        loss = subject[0] if len(compared) == 1 else subject[1]
        ours = and_list([_nats(model[d]) for d in compared])
        verb = "is" if len(compared) == 1 else "are"
        verdict = _verdicts({d: model[d] for d in compared}, {d: best[d][1] for d in compared})
        text = (
            f"At the {profile} profile, {loss} {verb} {ours} nats per character on "
            f"{and_list(compared)}, where {ngrams} {theirs}: {verdict}"
        )
        if unrun:
            text += f" (on {and_list(unrun)}, {subject[2]})"
    else:
        text = (
            f"At the {profile} profile, {subject[2]}, so where its transformer stands "
            f"against counts is not known here; {ngrams} {theirs} nats per character on "
            f"{and_list(unrun)}"
        )
    if uncomputed:
        text += f"; none is computed for {and_list(uncomputed)}, as {missing} was not at hand"
    return text + "."


def chapter_sentence(
    runs: pd.DataFrame,
    profile: str,
    records: Mapping[str, Record | None],
    what: str = "runs",
) -> str:
    """Where a chapter's models stand against the yardstick, in one sentence: on each
    dataset of ``records`` (in its order), the lowest best validation loss among the
    chapter's ``runs`` that ended ok (columns dataset, status, best_val_loss; nats per
    character; ``what`` names them: "confirmation runs") against the best modified
    Kneser-Ney n-gram, and whether the transformer has learned less, more or as much as
    counts (per dataset when they differ)."""
    ok = runs[(runs["status"] == "ok") & runs["best_val_loss"].notna()]
    lowest = ok.groupby("dataset")["best_val_loss"].min().to_dict()
    who = f"this chapter's {len(runs):,} {what}"
    if len(ok) < len(runs):
        who = f"the {len(ok):,} of {who} that did not diverge"
    subject = (
        f"the lowest best validation loss among {who}",
        f"the lowest best validation losses among {who}",
        "this chapter has no run that ended without diverging",
    )
    return _sentence(profile, subject, lowest, records)


def baseline_sentence(
    profile: str, baselines: Mapping[str, Baseline], records: Mapping[str, Record | None]
) -> str:
    """Where a profile's baseline stands against the yardstick, in one sentence: on each
    dataset of ``records``, the mean best validation loss of its :class:`Baseline` runs
    (and over how many seeds) against the best modified Kneser-Ney n-gram."""
    losses = {d: b.best_val_loss for d, b in baselines.items()}
    counts = [len(baselines[d].seeds) for d in records if losses.get(d) is not None]
    if not counts:
        seeds = "no seeds"  # not said: there is no loss to say it of
    elif len(set(counts)) == 1:
        seeds = (
            f"{counts[0]} seed{'s' if counts[0] > 1 else ''}{' each' if len(counts) > 1 else ''}"
        )
    else:
        seeds = f"{and_list([str(c) for c in counts])} seeds"
    subject = (
        f"the baseline's best validation loss (the mean of {seeds})",
        f"the baseline's best validation losses (means of {seeds})",
        "no baseline run is in the results store",
    )
    return _sentence(profile, subject, losses, records)


def profile_sentence(
    profile: str,
    records: Mapping[tuple[str, str], Record | None],
    baselines: Mapping[tuple[str, str], Baseline],
) -> str:
    """:func:`baseline_sentence` of ``profile``, from mappings by (profile, dataset) such
    as :func:`load_records` and :func:`load_baselines` give; its datasets in their order."""
    mine = {d: r for (p, d), r in records.items() if p == profile}
    return baseline_sentence(profile, {d: baselines[(profile, d)] for d in mine}, mine)


def chapter_standing(runs: pd.DataFrame, profile: str, what: str = "runs") -> str:
    """:func:`chapter_sentence` of a chapter's ``runs`` at ``profile``, with the records of
    the datasets they train on (in the order of :data:`gni.data.DATASETS`), from
    :func:`load_record`."""
    datasets = [d for d in DATASETS if d in set(runs["dataset"])]
    records = {d: load_record(d, profile) for d in datasets}
    return chapter_sentence(runs, profile, records, what)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m gni.yardstick``: write the results store's records (:func:`write_records`)."""
    parser = argparse.ArgumentParser(description="Write the n-gram yardstick's records.")
    parser.add_argument("--profile", nargs="+", default=list(PROFILES), choices=PROFILES)
    parser.add_argument("--dataset", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--force", action="store_true", help="compute existing records again")
    args = parser.parse_args(argv)
    write_records(args.profile, args.dataset, args.force)


if __name__ == "__main__":
    main()
