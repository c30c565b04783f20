"""train(config): one training run of the paper's template, recorded in the results store.

The loop is the AI Scientist nanoGPT template's: at every step ``it = 0 .. max_iters``
(``max_iters + 1`` steps, as the template takes), first an evaluation when ``it`` is a
multiple of ``eval_interval`` (``eval_iters`` batches of train and val, eval mode), then
one update: linear warmup ``lr * it / warmup_iters`` (zero at step 0), cosine decay to
``min_lr`` at ``lr_decay_iters``; AdamW with decay on >=2-d tensors (or SGD with
momentum); global gradient clipping; gradient noise before or after clipping, from
``gni.noise.GradientNoise`` (``noise_impl="separate"``) or fused into the update by
``gni.optim.NoisyAdamW`` (``"fused"``). At the end, the loss on the whole val and test
splits. Losses are nats per character; bpc = loss / ln 2.

The record keeps both training losses: ``final_train_loss_eval``, the mean over the
fixed train batches of the last evaluation in eval mode (dropout off), and
``final_train_loss_minibatch``, the loss of the last step's minibatch in train mode
(dropout on), which is what the template reports as ``final_train_loss``.

Randomness comes from separate streams derived from the seed: model init, training
batches, dropout (torch's global generator), noise, and evaluation batches (the same
batches at every evaluation). A baseline run and a noisy run with the same seed
therefore start from the same weights and see the same batches.

The curves also report, per evaluation interval, the mean gradient norm before
clipping, the fraction of steps that clipping changed, the mean norm of what the
optimizer receives (after noise and clipping) and the noise-to-gradient norm ratio;
with ``diagnostics=True`` they add the measurements of :mod:`gni.diagnostics`, which do
not change training.

Checkpoints (every ``checkpoint_interval`` steps, at evaluation points) hold the
model, the optimizer, the noise state, every generator state and the curves so far;
a run resumed from one continues bit for bit on CPU. Checkpoints load with
``torch.load(weights_only=True)``; one that cannot be loaded (truncated, not a
checkpoint, holding objects other than tensors and plain containers, another run's) is
moved aside to ``resume.pt.broken`` with one warning line, and the run starts from step
0. A non-finite loss stops the run and records it with status ``diverged``.

Before building the model, a run that cannot fit in memory (:mod:`gni.resources`)
or whose results store or checkpoint folder cannot take what it will write
fails with a GniError, instead of failing after training.

On the CPU, a run measured to need more than an hour prints one warning line on stderr
within its first few batches (:class:`gni.resources.CpuTimeCheck`).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import re
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from gni import GniError, paths
from gni.atomic import atomic_file
from gni.config import RunConfig
from gni.data import TokenData
from gni.diagnostics import UpdateProbe
from gni.model import GPT, GPTConfig, count_parameters
from gni.noise import GradientNoise
from gni.optim import NoisyAdamW, decay_param_groups
from gni.recipe import provenance
from gni.resources import CpuTimeCheck, check_fits, check_room, n_parameters
from gni.results import ResultsStore
from gni.schedules import make_schedule

LN2 = math.log(2.0)


@dataclass
class RunResult:
    run_id: str
    path: Path  # the record's folder; the checkpoint when stopped early
    summary: dict[str, Any]  # status "stopped" (with iters_done) when stopped early
    curves: pd.DataFrame
    reused: bool  # True when the record existed and nothing was trained
    # why it was reused when this call meant to train: "waited" (another process trained
    # the run while this one waited for it), "lost race" (both trained; the other's
    # record was written first and this one's discarded), or None
    reused_because: str | None = None

    @property
    def status(self) -> str:
        return self.summary["status"]


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one named random stream of a run (init, batches, dropout, ...)."""
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _generator(seed: int, stream: str, device: str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(seed, stream))
    return g


