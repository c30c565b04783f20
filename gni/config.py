"""RunConfig: every setting of one training run, and the smoke / cpu / paper profiles.

A RunConfig is frozen. Build one with :func:`make_config` (a profile, then overrides),
change one with ``dataclasses.replace``; every construction is validated and a bad value
raises :class:`gni.GniError` naming the field, the value and what is allowed.

Its ``run_id`` is a hash of the canonical JSON of all fields, so the same settings
always map to the same record in the results store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from gni import GniError, recipe
from gni.data import DATASETS
from gni.noise_options import KINDS as NOISE_KINDS
from gni.noise_options import SCALES as NOISE_SCALES
from gni.schedules import SCHEDULES, make_schedule

__all__ = [
    "FIELDS",
    "NOISE_ARG_LIMIT",
    "NOISE_IMPLS",
    "NOISE_PLACEMENTS",
    "OPTIMIZERS",
    "PROFILES",
    "PUBLISHED_PROFILE",
    "RunConfig",
    "data_sizes",
    "make_config",
    "parse_value",
    "profile_config",
]

#: The profiles, smallest first; the size of every run (see the setup chapter).
PROFILES = ("smoke", "cpu", "cpu-long", "paper")
#: The profile of the published book (`make book`).
PUBLISHED_PROFILE = "cpu"
#: Every noise argument (a standard deviation, a decay, a number of steps) is finite and at
#: most this in magnitude: float32 gradients overflow at 3.4e38, and no schedule needs more.
NOISE_ARG_LIMIT = 1e9
#: AdamW (the paper's) or SGD with momentum.
OPTIMIZERS = ("adamw", "sgd")
#: Where the noise is added; after gradient clipping (the default) or before it.
NOISE_PLACEMENTS = ("post_clip", "pre_clip")
#: Who draws the noise; GradientNoise before the optimizer, or NoisyAdamW inside it.
NOISE_IMPLS = ("separate", "fused")

# Fields added after records were made: a field at this value is left out of the run id,
# so that the records made before it existed keep their ids (they trained with it).
_ADDED_FIELDS = {"noise_kind": "independent", "diagnostics": False}


@dataclass(frozen=True)
class RunConfig:
    """All settings of one run. Losses are in nats per character; steps count from 0."""

    dataset: str = "shakespeare_char"
    profile: str = "cpu"
    seed: int = 0  # seeds init, batches, dropout and noise through separate generators

    # data
    data_bytes: int | None = None  # use the first N bytes of the text; None: the whole file
    train_chars: int | None = None  # keep the first N characters of the train split; None: all

    # model (nanoGPT names)
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    block_size: int = 256  # context length in characters
    bias: bool = False
    dropout: float = 0.2

    # optimisation
    optimizer: str = "adamw"  # adamw | sgd (with momentum)
    batch_size: int = 64
    max_iters: int = 5000  # optimizer steps
    learning_rate: float = 1e-3  # peak, after linear warmup
    min_lr: float = 1e-4  # cosine decay ends here at lr_decay_iters
    warmup_iters: int = 100
    lr_decay_iters: int = 5000
    beta1: float = 0.9
    beta2: float = 0.99
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.1  # decoupled for adamw, L2 for sgd; on >=2-d tensors only
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    label_smoothing: float = 0.0

    # evaluation
    eval_interval: int = 250  # optimizer steps between evaluations
    eval_iters: int = 200  # batches per split per evaluation

    # gradient noise (gni.noise): sigma_t = schedule(t), a standard deviation
    noise_schedule: str = "none"  # see gni.schedules.SCHEDULES
    noise_args: dict[str, float] = field(default_factory=dict)  # the schedule's arguments
    noise_placement: str = "post_clip"  # post_clip | pre_clip (relative to clipping)
    noise_scale: str = "absolute"  # absolute | relative (sigma_t times the gradients' RMS)
    # separate: gni.noise.GradientNoise, then the optimizer (any optimizer, either
    # placement; the only choice under SGD with momentum). fused: gni.optim.NoisyAdamW,
    # noise and AdamW in one pass (post_clip only); on CPU it draws the same numbers as
    # separate, on CUDA its Triton kernel draws another stream (Philox) of the same law.
    noise_impl: str = "separate"
    # independent: sigma_t * z_t; anticorrelated: sigma_t * (z_t - z_{t-1}) / sqrt(2)
    # (Anti-PGD, Orvieto et al. 2022, matched in variance; gni.noise)
    noise_kind: str = "independent"

    # measurements that do not change training (gni.diagnostics): per-evaluation noise
    # ratios per tensor, Adam's second moment, the step along the clean gradient
    diagnostics: bool = False

    def __post_init__(self) -> None:
        _coerce_and_check_types(self)
        _check_values(self)

    @property
    def run_id(self) -> str:
        """``{dataset}-{profile}-{noise}-s{seed}-{hash}``: readable, and unique per settings.

        The hash covers every field and the recipe version (:mod:`gni.recipe`), so a record
        made before the meaning of training changed is not reused. A field added since
        records were made is left out while it has the value those records trained with
        (``_ADDED_FIELDS``), so their ids stay valid.
        """
        fields = {
            k: v
            for k, v in self.to_dict().items()
            if not (k in _ADDED_FIELDS and v == _ADDED_FIELDS[k])
        }
        settings = {"recipe": recipe.VERSION, **fields}
        canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        return f"{self.dataset}-{self.profile}-{self.noise_schedule}-s{self.seed}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise GniError(f"unknown config field(s) {unknown}; valid fields: {', '.join(FIELDS)}")
        return cls(**values)


#: RunConfig's fields by name.
FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RunConfig)}
_HINTS = typing.get_type_hints(RunConfig)


def _allowed_types(name: str) -> tuple[type, ...]:
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        return tuple(typing.get_args(hint))
    return (typing.get_origin(hint) or hint,)


def _coerce_and_check_types(config: RunConfig) -> None:
    for name in FIELDS:
        value = getattr(config, name)
        allowed = _allowed_types(name)
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            object.__setattr__(config, name, float(value))
            continue
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        else:
            ok = isinstance(value, allowed)
        if not ok:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise GniError(f"{name}={value!r} has type {type(value).__name__}; expected {names}")
    args = {}
    for key, value in config.noise_args.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GniError(f"noise_args[{key!r}]={value!r} must be a number")
        if not (math.isfinite(value) and abs(value) <= NOISE_ARG_LIMIT):
            raise GniError(
                f"noise_args[{key!r}]={value!r} is out of range; allowed: a finite number of "
                f"magnitude at most {NOISE_ARG_LIMIT:g}"
            )
        args[str(key)] = float(value)
    object.__setattr__(config, "noise_args", dict(sorted(args.items())))


def _check(condition: bool, name: str, value: Any, allowed: str) -> None:
    if not condition:
        raise GniError(f"{name}={value!r} is out of range; allowed: {allowed}")


def _check_values(c: RunConfig) -> None:
    _check_choices(c)
    _check_sizes(c)
    _check_rates(c)
    _check_noise(c)


def _check_choices(c: RunConfig) -> None:
    _check(c.dataset in DATASETS, "dataset", c.dataset, ", ".join(DATASETS))
    _check(c.profile in PROFILES, "profile", c.profile, ", ".join(PROFILES))
    _check(c.optimizer in OPTIMIZERS, "optimizer", c.optimizer, ", ".join(OPTIMIZERS))
    _check(c.seed >= 0, "seed", c.seed, "an integer >= 0")


def _check_sizes(c: RunConfig) -> None:
    for name in (
        "n_layer",
        "n_head",
        "n_embd",
        "block_size",
        "batch_size",
        "max_iters",
        "lr_decay_iters",
        "eval_interval",
        "eval_iters",
    ):
        _check(getattr(c, name) >= 1, name, getattr(c, name), "an integer >= 1")
    _check(c.warmup_iters >= 0, "warmup_iters", c.warmup_iters, "an integer >= 0")
    _check(c.n_embd % c.n_head == 0, "n_embd", c.n_embd, f"a multiple of n_head={c.n_head}")
    text_bytes = DATASETS[c.dataset].text_bytes
    if c.data_bytes is not None:
        _check(
            0 < c.data_bytes <= text_bytes,
            "data_bytes",
            c.data_bytes,
            f"None or 1..{text_bytes} for {c.dataset}",
        )
    if c.train_chars is not None:
        _check(c.train_chars >= 1, "train_chars", c.train_chars, "None or an integer >= 1")


def _check_rates(c: RunConfig) -> None:
    for name in (
        "learning_rate",
        "min_lr",
        "weight_decay",
        "grad_clip",
        "dropout",
        "label_smoothing",
        "beta1",
        "beta2",
        "momentum",
    ):
        value = getattr(c, name)
        _check(math.isfinite(value), name, value, "a finite number")
    _check(c.learning_rate > 0, "learning_rate", c.learning_rate, "a number > 0")
    _check(
        0 <= c.min_lr <= c.learning_rate,
        "min_lr",
        c.min_lr,
        f"0 <= min_lr <= learning_rate={c.learning_rate}",
    )
    _check(c.weight_decay >= 0, "weight_decay", c.weight_decay, "a number >= 0")
    _check(c.grad_clip >= 0, "grad_clip", c.grad_clip, "a number >= 0 (0 disables clipping)")
    for name in ("dropout", "label_smoothing", "beta1", "beta2", "momentum"):
        _check(0 <= getattr(c, name) < 1, name, getattr(c, name), "0 <= value < 1")


def _check_noise(c: RunConfig) -> None:
    _check(c.noise_schedule in SCHEDULES, "noise_schedule", c.noise_schedule, ", ".join(SCHEDULES))
    _check(
        c.noise_placement in NOISE_PLACEMENTS,
        "noise_placement",
        c.noise_placement,
        ", ".join(NOISE_PLACEMENTS),
    )
    _check(c.noise_scale in NOISE_SCALES, "noise_scale", c.noise_scale, ", ".join(NOISE_SCALES))
    _check(c.noise_impl in NOISE_IMPLS, "noise_impl", c.noise_impl, ", ".join(NOISE_IMPLS))
    _check(c.noise_kind in NOISE_KINDS, "noise_kind", c.noise_kind, ", ".join(NOISE_KINDS))
    if c.diagnostics:
        _check(
            c.noise_impl == "separate",
            "diagnostics",
            c.diagnostics,
            "False with noise_impl=fused (the measurements need the noise applied separately)",
        )
    if c.noise_impl == "fused":
        _check(
            c.optimizer == "adamw" and c.noise_placement == "post_clip",
            "noise_impl",
            c.noise_impl,
            "separate with optimizer=sgd or noise_placement=pre_clip (fused is AdamW after "
            "clipping)",
        )
    try:
        make_schedule(c.noise_schedule, **c.noise_args)
    except ValueError as e:
        raise GniError(f"noise_args={c.noise_args}: {e}") from None


# --- profiles -------------------------------------------------------------------------

# The AI-Scientist nanoGPT template's setup, which the paper's runs use as far as its
# reviews tell (one review describes a 2-layer, 512-wide model instead; needs a GPU).
_PAPER_COMMON: dict[str, Any] = dict(
    n_layer=6,
    n_head=6,
    n_embd=384,  # 10.6M non-embedding parameters
    block_size=256,  # context of 256 characters
    dropout=0.2,  # the template's value for these small datasets
    beta2=0.99,  # higher than 0.999 is unnecessary: few tokens per step
    weight_decay=0.1,
    grad_clip=1.0,
    eval_iters=200,
    noise_impl="fused",  # a GPU profile: NoisyAdamW's one-pass Triton kernel
)
_PAPER: dict[str, dict[str, Any]] = {
    "shakespeare_char": dict(
        _PAPER_COMMON,
        batch_size=64,
        learning_rate=1e-3,
        min_lr=1e-4,  # min_lr = lr / 10
        max_iters=5000,
        lr_decay_iters=5000,
        warmup_iters=100,
        eval_interval=250,
    ),
    "enwik8": dict(
        _PAPER_COMMON,
        batch_size=32,
        learning_rate=5e-4,
        min_lr=5e-5,
        max_iters=100_000,
        lr_decay_iters=100_000,
        warmup_iters=200,
        eval_interval=1000,
    ),
}
_PAPER["text8"] = dict(_PAPER["enwik8"])

# The published book on a 2-core CPU: a small model (0.8M parameters) whose run takes
# about a minute on one core, so that the whole book regenerates from nothing in under
# three hours on two workers (for that budget the batch was halved from 32 sequences,
# and the training text with it, from 30,000 characters). Each dataset trains on the
# first 15,000 characters of its train split (val and test stay whole), about 40 epochs
# in 601 steps, so that the unregularized baseline overfits, passing its best validation
# loss before the end, as the paper-scale runs do (shakespeare_char about 80 epochs,
# enwik8 about 9); otherwise no regularizer would have anything to fix. Chapter 1 shows
# where the baselines' best validation loss falls.
_CPU_COMMON: dict[str, Any] = dict(
    n_layer=4,
    n_head=4,
    n_embd=128,  # 0.8M parameters
    block_size=64,  # a quarter of the paper's context: half the cost per step of 128
    dropout=0.0,  # the baseline is unregularized; chapters vary the regularizers
    weight_decay=0.0,
    beta2=0.99,
    grad_clip=1.0,
    batch_size=16,
    learning_rate=2e-3,
    min_lr=2e-4,  # a small model tolerates a larger step
    max_iters=600,
    lr_decay_iters=600,
    warmup_iters=50,
    eval_interval=50,
    eval_iters=20,  # 20 x 16 x 64 = 20,480 characters per estimate
)
_CPU: dict[str, dict[str, Any]] = {
    "shakespeare_char": dict(_CPU_COMMON, train_chars=15_000),
    # the first 3,000,000 bytes (inside the shipped excerpts): 150,000 characters each
    # of val and test; training on the first 15,000 of the 2.7M train characters
    "enwik8": dict(_CPU_COMMON, data_bytes=3_000_000, train_chars=15_000),
    "text8": dict(_CPU_COMMON, data_bytes=3_000_000, train_chars=15_000),
}

# The second, larger CPU regime: the cpu model on the whole training split of the same
# text (1.0M characters of shakespeare_char, 2.7M of the enwik8 and text8 prefixes) for
# four times the steps, so that its baselines are still learning at the end instead of
# memorizing, as the reviews describe the paper's enwik8 and text8 curves. Its calibration
# (grids/calibrate_cpu_long.yaml, shown in the setup chapter) tried more text, more
# steps, a longer context, a larger batch, a wider and a narrower model on
# shakespeare_char; this shape had the lowest validation loss (1.69 nats/char) of those
# under about 5 minutes a run on one core with two runs at once (4.5 minutes measured).
_CPU_LONG_COMMON: dict[str, Any] = dict(
    _CPU_COMMON,
    train_chars=None,
    max_iters=2400,
    lr_decay_iters=2400,
    warmup_iters=100,
    eval_interval=100,
)
_CPU_LONG: dict[str, dict[str, Any]] = {
    "shakespeare_char": dict(_CPU_LONG_COMMON),
    "enwik8": dict(_CPU_LONG_COMMON, data_bytes=3_000_000),  # the cpu profile's prefix
    "text8": dict(_CPU_LONG_COMMON, data_bytes=3_000_000),
}

# Seconds per run, for tests and CI: a tiny model and a few steps.
_SMOKE_COMMON: dict[str, Any] = dict(
    n_layer=2,
    n_head=2,
    n_embd=32,
    block_size=32,
    dropout=0.0,
    weight_decay=0.0,
    batch_size=8,
    learning_rate=3e-3,
    min_lr=3e-4,
    max_iters=20,
    lr_decay_iters=20,
    warmup_iters=2,
    eval_interval=10,
    eval_iters=2,
)
_SMOKE: dict[str, dict[str, Any]] = {
    "shakespeare_char": dict(_SMOKE_COMMON, train_chars=20_000),
    "enwik8": dict(_SMOKE_COMMON, data_bytes=3_000_000),  # the cpu prefix: prepared once
    "text8": dict(_SMOKE_COMMON, data_bytes=3_000_000),
}

_PROFILE_SETTINGS = {"smoke": _SMOKE, "cpu": _CPU, "cpu-long": _CPU_LONG, "paper": _PAPER}


def data_sizes(profile: str) -> dict[str, int | None]:
    """Each dataset's bytes of text that ``profile`` uses (None: the whole text)."""
    return {name: profile_config(name, profile).data_bytes for name in DATASETS}


