"""The published grids: each loads and expands, and the families grid compares the
schedules at matched total noise, as its comment says."""

import re
from pathlib import Path

import pytest

from gni.grids import expand, load_grid
from gni.schedules import make_schedule, total_variance

GRIDS = sorted((Path(__file__).resolve().parents[1] / "grids").glob("*.yaml"))


@pytest.mark.parametrize("path", GRIDS, ids=[p.stem for p in GRIDS])
def test_every_grid_expands_to_valid_runs(path):
    points = expand(load_grid(path))
    assert points and len({p.config.run_id for p in points}) == len(points)


def test_the_families_have_matched_total_noise():
    points = expand(load_grid(GRIDS[0].parent / "schedules_families.yaml"))
    steps = points[0].config.max_iters + 1
    totals: dict[str, list[float]] = {}
    for point in points:
        config = point.config
        if config.noise_schedule == "none" or config.noise_scale == "relative":
            continue  # the relative scale's total depends on the gradient (on the page)
        level = re.search(r"(low|mid)$", point.labels["noise"]).group(1)
        schedule = make_schedule(config.noise_schedule, **config.noise_args)
        totals.setdefault(level, []).append(total_variance(schedule, steps))
    assert sorted(totals) == ["low", "mid"]
    for values in totals.values():
        assert len(values) == 2 * 6  # six families, two seeds
        assert max(values) / min(values) == pytest.approx(1.0, abs=1e-4)
    assert min(totals["mid"]) / max(totals["low"]) > 5
