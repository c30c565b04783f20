"""Chapter 0, "Setup": the tables of the model, the profiles' settings and the data.

Every table is read from the code that trains the runs (:mod:`gni.config`,
:mod:`gni.model`, :mod:`gni.data`), so it cannot drift from it. Sizes are in
characters, which are bytes: every dataset is modelled byte by byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from gni.config import PROFILES, RunConfig, profile_config
from gni.data import DATASETS, Dataset, describe, split_sizes
from gni.grids import SweepPoint
from gni.model import count_parameters
from gni.results import ResultsStore, load_runs
from gni.tables import digest_html, link_html
from gni.train import build_model

# Settings that Table S2 leaves out: set per run (dataset, profile, seed) or by each
# chapter (the noise), not by a profile
SET_ELSEWHERE = frozenset(
    {"dataset", "profile", "seed", "noise_schedule", "noise_args", "noise_placement", "noise_scale"}
)
WHOLE = "whole"  # Table S2's word for a size without a limit (None: all of the text or split)


def vocabulary_size(config: RunConfig) -> int:
    """Distinct bytes in the text the run's profile uses: at the `paper` profile the
    whole text's (the paper's models see all of it), declared in :data:`gni.data.DATASETS`;
    otherwise the prepared text's, read from its manifest in the results store."""
    if config.profile == "paper":
        return DATASETS[config.dataset].full_vocab_size
    return describe(config.dataset, config.data_bytes)["vocab_size"]


def model_row(config: RunConfig, vocabulary: int) -> dict[str, Any]:
    """One row of Table S1: the model's shape (context in characters) and its parameter
    count without the position embeddings (nanoGPT's convention; the token embedding is
    tied to the output layer and counted once)."""
    return {
        "profile": config.profile,
        "dataset": config.dataset,
        "layers": config.n_layer,
        "heads": config.n_head,
        "width": config.n_embd,
        "context": config.block_size,
        "vocabulary": vocabulary,
        "parameters": count_parameters(build_model(config, vocabulary)),
    }


def model_card(configs: Iterable[RunConfig]) -> pd.DataFrame:
    """Table S1: :func:`model_row` of each config, with its :func:`vocabulary_size`,
    indexed by (profile, dataset)."""
    rows = [model_row(c, vocabulary_size(c)) for c in configs]
    return pd.DataFrame(rows).set_index(["profile", "dataset"])


def same_but_dataset(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether two runs' settings (:meth:`RunConfig.to_dict`) agree in all but the dataset."""
    return {**first, "dataset": None} == {**second, "dataset": None}


def enwik8_text8_identical(profiles: Sequence[str] = PROFILES) -> bool:
    """Whether enwik8 and text8 have the same settings in every one of ``profiles``."""
    for profile in profiles:
        enwik8, text8 = (profile_config(d, profile).to_dict() for d in ("enwik8", "text8"))
        if not same_but_dataset(enwik8, text8):
            return False
    return True


def settings_columns(enwik8_stands_for_text8: bool) -> dict[str, str]:
    """Each dataset whose settings Table S2 shows -> the label of its columns; enwik8's
    columns stand for text8 too where asked (when the two have the same settings)."""
    if enwik8_stands_for_text8:
        return {"shakespeare_char": "shakespeare_char", "enwik8": "enwik8, text8"}
    return {"shakespeare_char": "shakespeare_char", "enwik8": "enwik8", "text8": "text8"}


def shown_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as Table S2 shows them: without :data:`SET_ELSEWHERE`, and a
    size without a limit (None) as :data:`WHOLE`."""
    return {k: WHOLE if v is None else v for k, v in settings.items() if k not in SET_ELSEWHERE}


def hyperparameter_table(
    enwik8_stands_for_text8: bool, profiles: Sequence[str] = PROFILES
) -> pd.DataFrame:
    """Table S2: one row per setting, one column per (dataset label, profile) of
    :func:`settings_columns`, each the :func:`shown_settings` of the profile's config."""
    columns = {
        (label, p): shown_settings(profile_config(dataset, p).to_dict())
        for dataset, label in settings_columns(enwik8_stands_for_text8).items()
        for p in profiles
    }
    table = pd.DataFrame(columns)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["dataset", "profile"])
    return table


def excerpt_bytes(dataset: Dataset) -> int:
    """The length in bytes of the dataset's published excerpt (its first bytes)."""
    return next(s.size for s in dataset.sources if s.kind == "excerpt")


def provenance_table(datasets: Mapping[str, Dataset] = DATASETS) -> pd.DataFrame:
    """Table S3: each dataset's canonical download (a link), its size in bytes and its
    sha256 (shortened, whole on hover); the link and digest columns are HTML."""
    rows = [
        {
            "dataset": name,
            "download": link_html(d.url),
            "bytes": d.download.size,
            "sha256": digest_html(d.download.sha256),
        }
        for name, d in datasets.items()
    ]
    return pd.DataFrame(rows).set_index("dataset")


def text_digest(dataset: Dataset, config: RunConfig) -> str:
    """The digest of the text the run's profile uses: at the `paper` profile the whole
    text's published sha256 (md5 where only that is published: text8), declared in
    :data:`gni.data.DATASETS`; otherwise the prepared text's sha256, read from its
    manifest in the results store."""
    if config.profile == "paper":
        return dataset.full_text.sha256 or dataset.full_text.md5
    return describe(dataset.name, config.data_bytes)["text_sha256"]


def epochs(config: RunConfig, train_chars: int) -> float:
    """Passes a run makes over its ``train_chars`` training characters: it trains on
    batch_size x block_size characters at each of its max_iters + 1 steps."""
    return (config.max_iters + 1) * config.batch_size * config.block_size / train_chars


