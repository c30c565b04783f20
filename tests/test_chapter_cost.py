"""Chapter 5's analysis (gni.chapters.cost) on small constructed benchmark records and
run tables whose answers can be checked by hand."""

import json
import math

import pandas as pd
import pytest

from gni.chapters import cost
from gni.config import make_config
from gni.stats import Estimate

X = "\N{MULTIPLICATION SIGN}"
MIB = 2**20


def record():
    """A noise_overhead record: one and two threads; the noisy training step is 2, 4 and
    6% slower than its paired step without noise, with one thread and with two."""
    ratios = {
        "noisy_adamw_over_adamw": 1.9,
        "randn_over_adamw": 0.9,
        "noisy_adamw_extra_over_randn": 1.0,
        "anticorrelated_over_independent": 1.5,
        "randn_over_step": 0.029,
    }
    thread = {
        "median_seconds": {"(a) AdamW": 0.002},
        "min_seconds": {"(a) AdamW": 0.001},
        "max_seconds": {"(a) AdamW": 0.004},
        "samples_seconds": {
            "step without noise": [1.0, 2.0, 1.0],
            "step with noise": [1.02, 2.08, 1.06],
            "step with noise and diagnostics": [1.02, 2.08, 1.06],
        },
        "ratios": ratios,
    }
    two = json.loads(json.dumps(thread)) | {"ratios": {k: 2 * v for k, v in ratios.items()}}
    return {
        "profile": "cpu",
        "device_name": "x86_64",
        "n_params": MIB // 4,  # one MiB of float32 parameters
        "repeats": 50,
        "targets": {"noisy_adamw_extra_over_randn": 1.1, "step_with_noise_over_without": 1.03},
        "by_threads": {"1": thread, "2": two},
        "state_bytes": {"no noise": 2 * MIB, "NoisyAdamW": 3 * MIB, "other": 4 * MIB},
        "load_average_before": [1.25, 1.0, 1.0],
    }


def test_read_benchmark_puts_the_cpu_first(tmp_path):
    for device in ("gpu", "cpu", "a100"):
        (tmp_path / f"bench_{device}.json").write_text(json.dumps({"device": device}))
    (tmp_path / "other_cpu.json").write_text("{}")
    found = cost.read_benchmark(tmp_path, "bench")
    assert list(found) == ["cpu", "a100", "gpu"]
    assert found["gpu"] == {"device": "gpu"}
    assert cost.read_regeneration(tmp_path / "missing.json") == {}


def test_gpu_status_and_load_text():
    assert cost.gpu_status({"cpu": {}}) == "no benchmark has been run on a GPU yet"
    assert cost.gpu_status({"cpu": {}, "cuda": {"device_name": "H100"}}) == (
        "a GPU record (H100) is shown beside the CPU's"
    )
    assert cost.load_text(record()) == "1.2"  # 1.25 rounds to even
    assert cost.load_text({}) == "not recorded"


def test_threads_in_words():
    assert cost.threads_label("1") == "1 thread"
    assert cost.threads_label("2") == "2 threads"
    assert cost.threads_text({"1": "a", "2": "b"}) == "a with one thread and b with two"
    assert cost.threads_text({"2": "a"}) == "a with two threads"
    assert cost.threads_text({"4": "a"}) == "a with 4 threads"


def test_by_threads_and_the_optimizer_summary():
    r = record()
    assert cost.by_threads(r, "randn_over_adamw") == f"{X}0.90 and {X}1.80"
    assert cost.by_threads(r, "randn_over_adamw", prefix="", first=True) == (
        "0.90 with one thread and 1.80 with two"
    )
    one = r | {"by_threads": {"1": r["by_threads"]["1"]}}
    assert cost.by_threads(one, "randn_over_adamw", first=True) == f"{X}0.90"
    assert cost.optimizer_summary(r) == (
        f"Over AdamW's step, the noisy step takes {X}1.90 with one thread and {X}3.80 with "
        f"two; the draw alone {X}0.90 and {X}1.80: drawing the noise costs about as much as "
        "the update itself. The fused optimizer adds about one draw's worth of time to AdamW "
        "(1.00 and 2.00 draws; the target is at most 1.1), so on a CPU it is no faster than "
        f"the obvious per-tensor code; anticorrelated noise costs {X}1.50 and {X}3.00 of "
        "independent noise."
    )


