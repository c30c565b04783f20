"""Chapter 2, "Does any noise help?", what the optimizer does with the noise: noise before
or after gradient clipping, the same noise under SGD with momentum, why Adam absorbs it
(the step along the clean gradient that its second moment shrinks, measured and
predicted), and the control that copies that shrinkage with a lowered learning rate.

One module of three (see :mod:`gni.chapters.schedules`), named for what its sections
vary: not the noise's schedule (:mod:`gni.chapters.schedules`) but the optimizer's update
that the noise enters, its clipping, its kind (AdamW or SGD) and its learning rate.
Whether the findings hold is :mod:`gni.chapters.schedules_confirmation`, which runs this
module's control beside the picked settings on fresh seeds.

Runs, arms, differences and units are :mod:`gni.chapters.schedules`'s: one row per run
with its ``arm`` (:data:`~gni.chapters.schedules.BASELINE` without noise); losses in
nats per character; a difference is arm minus baseline over the seed pairs, negative
when it favours the arm; a noise scale ``sigma`` is a standard deviation per entry of
the gradient. The shared names and helpers are imported from there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from gni import plots, report, stats
from gni.chapters.schedules import (
    BASELINE,
    LOWERED,
    MEASURES,
    curves_of,
    difference,
    noise_value,
    seeds_of,
    values_text,
    versus,
)
from gni.config import make_config
from gni.train import build_model

# what the placement runs record per evaluation interval -> its name in the figure
CLIPPING = {
    "clipped_fraction": "fraction of steps clipped",
    "update_grad_norm": "\N{DOUBLE VERTICAL LINE}what the optimizer receives"
    "\N{DOUBLE VERTICAL LINE}",
}


# ---------------------------------------------------------------- placement and SGD


def placement_settings(placement: pd.DataFrame) -> dict[str, str]:
    """The placement grid's settings, for prose: the noise's decay ``gamma``, its
    half-life in steps, log(1/2) / log(gamma), the clipping norm and the seeds."""
    gamma = noise_value(placement, "post-clip, low", "gamma")
    return {
        "placement_gamma": gamma,
        "half_life": "n/a" if gamma == "n/a" else f"{np.log(0.5) / np.log(float(gamma)):.0f}",
        "grad_clip": values_text(placement["grad_clip"]),
        "placement_seed_list": seeds_of(placement),
    }


def clipping_band(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (quantity of :data:`CLIPPING`, arm) and evaluation, the mean over the seeds of
    what clipping did in the interval; lo = hi = mean (a mechanism, not a test)."""
    curves = curves[curves["iter"] > 0]
    long = curves.melt(
        id_vars=["arm", "seed", "iter"], value_vars=list(CLIPPING), var_name="quantity"
    )
    long["quantity"] = long["quantity"].map(CLIPPING)
    band = stats.curve_band(long, "value", by=["quantity", "arm"])
    band["lo"] = band["hi"] = band["mean"]
    return band


def clipping_figure(band: pd.DataFrame, arm_order: Sequence[str]) -> plots.ResponsiveFigure:
    """:func:`clipping_band` over training, one panel per quantity, one line per arm of
    ``arm_order`` (the baseline included)."""
    return plots.responsive(
        plots.curve_panels,
        band,
        "mean over the interval",
        hue="arm",
        col="quantity",
        hue_order=list(arm_order),
    )


def clipped_share(curves: pd.DataFrame) -> str:
    """The share of the baseline's steps that clipping changed over the run: ``75%``."""
    clipped = curves[curves["iter"] > 0].groupby("arm")["clipped_fraction"].mean()
    return f"{clipped[BASELINE]:.0%}"