def lr_at(config: RunConfig, it: int) -> float:
    """Learning rate of step ``it`` (from 0), the template's ``get_lr``: linear warmup from
    zero, ``lr * it / warmup_iters``, then cosine decay to ``min_lr`` at ``lr_decay_iters``,
    then ``min_lr``."""
    c = config
    if it < c.warmup_iters:
        return c.learning_rate * it / c.warmup_iters
    if it > c.lr_decay_iters:
        return c.min_lr
    progress = (it - c.warmup_iters) / max(1, c.lr_decay_iters - c.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))
    return c.min_lr + coeff * (c.learning_rate - c.min_lr)


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise GniError(f"device={device!r}; allowed: auto, cpu, cuda, cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GniError(f"device={device!r} but CUDA is not available here; use cpu")
    return device


def build_model(config: RunConfig, vocab_size: int, device: str = "cpu") -> GPT:
    """The run's model with its initial weights (drawn on CPU, so identical on any device)."""
    gpt = GPTConfig(
        vocab_size=vocab_size,
        block_size=config.block_size,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=config.n_embd,
        dropout=config.dropout,
        bias=config.bias,
    )
    return GPT(gpt, generator=_generator(config.seed, "init")).to(device)


def build_optimizer(
    config: RunConfig, model: GPT, device: str, schedule: Callable[[int], float]
) -> torch.optim.Optimizer:
    """AdamW (torch's, or NoisyAdamW drawing ``schedule``'s noise when the noise is fused
    into it) or SGD with momentum."""
    c = config
    groups = decay_param_groups(model, c.weight_decay)
    if c.noise_impl == "fused":
        return NoisyAdamW(
            groups,
            lr=c.learning_rate,
            betas=(c.beta1, c.beta2),
            schedule=schedule,
            seed=stream_seed(c.seed, "noise"),
            scale=c.noise_scale,
            kind=c.noise_kind,
        )
    if c.optimizer == "adamw":
        return torch.optim.AdamW(
            groups, lr=c.learning_rate, betas=(c.beta1, c.beta2), fused=device.startswith("cuda")
        )
    return torch.optim.SGD(groups, lr=c.learning_rate, momentum=c.momentum)


def build_noise(
    config: RunConfig, optimizer: torch.optim.Optimizer, schedule: Callable[[int], float]
) -> GradientNoise | None:
    """The separate noise transform of ``schedule``, or None when the optimizer draws the
    noise itself.

    It visits the parameters in the optimizer's order (matrices, then the rest), as
    NoisyAdamW does, so both draw the same noise for the same parameter.
    """
    if config.noise_impl == "fused":
        return None
    return GradientNoise(
        [p for group in optimizer.param_groups for p in group["params"]],
        schedule,
        seed=stream_seed(config.seed, "noise"),
        scale=config.noise_scale,
        kind=config.noise_kind,
    )


def _empty_interval() -> dict[str, float]:
    """The sums over steps between evaluations that the curves report as means."""
    return {
        "grad_norm": 0.0,  # the gradient's norm before clipping
        "noise_ratio": 0.0,  # ||noise|| / ||the gradient it is added to||
        "clipped": 0,  # steps whose clipping changed the gradient
        "update_grad_norm": 0.0,  # ||what the optimizer receives|| (NaN: noise inside it)
        "steps": 0,
    }


class Run:
    """The mutable state of one run between steps: what a checkpoint holds."""

    def __init__(self, config: RunConfig, data: TokenData, device: str) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.model = build_model(config, data.vocab_size, device)
        self.sigma = make_schedule(config.noise_schedule, **config.noise_args)  # built once
        self.optimizer = build_optimizer(config, self.model, device, self.sigma)
        self.noise = build_noise(config, self.optimizer, self.sigma)
        named = list(self.model.named_parameters())
        self.probe = UpdateProbe(named) if config.diagnostics else None
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.batches = _generator(config.seed, "batches")
        torch.manual_seed(stream_seed(config.seed, "dropout"))  # dropout draws from here
        self.iter = 0
        self.rows: list[dict[str, Any]] = []
        # accumulated since the last evaluation
        self.interval = _empty_interval()
        self.train_seconds = 0.0
        self.tokens = 0
        self.last_loss = math.nan  # the last step's minibatch loss, train mode
        self.started = time.perf_counter()  # wall clock origin (earlier sessions included)
        # the evaluation with the lowest val estimate so far, with its weights (what early
        # stopping would keep): {"iter", "val_loss", "model"}; "model" is None when the
        # run resumed from a checkpoint that predates it
        self.best: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.config.run_id,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "noise": None if self.noise is None else self.noise.state_dict(),
            "batches": self.batches.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "iter": self.iter,
            "rows": self.rows,
            "interval": self.interval,
            "train_seconds": self.train_seconds,
            "tokens": self.tokens,
            "last_loss": self.last_loss,
            "probe": None if self.probe is None else self.probe.state_dict(),
            "best": self.best,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["run_id"] != self.config.run_id:
            raise GniError(f"checkpoint belongs to run {state['run_id']}, not {self.config.run_id}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.noise is not None:
            self.noise.load_state_dict(state["noise"])
        self.batches.set_state(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.iter = state["iter"]
        self.rows = state["rows"]
        self.best = state.get("best", _best_without_weights(self.rows))
        self.interval = {**_empty_interval(), **state["interval"]}
        self.train_seconds = state["train_seconds"]
        self.tokens = state["tokens"]
        self.last_loss = state["last_loss"]
        if self.probe is not None and state.get("probe") is not None:
            self.probe.load_state_dict(state["probe"])

    def _autocast(self) -> Any:
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        return torch.autocast(
            device_type=torch.device(self.device).type,
            dtype=dtype,
            enabled=self.device.startswith("cuda"),
        )

    def train_step(self) -> float:
        """One optimizer step; returns the training batch's loss."""
        c = self.config
        lr = lr_at(c, self.iter)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.data.get_batch("train", c.batch_size, c.block_size, self.batches, self.device)
        with self._autocast():
            _, loss = self.model(x, y, label_smoothing=c.label_smoothing)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            return loss_value
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = c.grad_clip if c.grad_clip > 0 else math.inf
        if c.noise_placement == "pre_clip":
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params]).item()
            noised_norm = grad_norm
            if self.probe is not None:
                self.probe.before_noise()
            self.noise.step()
            clipped_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()  # g + noise
        else:
            grad_norm = clipped_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
            noised_norm = min(grad_norm, max_norm)
            if self.probe is not None:
                self.probe.before_noise()
            if self.noise is not None:
                self.noise.step()
        # what the optimizer receives (the fused noise is added inside it: not measured)
        handed = (
            torch.nn.utils.get_total_norm([p.grad for p in params]).item()
            if self.noise is not None
            else math.nan
        )
        self.optimizer.step()
        if self.probe is not None:
            self.probe.after_step(self.noise_std())
        self.optimizer.zero_grad(set_to_none=True)
        self.interval["grad_norm"] += grad_norm
        self.interval["noise_ratio"] += self.noise_ratio(noised_norm)
        self.interval["clipped"] += clipped_norm > max_norm
        self.interval["update_grad_norm"] += handed
        self.interval["steps"] += 1
        self.iter += 1
        self.tokens += x.numel()
        self.last_loss = loss_value
        return loss_value

    def noise_std(self) -> torch.Tensor | float:
        """The per-entry std of the last step's noise (``last_std`` of the noise transform,
        or of the optimizer when the noise is fused into it)."""
        return (self.noise if self.noise is not None else self.optimizer).last_std

    def noise_ratio(self, noised_norm: float) -> float:
        """||noise|| / ||the gradient it was added to|| at this step.

        ||noise|| = std * sqrt(n), exact in expectation (off by about 1 / sqrt(2n) for one
        draw), so no pass over memory is spent on it. With the relative scale the ratio is
        sigma_t by construction, read from the schedule so that nothing waits for the
        device (the std is then a tensor on it).
        """
        if self.config.noise_scale == "relative":
            return self.sigma(self.iter)
        return float(self.noise_std()) * math.sqrt(self.n_params) / max(noised_norm, 1e-30)

    @torch.no_grad()
    def estimate_loss(self, split: str, on_batch: Callable[[float], None] | None = None) -> float:
        """Mean loss over ``eval_iters`` batches, the same batches at every evaluation.

        ``on_batch`` receives the seconds each batch took (batch and forward pass).
        """
        c = self.config
        generator = _generator(c.seed, f"eval/{split}")
        self.model.eval()
        total = 0.0
        for _ in range(c.eval_iters):
            t0 = time.perf_counter()
            x, y = self.data.get_batch(split, c.batch_size, c.block_size, generator, self.device)
            with self._autocast():
                _, loss = self.model(x, y)
            total += loss.item()
            if on_batch is not None:
                on_batch(time.perf_counter() - t0)
        self.model.train()
        return total / c.eval_iters

    @torch.no_grad()
    def split_loss_at_best(self, split: str) -> float | None:
        """:meth:`split_loss` with the weights of the best evaluation (:attr:`best`), then
        the current weights back; None when those weights are not known."""
        if self.best is None or self.best["model"] is None:
            return None
        current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.best["model"])
        try:
            return self.split_loss(split)
        finally:
            self.model.load_state_dict(current)

    @torch.no_grad()
    def split_loss(self, split: str) -> float:
        """Mean loss over every character of the split (non-overlapping windows)."""
        c = self.config
        self.model.eval()
        total, count = 0.0, 0
        for x, y in self.data.sequential_batches(split, c.batch_size, c.block_size):
            with self._autocast():
                _, loss = self.model(x.to(self.device), y.to(self.device))
            total += loss.item() * y.numel()
            count += y.numel()
        self.model.train()
        return total / count

    def evaluate(
        self, wall_seconds: float, on_batch: Callable[[float], None] | None = None
    ) -> dict[str, Any]:
        """Record a row of the curves; ``on_batch`` as in :meth:`estimate_loss`."""
        steps = self.interval["steps"]
        row = {
            "iter": self.iter,
            "train_loss": self.estimate_loss("train", on_batch),
            "val_loss": self.estimate_loss("val", on_batch),
            "lr": lr_at(self.config, self.iter),
            "sigma": self.sigma(self.iter),
            "grad_norm": self.interval["grad_norm"] / steps if steps else math.nan,
            "noise_ratio": self.interval["noise_ratio"] / steps if steps else math.nan,
            "clipped_fraction": self.interval["clipped"] / steps if steps else math.nan,
            "update_grad_norm": self.interval["update_grad_norm"] / steps if steps else math.nan,
            "tokens": self.tokens,
            "wall_s": wall_seconds,
        }
        if self.probe is not None:
            row.update(self.probe.row(self.optimizer))
        if math.isfinite(row["val_loss"]) and (
            self.best is None or row["val_loss"] < self.best["val_loss"]
        ):
            weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best = {"iter": self.iter, "val_loss": row["val_loss"], "model": weights}
        self.rows.append(row)
        self.interval = _empty_interval()
        return row


