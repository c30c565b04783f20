"""Chapter 8's sentences: what the decisive test's tables and verdicts say, in words.

Each function turns what :mod:`gni.chapters.decisive` computes (the studies' choices, the
judged tests, the frozen stages, the design) into a sentence or clause that the page
glues into its prose. Conventions as there: nats per character, treatment - reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gni import claims
from gni.chapters.decisive import PENDING, SHORT, where
from gni.config import make_config
from gni.data import DATASETS
from gni.preregistration import Design
from gni.report import and_list, plural


def interior_sentence(choices: pd.DataFrame, edge_factor: float) -> str:
    """Whether every chosen learning rate lies inside its range, and which ranges grew,
    by regime and dataset: "...; the range grew for 3 arms: cpu · enwik8 (gni and
    template); cpu-long · enwik8 (baseline)"."""
    inside = choices["interior"].all()
    grown = choices[choices["extended"]]
    edge = int((~choices["interior"]).sum())
    text = (
        f"every one of the {len(choices)} chosen learning rates lies more than a factor of "
        f"{edge_factor:g} inside both edges of its range"
        if inside
        else f"{edge} of the {len(choices)} chosen learning rates still "
        f"{'lies' if edge == 1 else 'lie'} on an edge of their range after the extensions "
        "the design allows"
    )
    if grown.empty:
        return text + ", and no range had to be extended"
    places = grown.groupby(["regime", "dataset"], sort=False)["arm"]
    names = "; ".join(f"{where(r, d)} ({and_list(list(arms))})" for (r, d), arms in places)
    return text + f"; the range grew for {plural(len(grown), 'arm')}: {names}"


def answer_sentence(judged: pd.DataFrame, design: Design) -> str:
    """The chapter's answer in one sentence, one clause per hypothesis
    (:data:`gni.chapters.decisive.SHORT`): a family's verdict counts (those that occur),
    or a single test's verdict."""
    parts = []
    for name, group in judged.groupby("claim", sort=False):
        short = SHORT.get(name, design.hypotheses[name]["claim"])
        if len(group) == 1 and design.hypotheses[name].get("all_of"):
            parts.append(f"{short}, {group['verdict'].iloc[0]}")
            continue
        ran = group[group["measured"] != PENDING]
        counts = {w: n for w, n in claims.verdict_counts(ran).items() if n}
        if len(ran) < len(group):
            counts["not yet run"] = len(group) - len(ran)
        listed = and_list([f"{n} {word}" for word, n in counts.items()])
        parts.append(f"{short}, {listed} of {len(group)}")

    return "; ".join(parts) + "."


def reached_sentence(
    judged: pd.DataFrame,
    rows: pd.DataFrame,
    stages: Mapping[str, Mapping[str, Any]],
    design: Design,
) -> str:
    """What the seeds detect, against what they were chosen for: the range of the run
    tests' minimum detectable effects (:func:`judge`'s ``mde``, at each family's corrected
    level), how many reach the design's target, and how many tests' paired differences
    (``rows``, from :func:`hypothesis_rows`) spread more than their regime's pilot bound,
    the SD the seed count assumed. "" when no test has run."""
    ran = judged[pd.to_numeric(judged["mde"], errors="coerce").notna()]
    if ran.empty or rows.empty:
        return ""
    mde = ran["mde"].astype(float)
    reach = int((mde <= design.target_mde).sum())
    wider = sum(
        float(np.std(d, ddof=1)) > float(stages[r]["sd_bound"])
        for d, r in zip(rows["differences"], rows["regime"], strict=True)
    )
    return (
        f"The {len(ran)} tests that ran detect {mde.min():.3f} to {mde.max():.3f} nats per "
        f"character with {design.power:.0%} power at their family's corrected level; "
        f"{reach} of them reach the {design.target_mde:g} nats per character their seed count "
        "was chosen for. "
        f"The paired differences of {wider} of the {len(rows)} spread more than their "
        "regime's pilot bound (Table 1), the SD that the seed count assumed."
    )


