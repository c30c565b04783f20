"""Chapter parameters: one helper checks types, bounds and undeclared names."""

import re

import pytest

from gni.parameters import (
    assigned_names,
    at_least,
    check_parameters,
    coerce,
    in_range,
    names_by_name,
    names_from,
    number_list,
    one_of,
    seed_list,
    seeds_by_name,
    split_names,
    split_numbers,
    split_pairs,
    split_seeds,
    split_seeds_by_name,
    type_error,
)

RULES = {
    "profile": one_of(["smoke", "cpu"]),
    "n_seeds": at_least(2),
    "gamma": in_range(0, 1, low_open=True),
    "datasets": names_from(["a", "b"]),
    "seeds": seed_list(2),
}
DECLARED = {"profile": "str", "n_seeds": "int", "gamma": "float", "datasets": "str", "seeds": "str"}
DEFAULTS = {"profile": "cpu", "n_seeds": 3, "gamma": 0.99, "datasets": "a,b", "seeds": "2,3"}


def _namespace(injected: str = "", **values):
    """A notebook's globals after the parameters cell and papermill's injected cell."""
    namespace = {"__annotations__": dict(DECLARED), **DEFAULTS, **values}
    namespace["_ih"] = ["", "import x", "profile: str = 'cpu'", injected, "check_parameters()"]
    return namespace


def test_good_values_pass_and_ints_become_floats():
    namespace = _namespace("# Parameters\ngamma = 1\nn_seeds = 5\n", gamma=1, n_seeds=5)
    check_parameters(namespace, RULES)
    assert namespace["gamma"] == 1.0 and isinstance(namespace["gamma"], float)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"n_seeds": "three"},
            "parameter n_seeds='three' must be of type int (declared `n_seeds: int`), not str",
        ),
        ({"n_seeds": 2.5}, "parameter n_seeds=2.5 must be of type int"),
        ({"n_seeds": True}, "parameter n_seeds=True must be of type int"),
        ({"n_seeds": 1}, "parameter n_seeds=1 is out of range; allowed: a finite number >= 2"),
        ({"gamma": 0}, "parameter gamma=0.0 is out of range; allowed: in (0, 1]"),
        ({"gamma": float("nan")}, "parameter gamma=nan is out of range; allowed: in (0, 1]"),
        ({"gamma": "0.9"}, "parameter gamma='0.9' must be of type float"),
        ({"profile": "gpu"}, "parameter profile='gpu' is out of range; allowed: one of smoke, cpu"),
        (
            {"datasets": "a,c"},
            "parameter datasets='a,c' is out of range; allowed: a comma-separated list of a, b",
        ),
        ({"datasets": ""}, "parameter datasets='' is out of range"),
        (
            {"seeds": "2"},
            "parameter seeds='2' is out of range; allowed: a comma-separated list of at least 2",
        ),
        ({"seeds": "2,2"}, "parameter seeds='2,2' is out of range"),
        ({"seeds": "2,x"}, "parameter seeds='2,x' is out of range"),
        ({"seeds": "-1,2"}, "parameter seeds='-1,2' is out of range"),
    ],
)
def test_bad_values_name_the_parameter_and_what_is_allowed(values, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        check_parameters(_namespace(**values), RULES)


def test_an_injected_name_the_chapter_does_not_declare_is_rejected():
    namespace = _namespace("# Parameters\nn_seed = 3\nprofile = 'smoke'\n", n_seed=3)
    with pytest.raises(ValueError, match=r"^parameter\(s\) n_seed are not parameters of this"):
        check_parameters(namespace, RULES)


def test_a_cell_a_reader_ran_before_the_check_is_not_taken_for_injected_parameters():
    check_parameters(_namespace("grid = {'a': 1}\nn_seeds = 3"), RULES)  # no papermill header


def test_a_rule_for_an_undeclared_parameter_is_a_mistake_in_the_chapter():
    with pytest.raises(ValueError, match="rules given for undeclared parameter"):
        check_parameters(_namespace(), {**RULES, "sigma": at_least(0)})


def test_infinity_is_no_setting():
    """Issue 23: `-p sigma0=.inf` ended in an IndexError in chapter 1's cell 6."""
    rule = at_least(0)
    assert rule.ok(0.01) and not rule.ok(float("inf")) and not rule.ok(float("nan"))
    assert rule.allowed == "a finite number >= 0"


def test_values_are_typed_by_the_chapters_declaration_not_by_yaml():
    """Issue 23: `-p sigma0=1e-3` (text to YAML) and `learning_rates=0.001` (a float)."""
    assert coerce("1e-3", "float") == 0.001 and coerce("5", "int") == 5
    assert coerce(0.001, "str") == "0.001" and coerce("true", "bool") is True
    assert coerce("[1", "int") == "[1" and coerce("\uff11", "int") == "\uff11"  # fullwidth 1
    assert coerce("\uff11", "float") == "\uff11" and coerce(True, "str") is True


def test_an_int_no_float_can_hold_is_no_float():
    """Issue 23: `sigma0: 1` and 400 zeros passed, then overflowed in the chapter."""
    assert type_error("sigma0", 10**400, "float").startswith("parameter sigma0=")
    assert type_error("sigma0", 3, "float") is None


def test_seeds_and_numbers_are_ascii():
    with pytest.raises(ValueError, match="ASCII digits"):
        split_seeds("\uff11,\u0663")  # fullwidth 1, Arabic-Indic 3
    with pytest.raises(ValueError, match="ASCII"):
        split_numbers("0.001,\uff12")
    assert split_seeds("2, 3,4") == [2, 3, 4]


def test_a_dataset_is_tuned_or_transferred_not_both():
    transfers = names_by_name(["a", "b", "c"], ["a"])
    assert transfers.ok("b:a; c:a") and not transfers.ok("a:a")


def test_helpers():
    assert assigned_names("# c\na = 1\nb: int = 2\nc += 1\nfor d in x: pass") == ["a", "b"]
    assert assigned_names("not python (") == []
    assert split_names(" a, b ,") == ["a", "b"]
    assert split_seeds(" 2, 3,10") == [2, 3, 10]
    assert type_error("x", 1, "float") is None and type_error("x", "1", "unknown") is None


def test_lists_of_numbers():
    assert split_numbers(" 1e-3, 0.002,") == [0.001, 0.002]
    rule = number_list(0.0, minimum_count=2)
    assert rule.ok("0.1, 1") and rule.allowed.startswith("a comma-separated list of at least 2")
    for bad in ("0.1", "0.1,0.1", "-1,2", "a,1", "nan,1", "inf,1", ""):
        assert not rule.ok(bad), bad


def test_seeds_and_names_by_name():
    assert split_pairs(" a : x ; b:y;") == {"a": "x", "b": "y"}
    assert split_seeds_by_name("a:0,1; b:0") == {"a": [0, 1], "b": [0]}
    rule = seeds_by_name(["a", "b"], minimum_count=1)
    assert rule.ok("a:0,1; b:0")
    for bad in ("", "c:0", "a:0; a:1", "a", "a:", ":0", "a:0,0", "a:-1", "a:0:1"):
        assert not rule.ok(bad), bad
    transfers = names_by_name(["c"], ["a", "b"])
    assert transfers.ok("c:a") and transfers.ok("")
    for bad in ("a:b", "c:c", "c:a; c:b", "c"):
        assert not transfers.ok(bad), bad