def _save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file; one GniError naming ``path`` (and the
    room left) when it cannot be written, a disk that filled up during the run say."""
    try:
        with atomic_file(path) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as e:  # torch reports a full disk as a RuntimeError
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        try:
            free = f"{shutil.disk_usage(path.parent).free:,} bytes free"
        except OSError:
            free = "its folder cannot be read"
        raise GniError(
            f"{path}: cannot be written ({reason}; {free}); free some space, or set "
            "GNI_CHECKPOINT_DIR to a folder with room, and run again to resume"
        ) from None


def _peak_memory_mb(device: str) -> tuple[float, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    # ru_maxrss is in KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if platform.system() == "Darwin" else 2**10), "process_peak_rss"


def _none_if_nan(value: float) -> float | None:
    return value if math.isfinite(value) else None


def train(
    config: RunConfig,
    *,
    store: ResultsStore | None = None,
    device: str = "auto",
    checkpoint_interval: int | None = None,
    stop_at: int | None = None,
    progress: bool | None = None,
) -> RunResult:
    """Train one run and write its record; reuse the record if the store has it.

    Args:
        config: the run's settings.
        store: the results store (default: ``gni.paths.results_dir()``).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        checkpoint_interval: steps between checkpoints, rounded up to an evaluation
            point (default: every evaluation; 0: none). A run with a checkpoint resumes.
        stop_at: stop before step ``stop_at`` (after ``stop_at`` updates) and leave a
            checkpoint without writing the record (for preemptible jobs); the result's
            status is then ``stopped``.
        progress: show a progress bar (default: when stderr is a terminal).
    """
    device = resolve_device(device)  # a device that cannot be is an error, reused or not
    store = store or ResultsStore()
    if checkpoint_interval is not None and checkpoint_interval < 0:
        raise GniError(f"checkpoint_interval={checkpoint_interval}; allowed: None or >= 0")
    if store.has(config.run_id):
        return _stored(store, config.run_id)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    data.check_block_size(config.block_size)
    check_fits(config, data.vocab_size, device)
    check_room(store, paths.checkpoint_dir(), n_parameters(config, data.vocab_size))
    # checked before the lock: a run refused at once leaves nothing behind
    with _training_lock(paths.checkpoint_dir() / config.run_id / ".lock") as waited:
        if waited and store.has(config.run_id):  # trained by the process we waited for
            return _stored(store, config.run_id, because="waited")
        return _train(config, data, store, device, checkpoint_interval, stop_at, progress)


@contextlib.contextmanager
def _training_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` while a run trains (``flock``: released when
    the process ends, however it ends); yields whether another process held it first,
    so that two identical ``gni train`` train the run once. Where there is no ``flock``
    (Windows) or the file cannot be locked, the run goes on unlocked."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held open for as long as the lock
    except (ImportError, OSError):
        yield False
        return
    with handle:
        waited = False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            tqdm.write(
                f"gni: run {path.parent.name} is being trained by another process; waiting "
                "for its record",
                file=sys.stderr,
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: go on unlocked
            yield False
            return
        yield waited


def _train(
    config: RunConfig,
    data: TokenData,
    store: ResultsStore,
    device: str,
    checkpoint_interval: int | None,
    stop_at: int | None,
    progress: bool | None,
) -> RunResult:
    """:func:`train` for a run the store lacks, checked, under its lock."""
    checkpoint = paths.checkpoint_dir() / config.run_id / "resume.pt"
    run = _resume(config, data, device, checkpoint)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    every = config.eval_interval if checkpoint_interval is None else checkpoint_interval
    status = _loop(run, checkpoint, every, stop_at, progress)
    if status == "stopped":
        _save_atomic(run.state_dict(), checkpoint)
        summary = {"run_id": config.run_id, "status": status, "iters_done": run.iter}
        return RunResult(config.run_id, checkpoint, summary, pd.DataFrame(run.rows), False)
    return _finish(run, status, store, checkpoint)


def load_error(error: BaseException) -> str:
    """Why a checkpoint could not be loaded, in one line: the first sentence of the
    message (torch's advice to load the file unsafely follows it, and is left out)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"{type(error).__name__}: refused by torch.load(weights_only=True): "
            f"it needs {found.group(1)}"
        )
    lines = text.split("WeightsUnpickler error:")[-1].strip().splitlines()
    first = lines[0].split(". ")[0].strip().rstrip(".") if lines else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _resume(config: RunConfig, data: TokenData, device: str, checkpoint: Path) -> Run:
    """A new run, or the one that ``checkpoint`` holds.

    A checkpoint that cannot be loaded (truncated, not a checkpoint, holding more than
    tensors and plain containers, another run's) is moved aside to ``resume.pt.broken``
    with one warning line naming it, and the run starts from step 0.
    """
    run = Run(config, data, device)
    if not checkpoint.is_file():
        return run
    try:
        run.load_state_dict(torch.load(checkpoint, map_location=device, weights_only=True))
        return run
    except (MemoryError, torch.OutOfMemoryError):  # the machine's trouble, not the file's
        raise
    except OSError as e:  # unreadable here (permissions, I/O error): not known to be broken
        raise GniError(f"{checkpoint}: cannot be read ({e.strerror or e})") from None
    except Exception as e:  # whatever is wrong with the file, the run must not stick on it
        reason = load_error(e)
    aside = checkpoint.with_name(checkpoint.name + ".broken")
    try:
        os.replace(checkpoint, aside)
    except OSError as e:
        raise GniError(
            f"{checkpoint} cannot be loaded ({reason}) nor moved aside ({e.strerror or e}); "
            "delete it to start the run again"
        ) from None
    print(
        f"gni: warning: {checkpoint} cannot be loaded ({reason}); moved to {aside.name}, "
        "the run starts again from step 0",
        file=sys.stderr,
        flush=True,
    )
    return Run(config, data, device)  # fresh: a failed load may have changed some state


