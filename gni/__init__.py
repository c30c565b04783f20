"""gni: gradient noise injection for small character-level GPTs.

The method lives in :mod:`gni.schedules`, :mod:`gni.noise` and :mod:`gni.optim` and
imports nothing else of gni but :class:`GniError`, so it can be dropped into any PyTorch
training loop.
The rest (model, data, config, trainer, results store, CLI) reproduces the paper.
"""

from gni import paths

__version__ = "0.2.0"  # the package version (pyproject.toml reads it); see CHANGELOG.md

# Relative GNI_* paths are relative to where they were set: fix them before gni starts
# any process in another directory (papermill kernels, sweep workers).
paths.export_absolute()


class GniError(ValueError):
    """A user-facing error: bad input, missing data, or a broken file.

    The CLI prints its message on one line and exits non-zero; the message names the
    bad value and what is allowed.
    """