def profile_config(dataset: str, profile: str, seed: int = 0) -> RunConfig:
    """The profile's settings for ``dataset``: the baseline, without noise."""
    if profile not in _PROFILE_SETTINGS:
        raise GniError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if dataset not in DATASETS:
        raise GniError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return RunConfig(
        dataset=dataset, profile=profile, seed=seed, **_PROFILE_SETTINGS[profile][dataset]
    )


def parse_value(name: str, text: str) -> Any:
    """Parse the text of ``--set name=text`` by the field's type."""
    if name not in FIELDS:
        raise GniError(f"unknown config field {name!r}; valid fields: {', '.join(FIELDS)}")
    allowed = _allowed_types(name)
    if text.lower() == "none" and type(None) in allowed:
        return None
    if dict in allowed:  # noise_args: key:value,key:value
        pairs = [p for p in text.split(",") if p.strip()]
        result = {}
        for pair in pairs:
            key, sep, value = pair.partition(":")
            if not sep:
                raise GniError(f"{name}={text!r}: expected key:value pairs separated by commas")
            if key.strip() in result:
                raise GniError(f"{name}={text!r}: {key.strip()!r} is given twice")
            result[key.strip()] = _parse_scalar(name, value.strip(), float)
        return result
    for t in allowed:
        if t is not type(None):
            return _parse_scalar(name, text, t)
    raise AssertionError(name)  # every field has a non-None type