def _loop(
    run: Run, checkpoint: Path, checkpoint_interval: int, stop_at: int | None, progress: bool | None
) -> str:
    """Steps 0 .. max_iters as in the template; returns ok, diverged or stopped."""
    c = run.config
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(
        total=c.max_iters + 1,
        initial=run.iter,
        disable=not show,
        desc=c.run_id,
        unit="it",
        dynamic_ncols=True,
    )
    clock = CpuTimeCheck(c, run.iter) if run.device == "cpu" else None
    run.started = time.perf_counter() - (run.rows[-1]["wall_s"] if run.rows else 0.0)
    last_checkpoint = run.iter
    with bar:
        while True:
            due = run.iter % c.eval_interval == 0 or run.iter == c.max_iters
            if due and not (run.rows and run.rows[-1]["iter"] == run.iter):
                on_batch = clock.eval_batch if clock is not None and not run.rows else None
                row = run.evaluate(time.perf_counter() - run.started, on_batch)
                if not (math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])):
                    return "diverged"
                if checkpoint_interval and run.iter - last_checkpoint >= checkpoint_interval:
                    _save_atomic(run.state_dict(), checkpoint)
                    last_checkpoint = run.iter
            if stop_at is not None and run.iter >= stop_at:
                return "stopped"
            t0 = time.perf_counter()
            loss = run.train_step()
            if not math.isfinite(loss):
                return "diverged"
            seconds = time.perf_counter() - t0
            run.train_seconds += seconds
            if clock is not None:
                clock.step(seconds, run.iter)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{run.tokens / run.train_seconds:,.0f}")
            if run.iter > c.max_iters:
                return "ok"