def test_whiskers_give_the_median_call_between_the_fastest_and_slowest_in_ms():
    rows = cost.whiskers(record(), ["(a) AdamW"], "repeats")
    assert rows["measure"].tolist() == ["1 thread", "2 threads"]
    e = rows["difference"][0]
    assert (e.mean, e.lo, e.hi, e.n) == pytest.approx((2.0, 1.0, 4.0, 50))
    assert cost.thread_panels(rows) == [("1 thread", "1 thread"), ("2 threads", "2 threads")]


def test_paired_overhead_is_the_mean_percent_over_paired_repeats():
    overheads = cost.paired_overhead(record(), "step with noise")
    e = overheads["1"]
    # 2, 4 and 6%: mean 4, half-width t(0.975, 2) * 2 / sqrt(3) = 4.303 * 1.1547 = 4.968
    assert (e.mean, e.half_width, e.n) == pytest.approx((4.0, 4.968, 3), abs=1e-3)
    assert cost.percent(e) == "+4.0% [-1.0, +9.0]"
    assert cost.percent(Estimate(4.0, math.nan, math.nan, 1)) == "+4.0% n/a: 1 pair"
    assert cost.overhead_text(overheads) == (
        "+4.0% [-1.0, +9.0] with one thread and +4.0% [-1.0, +9.0] with two"
    )
    rows = cost.overhead_rows(record())
    assert rows["label"].tolist() == [
        *(["with noise"] * 2),
        *(["diagnostics, over noise alone"] * 2),
    ]
    assert rows["difference"][2].mean == pytest.approx(0.0)  # the same samples: no extra


def test_throughput_table_and_ratios():
    settings = [
        {"variant": v, "threads": t, "median_step_s": s, "min_step_s": s / 2, "max_step_s": 2 * s}
        for v, t, s in [("no noise", 1, 0.1), ("separate", 1, 0.125), ("no noise", 2, 0.05)]
    ]
    record_of = {"tokens_per_step": 1000, "settings": settings}
    table = cost.throughput_table(
        {"cpu": record_of | {"device_name": "x86"}, "cuda": record_of | {"device_name": "H100"}}
    )
    assert table.index[0] == ("CPU", 1, "no noise")
    assert table.index[-1] == ("H100", 2, "no noise")  # by device, then threads
    row = table.loc[("CPU", 1, "separate")]
    assert row["ms per step (median)"] == "125.0"
    assert row[f"fastest {cost.EN_DASH} slowest (ms)"] == f"62.5 {cost.EN_DASH} 250.0"
    assert row["tokens/s"] == "8,000"
    assert row["vs no noise"] == "1.250"
    ratios = {
        "fused_over_separate_1t": 1.0089,
        "fused_over_separate_2t": 1.0053,
        "separate_over_no_noise_1t": 1.0238,
        "no_noise_2t_speedup_over_1t": 1.69,
    }
    assert cost.fused_vs_separate(ratios) == "1.009 with one thread and 1.005 with two"
    assert cost.throughput_overhead(ratios) == "+2.4% with one thread"


def runs():
    return pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e", "f"],
            "dataset": ["x", "x", "x", "x", "y", "y"],
            "status": ["ok", "ok", "ok", "diverged", "ok", "ok"],
            "noise_schedule": ["none", "exponential", "constant", "none", "none", "none"],
            "noise_impl": ["separate", "separate", "fused", "separate", "separate", "separate"],
            "tokens_per_s": [100.0, 90.0, 80.0, 1.0, 200.0, 400.0],
            "peak_memory_mb": [600.0, 640.0, 650.0, 1.0, 700.0, 800.0],
        }
    )


def test_book_records_name_the_noise_and_keep_the_ok_runs():
    records = cost.book_records(runs())
    assert records["run_id"].tolist() == ["a", "b", "c", "e", "f"]
    assert records["noise"].tolist() == [
        "no noise",
        "separate noise",
        "fused noise",
        "no noise",
        "no noise",
    ]


