"""What does not train does not import torch (issue 9): loading results, the CLI's help,
``gni data info`` and ``gni data prepare`` start in a fraction of torch's start-up.

Each check runs in a fresh interpreter, since this test session has imported torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

NO_TORCH_MODULES = (
    "gni.results",
    "gni.config",
    "gni.data",
    "gni.stats",
    "gni.ngram",
    "gni.tables",
    "gni.parameters",
    "gni.book",
    "gni.cli",
)


def modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; what it printed and the torch modules it loaded."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json as _json, sys as _sys
        print(_json.dumps(sorted(m for m in _sys.modules if m.split(".")[0] == "torch")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    *printed, last = out.stdout.splitlines()
    return {"stdout": "\n".join(printed), "torch": json.loads(last)}


def test_the_check_sees_torch_when_it_is_imported():
    assert "torch" in modules_after("import gni.train")["torch"]


def test_importing_what_does_not_train_leaves_torch_out():
    found = modules_after(f"import {', '.join(NO_TORCH_MODULES)}")
    assert found["torch"] == []


def test_cli_help_leaves_torch_out():
    found = modules_after(
        """
        import gni.cli
        parser = gni.cli.build_parser()
        for argv in (["--help"], ["data", "--help"], ["train", "--help"], ["sweep", "--help"]):
            try:
                parser.parse_args(argv)
            except SystemExit as e:
                assert e.code == 0, argv
        args = parser.parse_args(["train", "--dataset", "text8", "--set", "dropout=0.1"])
        assert args.func.__name__ == "_cmd_train"
        """
    )
    assert "usage: gni" in found["stdout"] and "usage: gni train" in found["stdout"]
    assert found["torch"] == []


def test_data_info_and_prepare_leave_torch_out():
    found = modules_after(
        """
        import gni.cli
        assert gni.cli.main(["data", "info"]) == 0
        assert gni.cli.main(
            ["data", "prepare", "--dataset", "shakespeare_char", "--profile", "smoke"]
        ) == 0
        """
    )
    assert "shakespeare_char: prepared in" in found["stdout"]
    assert "data folder:" in found["stdout"]
    assert found["torch"] == []


def test_python_m_gni_help_imports_no_torch():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gni", "--help"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert out.returncode == 0 and out.stdout.startswith("usage: gni")
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()]
    assert "gni.cli" in imported  # -X importtime did report the imports
    assert not [m for m in imported if m.split(".")[0] == "torch"]
