"""YAML from users is refused before it is walked when it is too large, deep or aliased."""

import pytest

from gni import GniError
from gni.untrusted import MAX_DEPTH, MAX_NODES, load_yaml, read_text, shown


def _alias_bomb(levels: int) -> str:
    """Each level an anchored list of ten aliases of the level below: 10**levels values
    in a few hundred bytes (the grid of issue 23)."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + f"\naxes: {{dropout: *l{levels}}}\n"


def test_an_alias_bomb_is_refused_at_once():
    text = _alias_bomb(9)
    assert len(text) < 700
    with pytest.raises(GniError, match=rf"^grid\.yaml stands for more than {MAX_NODES:,} values"):
        load_yaml(text, "grid.yaml")


def test_a_few_aliases_are_fine():
    assert load_yaml("base: &b {lr: 0.001}\nother: *b\n", "x") == {
        "base": {"lr": 0.001},
        "other": {"lr": 0.001},
    }


def test_deep_nesting_is_refused_without_recursion():
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(GniError, match=rf"nests deeper than {MAX_DEPTH} levels"):
        load_yaml(text, "grid.yaml")


def test_repeated_keys_and_syntax_errors_are_one_line():
    with pytest.raises(GniError, match=r"repeats the key\(s\) \['seeds'\] in one mapping"):
        load_yaml("seeds: [0]\nseeds: [1]\n", "grid.yaml")
    with pytest.raises(GniError, match=r"^grid\.yaml is not valid YAML: ") as error:
        load_yaml("a: [1\n", "grid.yaml")
    assert "\n" not in str(error.value)


def test_an_empty_document_is_none_and_huge_text_is_refused():
    assert load_yaml("", "x") is None
    with pytest.raises(GniError, match=r"has 1,000,001 characters; at most 1,000,000"):
        load_yaml("#" * 1_000_001, "x")


def test_shown_is_short_whatever_the_value():
    nested: list = [list(range(1000))] * 1000
    assert len(shown(nested)) <= 160 and "..." in shown(nested)
    assert len(shown([[[["x" * 60] * 6] * 6] * 6])) == 160
    assert len(shown("x" * 10_000)) < 80
    assert shown({"a": 1}) == "{'a': 1}"


def test_a_huge_file_is_refused_without_reading_it_whole(tmp_path):
    """Issue 23 (re-probe): a 3 GB grid was read whole, then a MemoryError."""
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(3 * 2**30)  # a sparse file: 3 GiB of zeros, no disk used
    with pytest.raises(GniError, match=r"^grid has more than 1,000,000 characters$"):
        read_text(path, "grid")
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(GniError, match=r"^grid is not UTF-8 text \(byte 3\)$"):
        read_text(path, "grid")
