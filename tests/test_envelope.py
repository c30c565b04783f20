"""gni.envelope: the design, the arms' settings, the edge rule, the seed count, and the
stages (tune, pilot, freeze, confirm) end to end on smoke runs."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats

from gni import GniError
from gni.chapters import decisive
from gni.cli import main as cli
from gni.envelope import (
    FORMAT,
    arm_overrides,
    chosen_params,
    confirmation_configs,
    freeze,
    load_frozen,
    load_trials,
    on_edge,
    pilot_configs,
    pooled_paired_sd,
    seeds_needed,
    trials_path,
    tune,
)
from gni.preregistration import at_smoke_size, load_design
from gni.results import ResultsStore
from gni.stats import paired_t_power, sd_upper_bound

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "book" / "preregistration" / "design.yaml"

SMOKE_REGIMES = """regimes:
  a:
    profile: smoke
    datasets:
      shakespeare_char: [baseline, gni, template, template+gni]
    trials: 2
    startup_trials: 1
    tuning_seed: 100
    pilot_seeds: [101, 102]
    first_seed: 1000
    min_seeds: 2
    max_seeds: 3
  b:
    profile: smoke
    datasets:
      shakespeare_char: [baseline, gni]
    trials: 2
    startup_trials: 1
    warm_start: a
    tuning_seed: 200
    pilot_seeds: [201, 202]
    first_seed: 1000
    min_seeds: 2
    max_seeds: 2