def significant_sentence(judged: pd.DataFrame, design: Design) -> str:
    """The two-arm tests significant after Holm, in words, for the first paragraph: each
    one's hypothesis and place, its difference with its 95% CI and its verdict;
    "No test is significant yet." when there is none."""
    two_arm = judged["claim"].map(lambda c: "treatment" in design.hypotheses[c])
    significant = judged[two_arm & judged["verdict"].isin([claims.SUPPORTED, claims.CONTRADICTED])]
    if significant.empty:
        return "No test is significant yet."
    parts = [
        f"{test.replace(': ', ', ', 1)}: {measured.split(';')[0]}, {verdict}"
        for test, measured, verdict in zip(
            significant["test"], significant["measured"], significant["verdict"], strict=True
        )
    ]
    return f"Significant after Holm's correction: {'; '.join(parts)}."


def pending_text(design: Design, counts: Mapping[str, tuple[int, int]]) -> str:
    """Which regimes are not yet confirmed in full: no frozen stage, or fewer recorded
    confirmation runs than declared; "" when every one is complete."""
    parts = []
    for regime in design.regimes:
        if regime not in counts:
            parts.append(f"{regime} (its stage 2 is not frozen yet)")
        elif counts[regime][0] < counts[regime][1]:
            done, declared = counts[regime]
            parts.append(f"{regime} ({done} of its {declared} confirmation runs are recorded)")
    if not parts:
        return ""
    return (
        f"Not complete: {'; '.join(parts)}. A regime and dataset is tested only once all "
        "its confirmation runs are recorded; until then its tests are missing below, count "
        "as p = 1 in their family, and a verdict that needs them is inconclusive."
    )


def step_sentence(choices: pd.DataFrame, treatment: str, reference: str) -> str:
    """The learning rate ``treatment`` chose as a multiple of ``reference``'s, in each
    regime and dataset (after :func:`where`)."""
    parts = []
    for (regime, dataset), group in choices.groupby(["regime", "dataset"], sort=False):
        rates = group.set_index("arm")["learning_rate"]
        if treatment in rates and reference in rates:
            ratio = rates[treatment] / rates[reference]
            parts.append(f"{where(regime, dataset)} {ratio:.2f}\N{MULTIPLICATION SIGN}")
    return "; ".join(parts) or "n/a"


def span_text(lr_range: tuple[float, float]) -> str:
    """A range's span as a factor (a multiplication sign after it), then its ends."""
    low, high = lr_range
    return f"{high / low:.0f}\N{MULTIPLICATION SIGN} ({low:g} to {high:g})"


def cut_text(design: Design, datasets: Sequence[str] = DATASETS) -> str:
    """What the design leaves out: each dataset no regime runs, and per regime and dataset
    the arms it does not run."""
    used = {d for r in design.regimes.values() for d in r.datasets}
    parts = [f"{d} in every regime" for d in datasets if d not in used]
    for r in design.regimes.values():
        for dataset, arms in r.datasets.items():
            missing = [a for a in design.arms if a not in arms]
            if missing:
                noun = "arms" if len(missing) > 1 else "arm"
                parts.append(f"at {r.name}, the {and_list(missing)} {noun} on {dataset}")
    return "; ".join(parts) or "nothing"


def profiles_text(design: Design) -> str:
    """Each regime's training length and text, for captions: ``cpu: 600 steps on the
    first 15,000 training characters; ...`` (read from its profile's first dataset)."""
    parts = []
    for name, r in design.regimes.items():
        config = make_config(next(iter(r.datasets)), r.profile)
        text = (
            f"the first {config.train_chars:,} training characters"
            if config.train_chars
            else "the whole training split"
        )
        parts.append(f"{name}: {config.max_iters:,} steps on {text}")
    return "; ".join(parts)
