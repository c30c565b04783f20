"""A record is never reused after the meaning of training changes."""

import dataclasses

from gni import recipe
from gni.config import make_config


def test_the_training_code_is_the_one_this_recipe_version_was_recorded_for():
    digest = recipe.code_digest()
    assert digest == recipe.CODE_SHA256, (
        f"The training code ({', '.join(recipe.TRAINING_CODE)}) changed. If the change "
        "alters what a run computes, bump gni.recipe.VERSION (old records stop being "
        "reused); either way, set gni.recipe.CODE_SHA256 = "
        f'"{digest}"'
    )


def test_the_digest_ignores_comments_docstrings_and_layout(tmp_path, monkeypatch):
    code = '"""doc"""\ndef f(x):\n    """doc"""\n    return x + 1  # one\n'
    (tmp_path / "a.py").write_text(code)
    monkeypatch.setattr(recipe, "PACKAGE", tmp_path)
    monkeypatch.setattr(recipe, "TRAINING_CODE", ("a.py",))
    before = recipe.code_digest()
    (tmp_path / "a.py").write_text("def f(x):\n\n    return (x\n            + 1)\n")
    assert recipe.code_digest() == before
    (tmp_path / "a.py").write_text("def f(x):\n    return x + 2\n")
    assert recipe.code_digest() != before


def test_the_run_id_covers_the_recipe_version(monkeypatch):
    config = make_config("shakespeare_char", "smoke")
    before = config.run_id
    monkeypatch.setattr(recipe, "VERSION", recipe.VERSION + 1)
    assert config.run_id != before
    assert dataclasses.replace(config).run_id == config.run_id  # and nothing else changed


def test_provenance_names_package_recipe_and_commit():
    p = recipe.provenance()
    assert p["gni_version"] and p["recipe_version"] == recipe.VERSION
    assert p["git_commit"] is None or len(p["git_commit"].removesuffix("+dirty")) == 40