"""


def smoke_design(folder: Path, **replace: str) -> Path:
    """The committed design with two smoke regimes in place of its own (and edits)."""
    text = DESIGN.read_text()
    start, end = text.index("regimes:\n"), text.index("# The number of confirmation seeds")
    text = text[:start] + SMOKE_REGIMES + text[end:]
    for old, new in replace.items():
        text = re.sub(old, new, text, flags=re.M)
    path = folder / "design.yaml"
    path.write_text(text)
    return path


def test_the_committed_design_holds_what_the_issue_asks():
    design = load_design(DESIGN)
    low, high = design.learning_rate
    assert high / low >= 8
    assert set(design.arms) == {"baseline", "gni", "template", "template+gni"}
    assert design.arms["template"]["settings"] == {"dropout": 0.2, "weight_decay": 0.1}
    assert {"exponential", "anticorrelated"} == set(design.noise_families)
    assert design.primary_measure == "best_val_loss"
    for regime in design.regimes.values():
        assert "shakespeare_char" in regime.datasets
        assert {"enwik8", "text8"} & set(regime.datasets)
        assert min(regime.pilot_seeds) > regime.tuning_seed  # tuning and pilot seeds differ
        assert regime.first_seed >= 1000  # confirmation seeds new to the book
    assert {r.profile for r in design.regimes.values()} == {"cpu", "cpu-long"}
    # every hypothesis compares arms run in at least one regime and dataset
    assert design.largest_family() == 4
    assert design.family("gni-adds-to-template") == [
        ("cpu", "shakespeare_char"),
        ("cpu", "enwik8"),
        ("cpu-long", "shakespeare_char"),
    ]


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            r"^  learning_rate: \[2.5e-4, 8.0e-3\]",
            "  learning_rate: [8.0e-3, 2.5e-4]",
            "0 < low < high",
        ),
        (r"^    profile: smoke\n", "    profile: huge\n", "profile='huge'"),
        (r"^    trials: 2\n", "    trials: two\n", "trials='two'; allowed: an integer"),
        (r"^    warm_start: a", "    warm_start: z", "warm_start='z' is not a regime"),
        (r"treatment: gni\n", "treatment: nothing\n", "hypothesis 'gni-lowers-loss'"),
        (r"^edge_factor: 1.25", "edge_factor: 1.0", "must exceed 1"),
        (r"pilot_seeds: \[101, 102\]", "pilot_seeds: [101, 101]", "pilot_seeds"),
    ],
)
def test_a_bad_design_is_one_error_naming_the_value(tmp_path, old, new, message):
    path = smoke_design(tmp_path, **{old: new})
    with pytest.raises(GniError, match=re.escape(message)):
        load_design(path)


def test_arm_settings_from_sampled_parameters():
    design = load_design(DESIGN)
    params = {
        "learning_rate": 0.00123456,
        "family": "exponential",
        "sigma0": 0.0031,
        "decay": 0.012,
    }
    assert arm_overrides(design, "baseline", params) == {
        "learning_rate": 0.001235,
        "min_lr": 0.0001235,
    }
    noisy = arm_overrides(design, "template+gni", params)
    assert noisy["dropout"] == 0.2 and noisy["weight_decay"] == 0.1
    assert noisy["noise_schedule"] == "exponential"
    assert noisy["noise_args"] == {"sigma0": 0.0031, "gamma": 0.988}
    anti = arm_overrides(
        design, "gni", {"learning_rate": 1e-3, "family": "anticorrelated", "sigma0": 2e-4}
    )
    assert anti["noise_kind"] == "anticorrelated" and anti["noise_schedule"] == "constant"
    assert anti["noise_args"] == {"sigma0": 2e-4}


def test_the_smoke_size_keeps_the_design_but_its_sizes():
    design = load_design(DESIGN)
    small = at_smoke_size(design)
    assert small.hypotheses == design.hypotheses and small.arms == design.arms
    for name, r in design.regimes.items():
        s = small.regimes[f"smoke-{name}"]  # never the design's own records
        assert s.profile == "smoke" and s.trials == 2 and len(s.pilot_seeds) == 2
        assert s.datasets == r.datasets and s.tuning_seed == r.tuning_seed


def test_the_edge_rule():
    assert on_edge(1.1e-3, (1e-3, 1e-2), 1.25) == "low"
    assert on_edge(9e-3, (1e-3, 1e-2), 1.25) == "high"
    assert on_edge(3e-3, (1e-3, 1e-2), 1.25) is None


def test_the_choice_is_the_lowest_finished_trial_and_the_earliest_of_equals():
    record = {
        "trials": [
            {"number": 0, "params": {"learning_rate": 1}, "value": 2.0},
            {"number": 1, "params": {"learning_rate": 2}, "value": None},
            {"number": 2, "params": {"learning_rate": 3}, "value": 1.5},
            {"number": 3, "params": {"learning_rate": 4}, "value": 1.5},
        ]
    }
    assert chosen_params(record) == {"learning_rate": 3}
    with pytest.raises(GniError, match="finished"):
        chosen_params({"trials": [{"number": 0, "params": {}, "value": None}]})


def test_the_pooled_paired_sd_pools_every_comparison_of_the_regime(tmp_path):
    design = load_design(smoke_design(tmp_path))
    values = {
        "baseline": [1.0, 1.2],
        "gni": [0.9, 1.3],
        "template": [1.1, 1.0],
        "template+gni": [1.0, 1.1],
    }
    runs = pd.DataFrame(
        [
            {"dataset": "shakespeare_char", "arm": arm, "seed": s, "best_val_loss": v}
            for arm, vs in values.items()
            for s, v in zip((101, 102), vs, strict=True)
        ]
    )
    sd, df = pooled_paired_sd(design, "a", runs)
    # three hypotheses, two pairs each: gni-baseline (-0.1, 0.1), tgni-template (-0.1, 0.1),
    # gni-template (-0.2, 0.3); squares about each mean over three degrees of freedom
    squares = 0.02 + 0.02 + 2 * 0.25**2
    assert df == 3
    assert sd == pytest.approx(math.sqrt(squares / 3))


def test_the_seed_count_is_the_smallest_that_detects_the_target(tmp_path):
    design = load_design(DESIGN)
    n, mde = seeds_needed(design, "cpu", sd=0.007, df=12)
    bound = sd_upper_bound(0.007, 13, 0.8)
    alpha = 0.05 / 4
    assert paired_t_power(design.target_mde, bound, n, alpha) >= 0.8
    assert paired_t_power(design.target_mde, bound, n - 1, alpha) < 0.8
    assert paired_t_power(mde, bound, n, alpha) == pytest.approx(0.8, abs=1e-9)
    # the normal approximation is close, from below
    z = scipy_stats.norm.ppf
    assert n >= ((z(1 - alpha / 2) + z(0.8)) * bound / 0.01) ** 2
    capped, wide = seeds_needed(design, "cpu", sd=0.05, df=12)
    assert capped == design.regimes["cpu"].max_seeds and wide > design.target_mde


@pytest.mark.smoke
def test_the_stages_end_to_end(tmp_path, monkeypatch):
    design_file = smoke_design(tmp_path)
    design = load_design(design_file)
    store = ResultsStore(tmp_path / "results")
    monkeypatch.setenv("GNI_RESULTS_DIR", str(store.root))
    threads = torch.get_num_threads()
    record = tune(design, "a", "shakespeare_char", "gni", store, threads=threads + 1)
    assert torch.get_num_threads() == threads  # the caller's thread count is kept
    assert len(record["trials"]) >= 2
    for trial in record["trials"]:
        assert store.has(trial["run_id"])  # every trial is a record
    assert load_trials("a", "shakespeare_char", "gni", store.root) == json.loads(
        trials_path("a", "shakespeare_char", "gni", store.root).read_text()
    )
    # run again, the study replays its suggestions from the records: nothing new
    before = sorted(p.name for p in store.root.iterdir())
    assert tune(design, "a", "shakespeare_char", "gni", store) == record
    assert sorted(p.name for p in store.root.iterdir()) == before

    assert (
        cli(["envelope", "tune", "--regime", "a", "--workers", "2", "--design", str(design_file)])
        == 0
    )
    with pytest.raises(GniError, match="pilot runs of a are missing"):
        freeze(design, "a", store, tmp_path / "a.yaml")
    assert not (tmp_path / "a.yaml").exists()
    assert (
        cli(["envelope", "pilot", "--regime", "a", "--workers", "2", "--design", str(design_file)])
        == 0
    )
    assert all(store.has(c.run_id) for c in pilot_configs(design, "a", store.root))
    assert cli(["envelope", "freeze", "--regime", "a", "--design", str(design_file)]) == 0
    frozen = load_frozen("a", tmp_path / "a.yaml")
    assert 2 <= frozen["n_seeds"] <= 3
    assert frozen["seeds"] == list(range(1000, 1000 + frozen["n_seeds"]))
    assert frozen["chosen"]["shakespeare_char"]["gni"] == arm_overrides(
        design, "gni", chosen_params(record)
    )
    with pytest.raises(GniError, match="written once"):
        freeze(design, "a", store, tmp_path / "a.yaml")
    runs = confirmation_configs(design, "a", frozen)
    assert {c.seed for _, c in runs} == set(frozen["seeds"])
    assert len(runs) == 4 * len(frozen["seeds"])
    assert {arm for arm, _ in runs} == set(design.arms)
    read, counts = decisive.confirmation_runs(design, {"a": frozen}, store)
    assert read.empty and counts == {"a": (0, len(runs))}
    assert (
        cli(
            ["envelope", "confirm", "--regime", "a", "--workers", "2", "--design", str(design_file)]
        )
        == 0
    )
    assert all(store.has(c.run_id) for _, c in runs)
    read, counts = decisive.confirmation_runs(design, {"a": frozen}, store)
    assert counts == {"a": (len(runs), len(runs))} and len(read) == len(runs)
    assert sorted(read["arm"]) == sorted(arm for arm, _ in runs)
    # one run missing: its dataset is not read at all (no look at part of the seeds)
    shutil.rmtree(store.path(runs[0][1].run_id))
    read, counts = decisive.confirmation_runs(design, {"a": frozen}, store)
    assert read.empty and counts == {"a": (len(runs) - 1, len(runs))}

    # the warm start: each arm's first trial in b is its choice in a, clipped into the range
    assert (
        cli(["envelope", "tune", "--regime", "b", "--workers", "1", "--design", str(design_file)])
        == 0
    )
    low, high = design.learning_rate
    for arm in ("baseline", "gni"):
        first = load_trials("b", "shakespeare_char", arm, store.root)["trials"][0]["params"]
        choice = chosen_params(load_trials("a", "shakespeare_char", arm, store.root))
        choice["learning_rate"] = min(max(choice["learning_rate"], low), high)
        assert first == choice


def test_the_seed_registry_names_the_designs_seeds():
    from gni.seeds import load_registry, overlap

    design, registry = load_design(DESIGN), load_registry()
    for name, regime in design.regimes.items():
        choice = registry.choices[f"decisive-{name}"]
        assert choice.seeds == (regime.tuning_seed, *regime.pilot_seeds)
        assert choice.chapter == "08_decisive"
    report = registry.reports["decisive"]
    reserved = set(report.seeds)
    for name, regime in design.regimes.items():
        assert set(range(regime.first_seed, regime.first_seed + regime.max_seeds)) <= reserved
        frozen = DESIGN.parent / f"{name}.yaml"
        if frozen.is_file():  # a frozen stage's seeds are among them
            assert set(load_frozen(name, frozen)["seeds"]) <= reserved
    assert report.fresh and overlap("decisive") == {}


def _added(paths_: list[str]) -> dict[str, str]:
    """Each path's first commit that added it (hash), from the git history."""
    out = subprocess.run(
        [
            "git",
            "log",
            "--reverse",
            "--diff-filter=A",
            "--name-only",
            "--format=commit %H",
            "--",
            *paths_,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    first: dict[str, str] = {}
    commit = ""
    for line in out.splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
        elif line:
            first.setdefault(line, commit)
    return first


def _before(a: str, b: str) -> bool:
    """Whether commit ``a`` is an ancestor of ``b`` (or ``b`` itself)."""
    return subprocess.run(["git", "merge-base", "--is-ancestor", a, b], cwd=ROOT).returncode == 0


def _full_history() -> bool:
    if not (ROOT / ".git").exists():
        return False
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True
    )
    return shallow.returncode == 0 and shallow.stdout.strip() == "false"


@pytest.mark.skipif(not _full_history(), reason="needs the whole git history of a checkout")
def test_git_shows_each_stage_committed_before_its_runs():
    design = load_design(DESIGN)
    added = _added(["book/preregistration", "results"])
    stage_one = added["book/preregistration/design.yaml"]
    tuning_seeds = {r.tuning_seed for r in design.regimes.values()}
    tuning = [
        c
        for p, c in added.items()
        if p.startswith("results/envelope/") or any(f"-s{s}-" in p for s in tuning_seeds)
    ]
    assert tuning, "no tuning record is committed"
    assert all(_before(stage_one, c) for c in tuning)
    for name in design.regimes:
        frozen = f"book/preregistration/{name}.yaml"
        if frozen not in added:
            continue
        stage = load_frozen(name, ROOT / frozen)
        ids = {c.run_id for _, c in confirmation_configs(design, name, stage)}
        confirming = [c for p, c in added.items() if p.count("/") == 2 and p.split("/")[1] in ids]
        assert all(_before(added[frozen], c) and c != added[frozen] for c in confirming), name


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "not valid JSON"),
        ('{"format": 0, "trials": []}', "not a trials record of format 1"),
        ('{"format": 1, "trials": []}', "no trials"),
        ('{"format": 1, "trials": [{"number": "0"}]}', "number is not an integer"),
        (
            '{"format": 1, "trials": [{"number": 0, "params": {}, "run_id": "r", "value": "x",'
            ' "lr_range": [1, 2]}]}',
            "trial 0's value is not a number or null",
        ),
    ],
)
def test_a_broken_trials_record_is_one_error_naming_it(tmp_path, content, message):
    path = trials_path("cpu", "enwik8", "gni", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(GniError, match=re.escape(message)) as error:
        load_trials("cpu", "enwik8", "gni", tmp_path)
    assert str(path) in str(error.value)
    with pytest.raises(GniError, match="no such trials record"):
        load_trials("cpu", "enwik8", "baseline", tmp_path)


def test_a_trials_record_keeps_its_small_numbers_as_numbers(tmp_path):
    path = trials_path("cpu", "enwik8", "gni", tmp_path)
    path.parent.mkdir(parents=True)
    trial = {
        "number": 0,
        "params": {"sigma0": 1e-05},
        "run_id": "r",
        "value": 2.5,
        "lr_range": [1e-05, 0.008],
    }
    path.write_text(json.dumps({"format": FORMAT, "trials": [trial]}))
    assert load_trials("cpu", "enwik8", "gni", tmp_path)["trials"][0]["params"]["sigma0"] == 1e-05


def test_every_committed_choice_lies_inside_its_range():
    design = load_design(DESIGN)
    records = sorted((ROOT / "results" / "envelope").glob("*.json"))
    for path in records:
        record = json.loads(path.read_text())
        choice = arm_overrides(design, record["arm"], chosen_params(record))
        last = record["trials"][-1]["lr_range"]
        edge = on_edge(choice["learning_rate"], tuple(last), design.edge_factor)
        assert edge is None, f"{path.name}: {choice['learning_rate']} on the {edge} edge of {last}"
        assert last[1] / last[0] >= 8