def _finish(run: Run, status: str, store: ResultsStore, checkpoint: Path) -> RunResult:
    """Evaluate the whole val and test splits, write the record, keep the final weights."""
    config, data = run.config, run.data
    curves = pd.DataFrame(run.rows)
    final: dict[str, float | None] = {"val": None, "test": None, "test_at_best": None}
    if status == "ok":
        for split in ("val", "test"):
            if split in data.splits:
                final[split] = run.split_loss(split)
        if "test" in data.splits:
            final["test_at_best"] = run.split_loss_at_best("test")
    summary = {
        "run_id": config.run_id,
        "status": status,
        "iters_done": run.iter,
        **_losses(curves, run.last_loss if status == "ok" else math.nan, final),
        **_costs(run),
        **provenance(),
    }
    if status == "ok":  # the final weights before the record: a record always has them
        weights = {"config": config.to_dict(), "vocab": data.vocab, "model": run.model.state_dict()}
        _save_atomic(weights, paths.checkpoint_dir() / config.run_id / "model.pt")
    path, kept = store.write(config, curves, summary)
    checkpoint.unlink(missing_ok=True)
    if not kept:  # another process wrote this run first: use its record
        return _stored(store, config.run_id, because="lost race")
    return RunResult(config.run_id, path, summary, curves, reused=False)