def _parse_scalar(name: str, text: str, t: type) -> Any:
    """``text`` as a ``t``. Integers are parsed exactly (as decimals, never through a
    float); ``1e3`` is accepted when it is a whole number of at most 100 digits."""
    from decimal import Decimal

    try:
        if t is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if t is int:
            value = Decimal(text)  # InvalidOperation (an ArithmeticError) if not a number
            if not value.is_finite() or value.adjusted() >= 100:
                raise ValueError  # inf, nan, or absurdly large
            if value != value.to_integral_value():
                raise ValueError
            return int(value)
        return t(text)
    except (ValueError, ArithmeticError):
        raise GniError(f"{name}={text!r} is not a valid {t.__name__}") from None


def make_config(
    dataset: str,
    profile: str = "cpu",
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """A profile's config with ``overrides`` applied; strings are parsed by field type."""
    config = profile_config(dataset, profile, seed)
    values = {}
    for name, value in (overrides or {}).items():
        values[name] = parse_value(name, value) if isinstance(value, str) else value
        if name not in FIELDS:
            raise GniError(f"unknown config field {name!r}; valid fields: {', '.join(FIELDS)}")
    if {"dataset", "profile", "seed"} & set(values):
        raise GniError(
            "dataset, profile and seed are chosen by their own arguments (--dataset, --profile, "
            "--seed; a grid's seeds), not overrides"
        )
    return dataclasses.replace(config, **values)
