"""The training recipe's version, and where a record came from.

A run's id covers ``VERSION`` (see :attr:`gni.config.RunConfig.run_id`), so when the
meaning of training changes, the version changes and old records are no longer reused.
``CODE_SHA256`` is the digest of the code that defines training (``TRAINING_CODE``);
a test recomputes it, so a change to that code fails the tests until someone decides:
bump ``VERSION`` (the change alters what a run computes) or only record the new digest
(it does not: a comment, a rename, an error message).

The digest is taken over each file's syntax tree without docstrings, so formatting and
comments do not change it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import subprocess
from pathlib import Path

from gni import __version__

__all__ = [
    "CODE_SHA256",
    "PACKAGE",
    "TRAINING_CODE",
    "VERSION",
    "code_digest",
    "provenance",
]

#: The recipe's version, in every run id. Version 2 added the template's warmup, its
#: max_iters + 1 steps and both train losses.
VERSION = 2
#: The digest of TRAINING_CODE that VERSION was last decided for (:func:`code_digest`).
CODE_SHA256 = "e0207ea9b4fdc3ca94da8e947b4dde2504e31ed9b65ebcb8b9c625c6939120fd"
#: The package's folder.
PACKAGE = Path(__file__).resolve().parent
#: The modules whose code defines what a run computes.
TRAINING_CODE = (
    "data.py",
    "model.py",
    "noise.py",
    "noise_options.py",
    "optim.py",
    "resources.py",
    "schedules.py",
    "train.py",
    "triton_adamw.py",
)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest() -> str:
    """sha256 of the training code's syntax trees (no comments, docstrings or layout)."""
    h = hashlib.sha256()
    for name in TRAINING_CODE:
        tree = _without_docstrings(ast.parse((PACKAGE / name).read_text()))
        h.update(name.encode() + b"\0" + ast.dump(tree).encode() + b"\0")
    return h.hexdigest()


@functools.cache
def provenance() -> dict[str, str | int | None]:
    """What made a record: the package version, the recipe version and the git commit.

    The commit is None outside a git checkout; it ends in ``+dirty`` when the package's
    files differ from that commit.
    """
    commit = None
    try:
        git = ["git", "-C", str(PACKAGE)]
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            commit = head.stdout.strip()
            status = subprocess.run(
                [*git, "status", "--porcelain", "--", str(PACKAGE)], capture_output=True, text=True
            )
            if status.stdout.strip():
                commit += "+dirty"
    except OSError:  # no git on this machine
        pass
    return {"gni_version": __version__, "recipe_version": VERSION, "git_commit": commit}