def test_runs_table_and_run_ratio():
    records = cost.book_records(runs())
    table = cost.runs_table(records)
    assert table.loc["no noise"].to_dict() == {
        "runs": 3,
        "tokens/s, median [quartiles]": "200 [150, 300]",
        "peak memory (MiB), median": "700",
    }
    assert cost.run_ratio(records) == "x 0.900"  # y has no run with separate noise
    assert cost.run_ratio(records[records["noise"] == "no noise"]) == "n/a"


def test_matched_ratios_pair_each_noisy_run_with_its_twin_without_noise():
    noisy = make_config(
        "shakespeare_char",
        "smoke",
        0,
        {"noise_schedule": "constant", "noise_args": {"sigma0": 0.01}},
    )
    twin = make_config("shakespeare_char", "smoke", 0)
    alone = make_config(
        "shakespeare_char",
        "smoke",
        1,
        {"noise_schedule": "constant", "noise_args": {"sigma0": 0.01}},
    )
    configs = {c.run_id: c for c in (noisy, twin, alone)}
    records = pd.DataFrame(
        {
            "run_id": [noisy.run_id, twin.run_id, alone.run_id],
            "noise": ["separate noise", "no noise", "separate noise"],
            "tokens_per_s": [90.0, 100.0, 50.0],
        }
    )
    matched = cost.matched_ratios(records, configs.__getitem__)
    assert matched == [0.9]  # the run of seed 1 has no twin
    assert cost.matched_text(matched) == "n/a (fewer than two pairs)"
    # 0.9 and 1.1: mean 1, half-width t(0.975, 1) * 0.1414 / sqrt(2) = 12.706 * 0.1
    assert cost.matched_text([0.9, 1.1]) == "1.000 [-0.271, 2.271]"


def test_memory_in_mib_and_parameter_copies():
    r = record()
    assert cost.parameter_mib(r) == 1.0
    assert cost.extra_mib(r) == 1.0
    assert cost.extra_mib(r, "other") == 2.0
    table = cost.memory_table(r)
    assert table.loc["AdamW (no noise)", "kept between steps (MiB)"] == "2.00"
    assert table.loc["NoisyAdamW"].to_dict() == {
        "kept between steps (MiB)": "3.00",
        "extra over no noise (MiB)": "1.00",
        "extra, in parameter copies": "1.0",
    }
    assert table.loc["other", "extra, in parameter copies"] == "2.0"  # unnamed: its own name


def test_scaling_table_and_per_run_range():
    scaling = {
        "layouts": {
            "1 worker": {"wall_seconds": 600, "mean_run_seconds": 60.4, "share_in_steps": 0.75},
            "2 workers": {"wall_seconds": 330, "mean_run_seconds": 38.6, "share_in_steps": 0.7},
        }
    }
    table = cost.scaling_table(scaling)
    assert table.loc["1 worker"].tolist() == ["10.0", "60", "75%"]
    assert cost.per_run_range(scaling) == "39 to 60"


def test_probe_cost_sums_every_probes_seconds(tmp_path):
    one, two, three = (tmp_path / name for name in ("one", "two", "three"))
    for folder in (one, two, three):
        folder.mkdir()
    (one / "probe_sharpness_probe.json").write_text(json.dumps({"seconds": 30.0}))
    (one / "probe_plane.json").write_text(json.dumps({"seconds": 10.0}))
    (two / "probe_plane.json").write_text(json.dumps({"seconds": 5.0}))
    (two / "summary.json").write_text(json.dumps({"seconds": 999.0}))  # not a probe
    (three / "probe_old.json").write_text("{}")  # no seconds recorded: 0
    assert cost.probe_cost([one, two, three]) == (45.0, 1)


def regeneration(total_minutes, attempts=1):
    return {
        "built": True,
        "profile": "cpu",
        "workers": 2,
        "chapters": {
            "01": {"seconds": 600, "runs_trained": 10, "attempts": attempts},
            "02": {"seconds": 1200, "runs_trained": 0, "attempts": 1},
        },
        "total_seconds": 60 * total_minutes,
        "build_seconds": 30,
        "runs": 10,
    }


