"""The book: every chapter through real papermill with the smoke profile, a real
`jupyter-book build -W`, and the rendered pages in headless Chromium."""

import json
import shutil
from pathlib import Path

import papermill
import pytest

from gni import GniError
from gni.book import build_book, chapters

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_KEYS = {
    "00_setup": {"model_card", "hyperparameters", "provenance", "splits"},
    "01_reproduce": {
        "fig_train",
        "fig_val",
        "table1",
        "paper_table",
        "verdict",
        "n_seeds",
        "shakespeare_char_val_diff",
        "shakespeare_char_val_ci",
    },
}


def _copy_book(destination: Path) -> Path:
    destination.mkdir()
    for name in ("_config.yml", "_toc.yml", "notebooks"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, destination / name)
    shutil.copytree(ROOT / "book", destination / "book", ignore=shutil.ignore_patterns("executed"))
    return destination


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Path:
    """The whole book built with the smoke profile, in a copy of the sources."""
    tmp = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNI_DATA_DIR", str(shared_data_dir))
        mp.setenv("GNI_RESULTS_DIR", str(tmp / "results"))
        mp.setenv("GNI_CHECKPOINT_DIR", str(tmp / "checkpoints"))
        root = _copy_book(tmp / "src")
        build_book(root, profile="smoke", parameters={"n_seeds": 2})
    return root


def _glued(notebook: Path) -> dict[str, dict]:
    keys = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if "scrapbook" in output.get("metadata", {}):
                keys[output["metadata"]["scrapbook"]["name"]] = output["data"]
    return keys


def test_every_chapter_is_in_the_toc():
    assert chapters(ROOT) == list(CHAPTER_KEYS)
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sources == list(CHAPTER_KEYS)


def test_source_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            assert not cell.get("outputs"), f"{path.name} has outputs"


def test_smoke_book_glues_every_value_and_figure(smoke_book: Path):
    for name, keys in CHAPTER_KEYS.items():
        glued = _glued(smoke_book / "book" / "executed" / f"{name}.ipynb")
        assert keys <= set(glued), f"{name}: missing {keys - set(glued)}"
    chapter = _glued(smoke_book / "book" / "executed" / "01_reproduce.ipynb")
    for figure in ("fig_train", "fig_val"):
        assert len(chapter[figure]["application/papermill.record/image/png"]) > 10_000
    assert chapter["n_seeds"]["application/papermill.record/text/plain"] == "2"


def test_smoke_book_renders_every_page(smoke_book: Path):
    html = smoke_book / "_build" / "html"
    chapter = (html / "book" / "executed" / "01_reproduce.html").read_text()
    assert chapter.count("<img") >= 2 and "Table 1" in chapter
    intro = (html / "book" / "intro.html").read_text()
    assert "What this book finds so far" in intro and "nats per character" in intro
    assert "seeds per method" in intro


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("n_seeds", 0, "parameter n_seeds=0 is out of range; allowed: an integer >= 2"),
        ("datasets", "wiki", "parameter datasets='wiki': unknown dataset"),
        ("profile", "gpu", "parameter profile='gpu' is not allowed; choose one of smoke, cpu"),
    ],
)
def test_bad_parameter_fails_in_the_cell_after_the_parameters(name, value, message, tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / "01_reproduce.ipynb"),
            str(out),
            parameters={name: value},
            progress_bar=False,
            kernel_name="python3",
        )
    assert message in error.value.evalue
    cells = json.loads(out.read_text())["cells"]
    assert "papermill-error-cell-tag" in cells[0]["metadata"].get("tags", [])  # shown on top
    code = [c for c in cells if c["cell_type"] == "code"]
    tags = [c["metadata"].get("tags", []) for c in code]
    injected = next(i for i, t in enumerate(tags) if "injected-parameters" in t)
    failed = next(
        i
        for i, c in enumerate(code)
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    )
    assert failed == injected + 1


def test_failing_chapter_stops_the_build_and_keeps_the_old_output(tmp_path, monkeypatch):
    root = _copy_book(tmp_path / "src")
    executed = root / "book" / "executed"
    executed.mkdir()
    (executed / "01_reproduce.ipynb").write_text("previous output")
    with pytest.raises(
        GniError,
        match=r"notebook 01_reproduce.ipynb failed in cell \d+: "
        r"ValueError: parameter n_seeds=1",
    ):
        build_book(root, profile="smoke", parameters={"n_seeds": 1}, only=["01_reproduce"])
    assert (executed / "01_reproduce.ipynb").read_text() == "previous output"
    assert (root / "_build" / "failed" / "01_reproduce.ipynb").is_file()
    assert sorted(p.name for p in executed.iterdir()) == ["01_reproduce.ipynb"]


def test_unknown_book_parameter_is_rejected(tmp_path):
    with pytest.raises(GniError, match=r"parameter\(s\) \['n_seed'\] are declared by no chapter"):
        build_book(_copy_book(tmp_path / "src"), parameters={"n_seed": 2})


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_pages_render_with_their_figures_in_headless_chromium(smoke_book: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2400",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    html = smoke_book / "_build" / "html"
    try:
        for page, min_images in (("index.html", 0), ("book/executed/01_reproduce.html", 2)):
            driver.get((html / page).as_uri())
            # index.html redirects to the intro; wait for the page and its images
            WebDriverWait(driver, 20).until(
                lambda d: (
                    d.title
                    and d.execute_script("return document.readyState") == "complete"
                    and all(
                        d.execute_script("return Array.from(document.images).map(i => i.complete)")
                    )
                )
            )
            widths = driver.execute_script(
                "return Array.from(document.images).filter(i => i.src.endsWith('.png'))"
                ".map(i => i.complete ? i.naturalWidth : 0)"
            )
            assert len(widths) >= min_images and all(w > 0 for w in widths), (page, widths)
            assert "Gradient noise injection" in driver.title
            shot = html.parent / f"screenshot_{Path(page).stem}.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