def _best_without_weights(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best evaluation of ``rows`` (a checkpoint made before runs kept their best
    weights): its step and val estimate, weights unknown."""
    finite = [r for r in rows if math.isfinite(r["val_loss"])]
    if not finite:
        return None
    row = min(finite, key=lambda r: r["val_loss"])  # the first of equal minima
    return {"iter": row["iter"], "val_loss": row["val_loss"], "model": None}


def _stored(store: ResultsStore, run_id: str, because: str | None = None) -> RunResult:
    """The store's record of ``run_id`` (reused: nothing was trained into it here)."""
    summary, curves = store.read_summary(run_id), store.read_curves(run_id)
    return RunResult(run_id, store.path(run_id), summary, curves, True, because)


def _losses(
    curves: pd.DataFrame, last_minibatch: float, final: dict[str, float | None]
) -> dict[str, Any]:
    best = curves["val_loss"].idxmin() if curves["val_loss"].notna().any() else None
    return {
        "final_train_loss_eval": _none_if_nan(curves["train_loss"].iloc[-1]),
        "final_train_loss_minibatch": _none_if_nan(last_minibatch),
        "best_val_loss": None if best is None else float(curves["val_loss"][best]),
        "best_val_iter": None if best is None else int(curves["iter"][best]),
        "final_val_loss": final["val"],
        "final_val_bpc": None if final["val"] is None else final["val"] / LN2,
        "final_test_loss": final["test"],
        "final_test_bpc": None if final["test"] is None else final["test"] / LN2,
        # whole test split, weights of the best val evaluation: early stopping's report
        "test_loss_at_best_val": final["test_at_best"],
    }


def _costs(run: Run) -> dict[str, Any]:
    peak_mb, peak_kind = _peak_memory_mb(run.device)
    return {
        "tokens_per_s": run.tokens / run.train_seconds if run.train_seconds else None,
        "train_seconds": run.train_seconds,
        "wall_seconds": time.perf_counter() - run.started,
        "peak_memory_mb": peak_mb,
        "peak_memory_kind": peak_kind,
        "n_params": count_parameters(run.model),
        "vocab_size": run.data.vocab_size,
        "device": run.device,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