def test_regeneration_text_against_the_goal():
    text = cost.regeneration_text(regeneration(150), "cpu", 4, 100.0)
    assert text == (
        "Regenerated from an empty results store by benchmarks/regenerate_book.py on 2 "
        "workers of one thread, the book took 2.50 hours of wall time, measured (within the "
        "goal of 3 hours): 10 runs trained (4 of them probed), by chapter (with the runs each "
        "chapter trained; later chapters reuse earlier ones') 01 10 min (10 runs), 02 20 min "
        "(0 runs), and the HTML build 0.5 min."
    )
    over = cost.regeneration_text(regeneration(190, attempts=3), "cpu", 4, 100.0)
    assert "measured (over the goal of 3 hours by 10 min):" in over
    assert over.endswith(
        "and the HTML build 0.5 min. It was interrupted and resumed (3 starts of a chapter "
        "at most), and the time of every start is counted, with the runs that an "
        "interruption cut short, so it bounds an uninterrupted regeneration from above; by "
        "the records' own run times the runs need about 100 min on two workers."
    )
    seconds = cost.regeneration_text(regeneration(180.05), "cpu", 4, 100.0)
    assert "(over the goal of 3 hours by 3 s)" in seconds
    assert cost.regeneration_text(regeneration(150), "smoke", 4, 90.0) == (
        "Regenerated from an empty results store on two workers, the book would take about "
        "1.5 hours by these records' own run times; benchmarks/regenerate_book.py measures "
        "it end to end, and no such measurement of the smoke profile is recorded yet."
    )
    assert cost.regeneration_text({}, "cpu", 0, 90.0).startswith("Regenerated from an empty")


def test_overhead_judgement_against_the_target():
    below = {"1": Estimate(1.0, 0.5, 2.0, 3)}
    above = {"1": Estimate(5.0, 4.0, 6.0, 3)}
    around = {"1": Estimate(1.0, 0.5, 2.0, 3), "2": Estimate(3.0, 2.0, 4.0, 3)}
    assert cost.overhead_judgement(below, 3.0).startswith("below the benchmark's target of 3%")
    assert cost.overhead_judgement(above, 3.0) == (
        "above the benchmark's target of 3%: on this CPU it is not negligible"
    )
    assert cost.overhead_judgement(around, 3.0).startswith("around the benchmark's target")


def test_answer_text():
    overheads = {"1": Estimate(1.0, 0.5, 2.0, 3)}
    text = cost.answer_text(overheads, 3.0, 3.0, 600.0, False, [0.9])
    assert text == (
        "On a two-core CPU, gradient noise slows a whole training step by +1.0% [+0.5, +2.0] "
        "with one thread (paired repeats, 95% CI): the draw of the noise doubles the optimizer "
        "step, but the optimizer step is a small part of a training step. The slowdown is "
        f"{cost.overhead_judgement(overheads, 3.0)}. The noise keeps one more parameter copy "
        "in memory (3.00 MiB here, 0.5% of a run's peak), two for anticorrelated noise; no "
        "GPU has been measured, where the draw weighs more against a faster step."
    )
    matched = cost.answer_text(overheads, 3.0, 3.0, 600.0, True, [0.9, 1.1])
    assert "; a GPU record is shown beside it. The book's own runs with noise ran at 1.00 " in (
        matched
    )
    assert matched.endswith(
        "[-0.27, 2.27] of the speed of their twins without it, in sweeps "
        "that do not control the timing as the benchmark does."
    )


def test_overhead_tests_name_each_thread_count():
    overheads = {"1": Estimate(1.0, 0.5, 2.0, 3), "2": Estimate(2.0, 1.0, 3.0, 3)}
    tests, labels = cost.overhead_tests(overheads)
    assert tests["measure"].tolist() == ["step_overhead", "step_overhead"]
    assert tests["difference"].tolist() == list(overheads.values())
    assert labels == [
        "the noise's overhead per training step, 1 thread",
        "the noise's overhead per training step, 2 threads",
    ]
