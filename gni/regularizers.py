"""The arms of the regularizer comparison and the configurations it reports.

Chapter 3 tunes every arm alike with one :class:`gni.tuning.Protocol` and reports the
chosen configurations on fresh seeds; chapter 4 probes the sharpness of those same
configurations. Both build the arms here, from the same grids::

    arms = Grids().arms()
    selection = protocol.select(gni.sweep.run(protocol.tuning_grid(arms, dataset, profile)), arms)
    chosen, gni = report_arms(selection, synergy=True)

The arms: the baseline (no regularizer), dropout, weight decay and label smoothing, each
tuning its strength; two GNI arms (anticorrelated noise of constant scale, and the
paper's exponentially decaying schedule), each tuning its scale; and the paper's
template (dropout + weight decay at fixed strengths). Combinations with GNI are not
tuned: they take their parts' chosen settings (:func:`gni.tuning.with_noise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gni.tuning import Arm, Selection, with_noise

BASELINE = "baseline"
TEMPLATE = "paper's template"
REGULARIZERS = ("dropout", "weight decay", "label smoothing")
GNI_ARMS = ("GNI (anticorrelated)", "GNI (exponential)")
LEARNING_RATES = (0.001, 0.002)  # every arm's learning rates (chapter 3's default)


def combined(name: str) -> str:
    """The name of arm ``name`` with the chosen GNI added."""
    return f"{name} + GNI"


TEMPLATE_GNI = combined(TEMPLATE)


@dataclass(frozen=True)
class Grids:
    """Each arm's strength grid, and the template's fixed settings (chapter 3's defaults).

    The noise scales are standard deviations per gradient entry; the anticorrelated
    ones are chapter 2's two confirmed picks, and ``exponential_sigma0`` holds chapter
    1's setting (0.01, with ``exponential_gamma`` 0.99 per step).
    """

    dropout: tuple[float, ...] = (0.1, 0.2)
    weight_decay: tuple[float, ...] = (0.1, 1.0)
    label_smoothing: tuple[float, ...] = (0.05, 0.1)
    anticorrelated_sigma0: tuple[float, ...] = (0.00010408, 0.00031224)
    exponential_sigma0: tuple[float, ...] = (0.001, 0.01)
    exponential_gamma: float = 0.99
    template_dropout: float = 0.2
    template_weight_decay: float = 0.1

    def arms(self) -> list[Arm]:
        """The seven tuned arms, baseline first (the order of the pages' tables)."""
        return [
            Arm(BASELINE),
            Arm("dropout", strength="dropout", values=self.dropout),
            Arm("weight decay", strength="weight_decay", values=self.weight_decay),
            Arm("label smoothing", strength="label_smoothing", values=self.label_smoothing),
            Arm(
                GNI_ARMS[0],
                settings={"noise_schedule": "constant", "noise_kind": "anticorrelated"},
                strength="noise_args.sigma0",
                values=self.anticorrelated_sigma0,
            ),
            Arm(
                GNI_ARMS[1],
                settings={
                    "noise_schedule": "exponential",
                    "noise_args": {"gamma": self.exponential_gamma},
                },
                strength="noise_args.sigma0",
                values=self.exponential_sigma0,
            ),
            Arm(
                TEMPLATE,
                settings={
                    "dropout": self.template_dropout,
                    "weight_decay": self.template_weight_decay,
                },
            ),
        ]


def report_arms(selection: Selection, synergy: bool) -> tuple[dict[str, dict[str, Any]], str]:
    """The chosen configuration of every arm, plus the template with the better GNI arm
    (the lower tuning score) and, with ``synergy``, each regularizer with it; and the
    name of that GNI arm. Combinations are trained at their regularizer's (or the
    template's) chosen learning rate and not tuned again."""
    chosen = dict(selection.chosen)
    scores = selection.scores[selection.scores["chosen"]].set_index("arm")["mean"]
    gni = min(GNI_ARMS, key=lambda arm: scores[arm])
    chosen[TEMPLATE_GNI] = with_noise(chosen[TEMPLATE], chosen[gni])
    if synergy:
        for name in REGULARIZERS:
            chosen[combined(name)] = with_noise(chosen[name], chosen[gni])
    return chosen, gni