def sgd_tuning(tuning: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SGD's runs without noise by peak learning rate: the runs that finished and each
    measure's mean with its 95% CI, one row per rate; and the chosen rate, the lowest mean
    best validation loss among the rates whose runs all finished."""
    rows, scores, rates = [], [], []
    for lr, group in tuning.groupby("learning_rate"):
        ok = group[group["status"] == "ok"]
        rows.append(
            {
                "peak learning rate": f"{lr:g}",
                "runs ok": f"{len(ok)} of {len(group)}",
                **{name: stats.mean_ci(ok[m]).format(3) for m, name in MEASURES.items()},
            }
        )
        scores.append(ok["best_val_loss"].mean() if len(ok) == len(group) else np.inf)
        rates.append(float(lr))
    return pd.DataFrame(rows).set_index("peak learning rate"), rates[int(np.argmin(scores))]


def sgd_spec(
    sgd_grid: dict[str, Any],
    placement_grid: dict[str, Any],
    tuning: pd.DataFrame,
    learning_rate: float,
) -> dict[str, Any]:
    """The SGD grid at its tuned ``learning_rate`` (and that run's ``min_lr``), on the
    tuning's seeds: the baseline and the placement grid's post-clip noise settings,
    relabelled ``SGD, <level>``."""
    tuned = tuning[tuning["learning_rate"] == learning_rate].iloc[0]
    base = sgd_grid["base"]
    overrides = {
        **base.get("overrides", {}),
        "learning_rate": learning_rate,
        "min_lr": float(tuned["min_lr"]),
    }
    noise = [v for v in placement_grid["axes"]["noise"] if v["label"].startswith("post-clip")]
    return {
        "base": {**base, "overrides": overrides},
        "axes": {
            "noise": [
                {"label": BASELINE},
                *[{**v, "label": v["label"].replace("post-clip", "SGD")} for v in noise],
            ]
        },
        "seeds": sorted(tuning["seed"].unique().tolist()),
    }


def beside_adamw(placement_effects: pd.DataFrame, sgd_effects: pd.DataFrame) -> pd.DataFrame:
    """The same noise under each optimizer: the placement's post-clip comparisons,
    relabelled ``AdamW, <level>``, above SGD's."""
    adamw = placement_effects[placement_effects["arm"].str.startswith("post-clip")].copy()
    adamw["arm"] = adamw["arm"].str.replace("post-clip", "AdamW")
    return pd.concat([adamw, sgd_effects], ignore_index=True)


# ---------------------------------------------------------------- how Adam absorbs noise


def adam_curves(adam: pd.DataFrame) -> pd.DataFrame:
    """The Adam grid's curves after step 0, with each run's constant noise sigma in
    ``sigma_set`` (0 for the baseline), sorted by sigma and step."""
    sigma = adam["noise_args"].map(lambda a: json.loads(a).get("sigma0", 0.0))
    curves = curves_of(adam.assign(sigma_set=sigma), ("arm", "sigma_set"))
    return curves[curves["iter"] > 0].sort_values(["sigma_set", "iter"])


def tensor_sizes(table: pd.DataFrame, profile: str) -> pd.Series:
    """The number of entries of each tensor of the model of the table's runs (its first
    run's dataset and vocabulary at ``profile``), indexed ``adam_v/<tensor>`` as the
    curves' columns of Adam's mean second moment."""
    config = make_config(str(table["dataset"].iloc[0]), profile)
    model = build_model(config, int(table["vocab_size"].iloc[0]))
    return pd.Series({f"adam_v/{n}": p.numel() for n, p in model.named_parameters()})


def absorption(curves: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """Per sigma (0: the baseline), means over the run of: the step along the clean
    gradient relative to the baseline's at the same step (``measured``); that ratio
    predicted from the baseline's second moment v per tensor T (n_T entries),
    sum_T n_T v_T / sqrt(v_T + sigma^2) / sum_T n_T sqrt(v_T) (``predicted``); Adam's mean
    v per entry (``v``); and the noise-to-gradient norm ratio per tensor, its median,
    least and largest over the tensors (``ratio_median``, ``ratio_min``, ``ratio_max``).
    ``curves`` as :func:`adam_curves` gives; ``sizes`` as :func:`tensor_sizes`."""
    base = curves[curves["sigma_set"] == 0].set_index("iter")
    v_cols = [c for c in curves if c.startswith("adam_v/")]
    ratio_cols = [c for c in curves if c.startswith("noise_ratio/")]
    w = sizes[v_cols]
    v0 = base[v_cols]
    rows = []
    for sigma, c in curves.groupby("sigma_set"):
        c = c.set_index("iter")
        factor = c["signal_step"] / base["signal_step"]
        predicted = (w * v0 / np.sqrt(v0 + sigma**2)).sum(axis=1) / (w * np.sqrt(v0)).sum(axis=1)
        ratios = c[ratio_cols].mean()
        rows.append(
            {
                "sigma": sigma,
                "measured": factor.mean(),
                "predicted": predicted.mean(),
                "v": float((c[v_cols] * w).sum(axis=1).mean() / w.sum()),
                "ratio_median": float(ratios.median()),
                "ratio_min": float(ratios.min()),
                "ratio_max": float(ratios.max()),
            }
        )
    return pd.DataFrame(rows)


def absorption_figure(absorb: pd.DataFrame, curves: pd.DataFrame) -> plots.ResponsiveFigure:
    """:func:`absorption` against sigma > 0, with the baseline's minibatch gradient
    spread (the mean of its ``grad_spread_rms``) and its mean second moment."""
    spread = float(curves.loc[curves["sigma_set"] == 0, "grad_spread_rms"].mean())
    v0 = float(absorb.loc[absorb["sigma"] == 0, "v"].iloc[0])
    noisy = absorb[absorb["sigma"] > 0]
    return plots.responsive(plots.absorption_panels, noisy, spread, v0)


def step_ratios(curves: pd.DataFrame) -> dict[float, pd.DataFrame]:
    """Per sigma > 0, indexed by step: the step along the clean gradient relative to
    the baseline's (``step_ratio``) and sigma over the baseline's minibatch gradient
    spread (``sigma_over_spread``), as :func:`gni.plots.step_curves` draws them."""
    base = curves[curves["sigma_set"] == 0].set_index("iter")
    return {
        sigma: pd.DataFrame(
            {
                "step_ratio": c.set_index("iter")["signal_step"] / base["signal_step"],
                "sigma_over_spread": sigma / base["grad_spread_rms"],
            }
        )
        for sigma, c in curves[curves["sigma_set"] > 0].groupby("sigma_set")
    }


def probe_sigma(absorb: pd.DataFrame) -> float:
    """The sigma whose step factor the lowered-learning-rate control copies: the middle
    one of the noisy runs (the lower middle of an even number)."""
    noisy = absorb[absorb["sigma"] > 0]
    return float(noisy["sigma"].iloc[len(noisy) // 2 - 1 if len(noisy) > 1 else 0])


def step_factor(absorb: pd.DataFrame, sigma: float) -> float:
    """The measured step along the gradient at ``sigma``, relative to the baseline's."""
    return float(absorb.set_index("sigma").loc[sigma, "measured"])


def absorption_facts(absorb: pd.DataFrame, curves: pd.DataFrame) -> dict[str, str]:
    """The mechanism in numbers, for prose: the baseline's clipped gradient, its
    minibatch spread and RMS per entry; the step factor, measured and predicted, at
    :func:`probe_sigma`, and measured at the largest sigma."""
    base = curves[curves["sigma_set"] == 0]
    probe = probe_sigma(absorb)
    row = absorb.set_index("sigma").loc[probe]
    high = absorb[absorb["sigma"] > 0].iloc[-1]
    return {
        "grad_spread": f"{float(base['grad_spread_rms'].mean()):.2g}",
        "grad_rms_clean": f"{float(base['grad_rms'].mean()):.2g}",
        "probe_sigma": f"{probe:g}",
        "probe_factor": f"{row['measured']:.2f}",
        "probe_predicted": f"{row['predicted']:.2f}",
        "high_sigma": f"{high['sigma']:g}",
        "high_factor": f"{high['measured']:.2f}",
    }


def lowered_spec(
    screen_grid: dict[str, Any], screen: pd.DataFrame, sigma: float, factor: float
) -> dict[str, Any]:
    """The screen's grid with three arms on its seeds: the baseline; the baseline with its
    peak and minimum learning rate multiplied by ``factor`` (:data:`LOWERED`); and the
    screen's constant noise (gamma = 1) of ``sigma``, which must be screened."""
    base = screen[screen["arm"] == BASELINE].iloc[0]
    noise = screen[(screen["sigma0"] == sigma) & (screen["gamma"] == 1.0)]
    if noise.empty:
        raise ValueError(f"the screen has no constant-noise setting with sigma0={sigma}")
    lowered = {
        "label": LOWERED,
        "learning_rate": float(base["learning_rate"]) * factor,
        "min_lr": float(base["min_lr"]) * factor,
    }
    label = noise["arm"].iloc[0]
    same = next(v for v in screen_grid["axes"]["noise"] if v["label"] == label)
    return {
        "base": screen_grid["base"],
        "axes": {"noise": [{"label": BASELINE}, lowered, same]},
        "seeds": sorted(screen["seed"].unique().tolist()),
    }


def lowered_facts(lowered: pd.DataFrame, effects: pd.DataFrame, noise: str) -> dict[str, str]:
    """The control against the noise of the same step factor, for prose: in final
    validation loss, each minus the baseline (``effects``, :func:`effects_of` of
    ``lowered``), and the ``noise`` minus the control, in final and in best validation
    loss."""
    return {
        "lowered_diff": report.interval(difference(effects, LOWERED)),
        "lowered_noise_diff": report.interval(difference(effects, noise)),
        "noise_vs_lowered": report.interval(versus(lowered, LOWERED, noise)),
        "noise_vs_lowered_best": report.interval(versus(lowered, LOWERED, noise, "best_val_loss")),
    }