def split_row(dataset: Dataset, config: RunConfig, digest: str) -> dict[str, Any]:
    """One row of Table S4: the characters of the text the run uses and of each split,
    the training characters it uses (the first ``train_chars`` of the train split, or
    all of it), its epochs over them (one decimal) and the text's ``digest`` (HTML)."""
    used = config.data_bytes or dataset.text_bytes
    sizes = split_sizes(dataset, used)
    train = min(sizes["train"], config.train_chars or sizes["train"])
    return {
        "dataset": dataset.name,
        "profile": config.profile,
        "text used (bytes)": used,
        "train": train,
        "val": sizes["val"],
        "test": sizes["test"] or "none",
        "epochs": f"{epochs(config, train):.1f}",
        "digest of the text": digest_html(digest),
    }


def splits_table(
    profiles: Sequence[str], datasets: Mapping[str, Dataset] = DATASETS
) -> pd.DataFrame:
    """Table S4: :func:`split_row` of each dataset at each of ``profiles``, with its
    :func:`text_digest`, indexed by (dataset, profile)."""
    rows = []
    for name, dataset in datasets.items():
        for profile in profiles:
            config = profile_config(name, profile)
            rows.append(split_row(dataset, config, text_digest(dataset, config)))
    return pd.DataFrame(rows).set_index(["dataset", "profile"])


def calibration_table(
    points: Sequence[SweepPoint], runs: pd.DataFrame, chosen: str, axis: str = "shape"
) -> pd.DataFrame:
    """Table S6: one row per shape of the ``cpu-long`` calibration grid (``points``, its
    labels on ``axis``), from its runs' records (``runs``, a :func:`gni.results.load_runs`
    table): the training characters, steps and epochs, the best validation loss (nats per
    character) and the step of that evaluation, the final one (the whole split), the
    run's wall-clock minutes, and whether the profile took this shape (its run id is
    ``chosen``). A shape without a record of a run that ended has NaN losses."""
    ended = runs[runs["status"] == "ok"].set_index("run_id") if len(runs) else pd.DataFrame()
    rows = []
    for point in points:
        c = point.config
        dataset = DATASETS[c.dataset]
        train = split_sizes(dataset, c.data_bytes or dataset.text_bytes)["train"]
        train = min(train, c.train_chars or train)
        r = ended.loc[c.run_id] if c.run_id in ended.index else {}
        rows.append(
            {
                "shape": point.labels[axis],
                "train characters": train,
                "steps": c.max_iters + 1,
                "epochs": round(epochs(c, train), 1),
                "best val": r.get("best_val_loss", math.nan),
                "at step": r.get("best_val_iter", math.nan),
                "final val": r.get("final_val_loss", math.nan),
                "minutes": r.get("wall_seconds", math.nan) / 60,
                "profile": "cpu-long" if c.run_id == chosen else "",
            }
        )
    return pd.DataFrame(rows).set_index("shape")


def calibration_summary(table: pd.DataFrame, ngram_val: float) -> dict[str, str]:
    """What the setup chapter's prose says of :func:`calibration_table` ``table``: the
    chosen shape, its best validation loss (nats per character) and the step of that
    evaluation, its steps, epochs and minutes, its distance to the n-gram's validation
    loss ``ngram_val``, and how far the best shape on fewer training characters stayed
    above it. Without a record of the chosen shape's run (a results store of your own),
    every number is "n/a"."""
    chosen = table[table["profile"] != ""]
    row = chosen.iloc[0]
    fewer = table.loc[table["train characters"] < row["train characters"], "best val"]
    if math.isnan(row["best val"]):
        missing = ("best", "best_step", "minutes", "ngram_gap", "fewer_gap")
        return {
            "shape": str(chosen.index[0]),
            "steps": f"{int(row['steps']) - 1:,}",
            "epochs": f"{row['epochs']:.1f}",
            "n_shapes": str(int(table["best val"].notna().sum())),
        } | dict.fromkeys(missing, "n/a")
    return {
        "shape": str(chosen.index[0]),
        "best": f"{row['best val']:.3f}",
        "best_step": f"{int(row['at step']):,}",
        "steps": f"{int(row['steps']) - 1:,}",
        "epochs": f"{row['epochs']:.1f}",
        "minutes": f"{row['minutes']:.1f}",
        "ngram_gap": f"{row['best val'] - ngram_val:+.3f}",
        "fewer_gap": f"{fewer.min() - row['best val']:.3f}" if fewer.notna().any() else "n/a",
        "n_shapes": str(int(table["best val"].notna().sum())),
    }


def stored_runs(points: Sequence[SweepPoint], store: ResultsStore | None = None) -> pd.DataFrame:
    """:func:`gni.results.load_runs` of the runs of ``points`` that ``store`` holds (a
    store of your own may hold none of the calibration's); nothing is trained."""
    store = store or ResultsStore()
    return load_runs([p.config.run_id for p in points if store.has(p.config.run_id)], store)


def shown_calibration(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`calibration_table` as the page shows it: epochs and minutes to one decimal,
    losses to three, the step as an integer; empty where a shape has no run."""

    def text(values: pd.Series, pattern: str) -> list[str]:
        return ["" if pd.isna(v) else pattern.format(v) for v in values]

    shown = table.copy()
    for column, pattern in {
        "epochs": "{:.1f}",
        "best val": "{:.3f}",
        "at step": "{:,.0f}",
        "final val": "{:.3f}",
        "minutes": "{:.1f}",
    }.items():
        shown[column] = text(table[column], pattern)
    return shown
