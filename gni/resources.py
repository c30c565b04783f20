"""What a run needs: memory for the model, room on disk for its files, and time.

The trainer checks memory and disk before it builds anything (:func:`check_fits`,
:func:`check_room`), so a run that cannot succeed fails at once, naming the estimate and
what is available, rather than after minutes of allocation or of training. On the CPU,
:class:`CpuTimeCheck` times the first batches and steps and warns once when the run
will take more than :data:`WARN_SECONDS`, with what a GPU would take (:func:`gpu_advice`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

from gni import GniError
from gni.config import RunConfig
from gni.results import ResultsStore

STATE_BYTES = 20  # per parameter: fp32 weights, gradients, 2 AdamW moments, 1 noise buffer
ACTIVATION_VALUES = 20  # fp32 values kept for backward per token, layer and channel
RECORD_BYTES = 1 << 20  # a run's record (config, curves, summary), with room to spare
CHECKPOINT_MARGIN = 16 << 20  # beyond the tensors: curves, generator states, pickle framing
WARN_SECONDS = 3600.0  # a CPU run measured to need longer than this gets a warning
TIMED = 3  # steps (and forward passes) timed for that estimate, after one to warm up


def n_parameters(config: RunConfig, vocab_size: int) -> int:
    """The number of parameters of the run's GPT, exactly as :class:`gni.model.GPT` builds it.

    Per layer 12 n_embd^2 (attention 4, MLP 8) plus two LayerNorms (and 11 n_embd of
    biases with ``bias``); the token embedding, tied to the head, counted once; the
    position embedding; the final LayerNorm.
    """
    C = config.n_embd
    per_layer = 12 * C * C + 2 * C + (11 * C if config.bias else 0)
    final_norm = 2 * C if config.bias else C
    return (vocab_size + config.block_size) * C + config.n_layer * per_layer + final_norm


def training_memory(config: RunConfig, vocab_size: int) -> tuple[int, int]:
    """Estimated bytes to train the run: (state, activations).

    state = ``STATE_BYTES`` (20) x parameters: fp32 weights, gradients, AdamW's two
    moments and one more copy (the flat noise buffer, or the optimizer's temporaries).
    activations = 4 bytes x batch_size x block_size x (n_layer x (``ACTIVATION_VALUES``
    x n_embd + n_head x block_size) + 3 x vocab_size): per token and layer the ~20
    n_embd values the backward pass keeps (LayerNorm inputs, q, k, v, attention output,
    the MLP's 4 n_embd twice, ...) and one row of attention weights per head; per token
    the logits, their softmax and gradient. An overestimate under CUDA's bf16 autocast.
    """
    c = config
    state = STATE_BYTES * n_parameters(c, vocab_size)
    per_token = c.n_layer * (ACTIVATION_VALUES * c.n_embd + c.n_head * c.block_size)
    activations = 4 * c.batch_size * c.block_size * (per_token + 3 * vocab_size)
    return state, activations


def available_memory(device: str) -> tuple[int, str] | None:
    """Bytes a run can use on ``device`` and what they are, or None when unknown.

    CUDA: the device's free memory (torch.cuda.mem_get_info) plus what this process's
    allocator holds unused. CPU: the memory available now (Linux's MemAvailable, what
    can be given to processes without swapping), or what the control group (a
    container's limit) leaves, whichever is smaller; elsewhere the physical memory.
    """
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + cached, f"free memory on {device}"
    found = [m for m in (_mem_available(), _cgroup_room(), _address_space_room()) if m]
    if found:
        return min(found)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "physical memory"
    except (AttributeError, ValueError, OSError):  # no sysconf, or no such name here
        return None


def _mem_available() -> tuple[int, str] | None:
    """Linux's MemAvailable (/proc/meminfo), in bytes; None elsewhere."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "memory available"
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> tuple[int, str] | None:
    """What this process's control group, and each group above it, may still use (v2:
    memory.max - memory.current; v1: limit_in_bytes - usage_in_bytes), the least of
    them, in bytes; None without a limit. The groups are read from /proc/self/cgroup
    (a Slurm job's, a container's)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            base, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        folder = base / group.lstrip("/")
        for level in (folder, *folder.parents):
            if not level.is_relative_to(base):
                break
            try:
                text = (level / files[0]).read_text().strip()
                if text != "max" and int(text) < 2**60:  # v1 writes a huge number for none
                    rooms.append(int(text) - int((level / files[1]).read_text()))
            except (OSError, ValueError):
                continue
    return (min(rooms), "the control group's limit") if rooms else None


def _address_space_room() -> tuple[int, str] | None:
    """What ``ulimit -v`` (RLIMIT_AS) leaves this process, in bytes; None without one."""
    try:
        import resource

        limit, _ = resource.getrlimit(resource.RLIMIT_AS)
        if limit == resource.RLIM_INFINITY:
            return None
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return limit - int(line.split()[1]) * 1024, "the address-space limit (ulimit -v)"
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return None


def _size(n: int) -> str:
    """A number of bytes for people: bytes, MiB or GiB."""
    if n < 2**20:
        return f"{n:,} bytes"
    return f"{n / 2**20:,.1f} MiB" if n < 2**30 else f"{n / 2**30:,.1f} GiB"


def check_fits(config: RunConfig, vocab_size: int, device: str) -> None:
    """Raise GniError, before anything is allocated, when the run cannot fit in memory."""
    state, activations = training_memory(config, vocab_size)
    available = available_memory(device)
    if available is None or state + activations <= available[0]:
        return
    c = config
    raise GniError(
        f"this run needs an estimated {_size(state + activations)} of memory to train "
        f"({n_parameters(c, vocab_size):,} parameters: {_size(state)} for weights, gradients "
        f"and optimizer state; {_size(activations)} of activations for batch_size="
        f"{c.batch_size}, block_size={c.block_size}, n_layer={c.n_layer}, n_embd={c.n_embd}), "
        f"but {device} has {_size(available[0])} ({available[1]}); make the model or the "
        "batch smaller (n_layer, n_embd, batch_size, block_size)"
    )


def _check_writable(folder: Path, variable: str) -> None:
    """Create (if needed) ``folder`` and write and remove a small file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".gni-write-check.")
        try:
            os.write(fd, bytes(4096))
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as e:
        raise GniError(
            f"{folder}: cannot write there ({e.strerror or e}), and this run writes to it: "
            f"make it writable, or set {variable} to a folder that is"
        ) from None


def check_room(store: ResultsStore, checkpoint_folder: Path, n_params: int) -> None:
    """Raise GniError, before training, when the results store or the checkpoint folder
    is not writable or has no room for what the run writes.

    The results store needs ``RECORD_BYTES``; the checkpoint folder two checkpoints
    (the atomic write keeps the old one until the new one is complete), each estimated
    at three times the fp32 weights (weights and AdamW's two moments) plus
    ``CHECKPOINT_MARGIN``. Folders on one file system need the sum. Free space is
    checked where ``shutil.disk_usage`` can tell.
    """
    checkpoint_bytes = 3 * 4 * n_params + CHECKPOINT_MARGIN
    needs = [
        (store.root, "GNI_RESULTS_DIR", RECORD_BYTES, "a record"),
        (checkpoint_folder, "GNI_CHECKPOINT_DIR", 2 * checkpoint_bytes, "two checkpoints"),
    ]
    room: dict[int, tuple[int, list[str]]] = {}  # file system -> bytes needed, for what
    for folder, variable, need, what in needs:
        _check_writable(folder, variable)
        total, whats = room.get(folder.stat().st_dev, (0, []))
        room[folder.stat().st_dev] = (total + need, [*whats, what])
    for folder, variable, _, _ in needs:
        need, whats = room[folder.stat().st_dev]
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue
        if free < need:
            raise GniError(
                f"{folder}: {_size(free)} free, but this run needs about {_size(need)} "
                f"there ({' and '.join(whats)}); free some space, or set {variable} to a "
                "folder with room"
            )


def evaluations_after(config: RunConfig, it: int) -> int:
    """Evaluations still to come after step ``it``: every ``eval_interval`` steps and at the end."""
    c = config
    last = 1 if c.max_iters % c.eval_interval else 0
    return c.max_iters // c.eval_interval - it // c.eval_interval + last


def gpu_advice(profile: str) -> str:
    """What training this profile on a CUDA GPU takes, given this machine's PyTorch."""
    if torch.cuda.is_available():
        how = "this machine has one: pass --device cuda (or auto)"
    elif torch.version.cuda is None:
        how = "install PyTorch's CUDA build (this one is CPU-only) and pass --device cuda (or auto)"
    else:
        how = "run it where PyTorch finds one (it finds none here), with --device cuda (or auto)"
    what = "the paper profile is meant for a CUDA GPU" if profile == "paper" else "on a CUDA GPU"
    return f"{what}: {how}"


class CpuTimeCheck:
    """Warns once, on stderr, when a CPU run is measured to need more than ``WARN_SECONDS``.

    The first evaluation's batches give a lower bound at once (a step costs more than
    the forward pass of its batch): the fastest of batches 2 to ``TIMED + 1``. The steps
    of this call then give an estimate: the median of steps 2 to ``TIMED + 1``. (The
    first batch and step warm up.) Each method takes the seconds one batch or step took.
    """

    def __init__(self, config: RunConfig, first_iter: int) -> None:
        self.config = config
        self.first_iter = first_iter  # the step this call of train() started from
        self.batch_seconds: list[float] = []
        self.step_seconds: list[float] = []
        self.warned = False

    def eval_batch(self, seconds: float) -> None:
        """Time one batch of the first evaluation (its forward pass), in seconds."""
        if len(self.batch_seconds) > TIMED:
            return
        self.batch_seconds.append(seconds)
        if len(self.batch_seconds) == TIMED + 1:
            c = self.config
            per_batch = min(self.batch_seconds[1:])
            steps = c.max_iters + 1 - self.first_iter  # the template's max_iters + 1 steps
            evals = evaluations_after(c, self.first_iter)
            self._warn(
                (steps + evals * 2 * c.eval_iters) * per_batch,
                "more than",
                f"{steps:,} steps and {evals:,} evaluations of {2 * c.eval_iters:,} batches, "
                f"each batch's forward pass measured at {per_batch:.3g} s and a step costing more",
            )

    def step(self, seconds: float, done: int) -> None:
        """Time the step that brought the run to ``done`` steps, in seconds."""
        if len(self.step_seconds) > TIMED:
            return
        self.step_seconds.append(seconds)
        if len(self.step_seconds) == TIMED + 1:
            c = self.config
            per_step = statistics.median(self.step_seconds[1:])
            steps, evals = c.max_iters + 1 - done, evaluations_after(c, done)
            if len(self.batch_seconds) > TIMED:
                per_eval = 2 * c.eval_iters * min(self.batch_seconds[1:])
                self._warn(
                    steps * per_step + evals * per_eval,
                    "about",
                    f"{steps:,} steps at {per_step:.3g} s/step and {evals:,} evaluations "
                    f"at {per_eval:.3g} s each, measured",
                )
            else:  # no first evaluation measured (a resumed run, or eval_iters=1)
                self._warn(
                    steps * per_step,
                    "more than",
                    f"{steps:,} steps at {per_step:.3g} s/step, measured; evaluations not counted",
                )

    def _warn(self, seconds: float, qualifier: str, basis: str) -> None:
        if self.warned or seconds <= WARN_SECONDS:
            return
        self.warned = True
        tqdm.write(
            f"gni: warning: on the CPU this run needs {qualifier} {seconds / 3600:,.1f} hours "
            f"({basis}); {gpu_advice(self.config.profile)}",
            file=sys.stderr,
        )
