"""The book: every chapter through real papermill with the smoke profile, a real
`jupyter-book build -W`, and the rendered pages in headless Chromium."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import papermill
import pytest

from gni import GniError
from gni.book import (
    VARIANTS,
    book_parameters,
    build_book,
    chapter_after,
    chapters,
    check_book_parameters,
    execute_chapters,
    executed_notebook,
    execution_order,
    glued_values,
    repository_url,
    variant_name,
)
from gni.claims import read_claims

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_KEYS = {
    "00_setup": {"model_card", "hyperparameters", "provenance", "splits"},
    "01_reproduce": {
        "fig_train",
        "fig_val",
        "fig_val_diff",
        "table1",
        "paper_table",
        "verdict",
        "n_seeds",
        "shakespeare_char_val_diff",
        "shakespeare_char_val_ci",
    },
    "02_schedules": {
        "fig_screen",
        "fig_noise_ratio",
        "screen_picks",
        "top_setting",
        "grad_rms",
        "fig_families",
        "fig_anti",
        "fig_placement_curves",
        "fig_sgd",
        "fig_adam",
        "table_lowered",
        "fig_confirm",
        "table_verdicts",
        "table_transfer",
        "table_speed",
        "verdict_list",
        "run_minutes",
    },
    "03_regularizers": {
        "table_protocol",
        "table_chosen",
        "table_tuning",
        "table_results",
        "fig_versus_baseline_shakespeare_char",
        "fig_versus_baseline_enwik8",
        "fig_versus_baseline_text8",
        "table_versus_baseline",
        "table_versus_template",
        "template_gni_summary",
        "table_gap",
        "fig_curves3",
        "fig_synergy_interaction",
        "fig_synergy_beyond",
        "table_synergy",
        "answer",
        "evidence_enwik8",
        "held_out_text8",
        "run_minutes",
    },
    "04_sharpness": {
        "table_arms",
        "table_measures",
        "fig_effects_spectrum",
        "fig_effects_sharpness",
        "table_effects",
        "lr_effect",
        "fig_correlation",
        "table_correlation",
        "table_rescaling",
        "fig_landscape",
        "fig_plane",
        "fig_between",
        "table_barriers",
        "fig_density",
        "answer",
        "flatter_summary",
        "rescaled_summary",
        "probe_minutes",
    },
    "05_cost": {
        "fig_optimizer_step",
        "fig_training_step",
        "table_throughput",
        "table_runs",
        "table_memory",
        "table_scaling",
        "step_overhead",
        "book_minutes_two",
        "answer",
        "claims",
    },
    "06_claims": {
        "summary",
        "table_primary",
        "table_claims",
        "wins",
        "n_claims",
        "n_tests",
        "n_wins",
    },
    "07_your_loop": set(),  # the guide to the library: it prints, and glues nothing
    "08_decisive": {
        "answer",
        "table_verdicts",
        "claims",
        "fig_effects",
        "fig_tuning",
        "table_stages",
        "table_choices",
        "interior",
        "step_gni",
        "table_secondary",
        "table_standing",
        "cut",
        "n_runs",
        "run_hours",
    },
}


def _copy_book(destination: Path, executed: bool = False) -> Path:
    """The book's sources in ``destination``, with the published executed chapters or not."""
    destination.mkdir()
    for name in ("_config.yml", "_toc.yml", ".gitignore", "_static", "notebooks"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, destination / name)
    ignore = None if executed else shutil.ignore_patterns("executed")
    shutil.copytree(ROOT / "book", destination / "book", ignore=ignore)
    return destination


def _git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout


SMOKE = {"profile": "smoke", "n_seeds": 2}
FORK = "https://github.com/reader/gni-fork"
BINDER = "https://mybinder.org/v2/gh/reader/gni-fork/main?"  # the fork's Binder
PUBLISHED_HTML = "<html>the published book</html>"


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole book built with the smoke profile, from a copy of the sources; returns
    the variant's own book (under ``_build/variants/``).

    As a user would run it: the copy is a git checkout holding the published chapters and
    a published HTML page, the results store is the copy's own results/, the data folder
    starts empty, and GNI_DATA_MIRROR is a path relative to the directory where it is set
    (chapters then run in notebooks/). A failed chapter's copy from an earlier build of
    the variant lies in its _build/failed/.
    """
    tmp = tmp_path_factory.mktemp("book")
    root = _copy_book(tmp / "src", executed=True)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "the published book")
    _git(root, "remote", "add", "origin", FORK + ".git")  # a reader's fork
    (root / "_build" / "html").mkdir(parents=True)
    (root / "_build" / "html" / "index.html").write_text(PUBLISHED_HTML)
    variant = root / VARIANTS / variant_name(book_parameters("smoke", SMOKE))
    stale = variant / "_build" / "failed" / "01_reproduce.ipynb"
    stale.parent.mkdir(parents=True)
    stale.write_text("an earlier failure")
    mirror = Path(os.environ["GNI_DATA_MIRROR"]).resolve()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.setenv("GNI_DATA_MIRROR", os.path.relpath(mirror, tmp))
        mp.setenv("GNI_DATA_DIR", "data")
        mp.setenv("GNI_RESULTS_DIR", "src/results")
        mp.setenv("GNI_CHECKPOINT_DIR", "checkpoints")
        index = build_book(root, profile="smoke", parameters={"n_seeds": 2})
    assert index == variant / "_build" / "html" / "index.html"
    return variant


@pytest.fixture(scope="module")
def published_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published book, rendered from the committed executed chapters (no execution)."""
    root = _copy_book(tmp_path_factory.mktemp("published") / "src", executed=True)
    build_book(root, execute=False)
    return root


def _glued(notebook: Path) -> dict[str, dict]:
    keys = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if "scrapbook" in output.get("metadata", {}):
                keys[output["metadata"]["scrapbook"]["name"]] = output["data"]
    return keys


def test_every_chapter_is_in_the_toc():
    assert sorted(chapters(ROOT)) == list(CHAPTER_KEYS)
    sources = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sources == list(CHAPTER_KEYS)
    # the decisive test and the claims audit come first in the book; the audit executes
    # after every chapter that glues anything: it reads them
    assert chapters(ROOT)[:2] == ["08_decisive", "06_claims"]
    glue_anything = {n for n, keys in CHAPTER_KEYS.items() if keys and n != "06_claims"}
    assert glue_anything <= set(chapter_after(ROOT, "06_claims"))


def test_each_chapter_executes_after_the_chapters_it_reads():
    """The declared order (metadata gni.after) covers every executed notebook a chapter
    reads, in its code or its prose, and has no cycle: the chapters execute one after
    another in name order, each once those it comes after have."""
    names = chapters(ROOT)
    done: set[str] = set()
    waiting = {n: set(chapter_after(ROOT, n)) for n in execution_order(names)}
    while waiting:
        ready = [n for n, deps in waiting.items() if deps <= done]
        assert ready, f"the chapters {sorted(waiting)} wait on each other"
        done.add(ready[0])
        del waiting[ready[0]]
    for name in names:
        after = chapter_after(ROOT, name)
        assert set(after) <= set(names), name
        source = (ROOT / "notebooks" / f"{name}.ipynb").read_text()
        read = set(re.findall(r'executed_notebook\(\\"(\d\d_\w+)\\"\)', source))
        read |= set(re.findall(r"(\d\d_\w+)\.ipynb::", source))
        assert read - {name} <= set(after), name


@pytest.mark.smoke
def test_chapters_execute_in_parallel_each_after_those_it_comes_after(tmp_path):
    import nbformat

    log = tmp_path / "log.txt"
    (tmp_path / "notebooks").mkdir()
    for name, after in (("a", []), ("b", ["a"]), ("c", [])):
        code = (
            f"import time\nwith open({str(log)!r}, 'a') as f: f.write('start {name}\\n')\n"
            f"time.sleep(2)\nwith open({str(log)!r}, 'a') as f: f.write('end {name}\\n')"
        )
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["gni"] = {"after": after}
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(nb, tmp_path / "notebooks" / f"{name}.ipynb")
    cwd = Path.cwd()
    execute_chapters(tmp_path, tmp_path, ["a", "b", "c"], {}, jobs=2)
    assert Path.cwd() == cwd  # papermill's chdir stays in the worker processes
    events = log.read_text().split("\n")
    assert events.index("end a") < events.index("start b")  # b reads a
    assert events.index("start c") < events.index("end a")  # c and a at once
    assert sorted(p.name for p in (tmp_path / "book" / "executed").iterdir()) == [
        "a.ipynb",
        "b.ipynb",
        "c.ipynb",
    ]


def test_source_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            assert not cell.get("outputs"), f"{path.name} has outputs"


@pytest.mark.smoke
def test_smoke_book_glues_every_value_and_figure(smoke_book: Path):
    for name, keys in CHAPTER_KEYS.items():
        glued = _glued(smoke_book / "book" / "executed" / f"{name}.ipynb")
        assert keys <= set(glued), f"{name}: missing {keys - set(glued)}"
    chapter = _glued(smoke_book / "book" / "executed" / "01_reproduce.ipynb")
    for figure in ("fig_train", "fig_val", "fig_val_diff"):
        html = "".join(chapter[figure]["text/html"])  # JSON keeps long text as lines
        assert len(html) > 10_000 and "data:image/png;base64," in html  # displayed too
    assert chapter["n_seeds"]["application/papermill.record/text/plain"] == "2"


@pytest.mark.smoke
def test_smoke_book_audits_the_claims_of_every_chapter(smoke_book: Path):
    executed = smoke_book / "book" / "executed"
    claims = read_claims(executed, [n for n in CHAPTER_KEYS if n != "06_claims"])
    tested = {"01_reproduce", "02_schedules", "03_regularizers", "05_cost", "08_decisive"}
    assert tested <= set(claims["chapter"])
    # chapter 1: Table 1's four measures on three datasets (shakespeare_char has no test
    # split), and one sign test of convergence pooled over the datasets
    assert len(claims[claims["chapter"] == "01_reproduce"]) == 4 * 3 - 1 + 1
    audit = glued_values(executed / "06_claims.ipynb")
    assert audit["n_tests"] == len(claims)
    assert audit["n_claims"] == claims["claim"].nunique()
    primary = claims[claims["chapter"] == "08_decisive"]
    assert len(primary) == 4 + 3 + 3 + 1  # the hypotheses' families, and the all-of test
    assert audit["summary"].startswith(
        f"Primary: of the decisive test's {len(primary)} tests of 4 claims"
    )


@pytest.mark.smoke
def test_a_good_build_clears_an_earlier_failure(smoke_book: Path):
    assert not (smoke_book / "_build" / "failed").exists()


@pytest.mark.smoke
def test_the_data_came_through_the_relative_mirror(smoke_book: Path):
    data = smoke_book.parents[3] / "data"
    for name in ("shakespeare_char", "enwik8", "text8"):  # read from inside notebooks/
        assert (data / name / "prepared").is_dir(), name


@pytest.mark.smoke
def test_a_smoke_build_leaves_the_published_book_alone(smoke_book: Path):
    """Issue 22: the quick look never overwrites book/executed/ or _build/html."""
    root = smoke_book.parents[2]
    assert _git(root, "status", "--porcelain", "--untracked-files=all") == ""
    assert (root / "_build" / "html" / "index.html").read_text() == PUBLISHED_HTML
    for name in CHAPTER_KEYS:  # the variant's chapters ran with its parameters
        ran = json.loads((smoke_book / "book" / "executed" / f"{name}.ipynb").read_text())
        assert ran["metadata"]["papermill"]["output_path"] == f"book/executed/{name}.ipynb"


@pytest.mark.smoke
def test_executed_chapters_show_figures_and_tables_outside_the_book(smoke_book: Path):
    """As in JupyterLab or after a papermill rerun: nbconvert renders the notebook alone."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    chapter = nbformat.read(smoke_book / "book" / "executed" / "01_reproduce.ipynb", 4)
    html, _ = exporter.from_notebook_node(chapter)
    assert html.count('src="data:image/png;base64,') >= 3  # Figures 1-3
    assert 'id="T_table-1"' in html and "GNI \u2212 baseline [95% CI]" in html  # Table 1
    assert 'id="T_table-2"' in html
    setup = nbformat.read(smoke_book / "book" / "executed" / "00_setup.ipynb", 4)
    html, _ = exporter.from_notebook_node(setup)
    for table in ("model-card", "hyperparameters", "provenance", "splits"):
        assert f'id="T_{table}"' in html, table


@pytest.mark.smoke
def test_a_rebuild_leaves_the_executed_chapters_byte_for_byte(smoke_book: Path):
    """Executed notebooks do not change when nothing changed (no timestamps, fixed ids)."""
    executed = smoke_book / "book" / "executed"
    before = {p.name: p.read_bytes() for p in executed.glob("*.ipynb")}
    tmp = smoke_book.parents[3]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNI_DATA_DIR", str(tmp / "data"))
        mp.setenv("GNI_RESULTS_DIR", str(tmp / "src" / "results"))
        mp.setenv("GNI_CHECKPOINT_DIR", str(tmp / "checkpoints"))
        build_book(smoke_book.parents[2], profile="smoke", parameters={"n_seeds": 2})
    assert {p.name: p.read_bytes() for p in executed.glob("*.ipynb")} == before


@pytest.mark.smoke
def test_every_launch_link_leads_to_the_books_own_repository(smoke_book: Path):
    """Issue 22: the Binder, repository and issues buttons come from the git remote."""
    from bs4 import BeautifulSoup

    assert repository_url(smoke_book) == FORK
    buttons = set()
    for page in (smoke_book / "_build" / "html").rglob("*.html"):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        buttons |= {a["href"] for a in soup.select("a.btn[href^=http]")}
        assert "gni-companion" not in page.read_text(), page
    assert any(link.startswith(BINDER) for link in buttons), buttons
    assert FORK in buttons and any(link.startswith(FORK + "/issues/new") for link in buttons)
    for link in buttons:
        assert link.startswith((FORK, BINDER)), link


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("https://github.com/a/b.git", "https://github.com/a/b"),
        ("git@github.com:a/b.git", "https://github.com/a/b"),
        ("ssh://git@github.com/a/b", "https://github.com/a/b"),
        ("/srv/git/gni", None),  # a local clone: no button leads anywhere
        ("https://gitlab.com/a/b.git", None),
    ],
)
def test_the_repository_is_the_git_remote_on_github(remote, url, tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "remote", "add", "origin", remote)
    assert repository_url(tmp_path) == url


@pytest.mark.smoke
def test_smoke_book_renders_every_page(smoke_book: Path):
    html = smoke_book / "_build" / "html"
    chapter = (html / "book" / "executed" / "01_reproduce.html").read_text()
    assert chapter.count("<img") >= 2 and "Table 1" in chapter
    intro = (html / "book" / "intro.html").read_text()
    assert "What this book finds" in intro and "The claims, audited" in intro
    assert "Its verdicts" in intro and "GNI against the baseline, " in intro  # pasted
    assert "times the clipped" in intro  # a number of chapter 1, pasted


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("notebook", "name", "value", "message"),
    [  # one per chapter, through a real kernel; every rule is in test_chapter_parameters
        ("01_reproduce", "n_seeds", 0, "parameter n_seeds=0 is out of range; allowed: a finite"),
        ("02_schedules", "confirm_seeds", "2", "parameter confirm_seeds='2' is out of range"),
        ("03_regularizers", "tuning", "wiki:0", "parameter tuning='wiki:0' is out of range"),
        ("04_sharpness", "dataset", "wiki", "parameter dataset='wiki' is out of range"),
        ("05_cost", "profile", "gpu", "parameter profile='gpu' is out of range; allowed: one of"),
        ("08_decisive", "profile", "paper", "parameter profile='paper' is out of range"),
        # the committed chapters were executed with the cpu profile
        ("06_claims", "profile", "smoke", "was executed with the profile 'cpu', not 'smoke'"),
    ],
)
def test_bad_chapter_parameter_fails_after_the_parameters(notebook, name, value, message, tmp_path):
    _fails_after_the_parameters(notebook, name, value, message, tmp_path)


def _fails_after_the_parameters(notebook, name, value, message, tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(ROOT / "notebooks" / f"{notebook}.ipynb"),
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


@pytest.mark.smoke
def test_failing_chapter_stops_the_build_and_keeps_the_old_output(tmp_path, monkeypatch):
    root = _copy_book(tmp_path / "src")
    variant = root / VARIANTS / variant_name({"profile": "smoke", "n_seeds": 1})
    executed = variant / "book" / "executed"
    executed.mkdir(parents=True)
    (executed / "01_reproduce.ipynb").write_text("previous output")
    with pytest.raises(
        GniError,
        match=r"notebook 01_reproduce.ipynb failed in cell \d+: "
        r"GniError: parameter n_seeds=1",
    ):
        build_book(root, profile="smoke", parameters={"n_seeds": 1}, only=["01_reproduce"])
    assert (executed / "01_reproduce.ipynb").read_text() == "previous output"
    assert (variant / "_build" / "failed" / "01_reproduce.ipynb").is_file()
    assert sorted(p.name for p in executed.iterdir()) == ["01_reproduce.ipynb"]
    assert not (root / "book" / "executed").exists()  # the published book: untouched


def test_the_published_book_and_its_variants_are_named_by_their_parameters():
    assert book_parameters(None, {"executor": "dask", "workers": 2}) == {"profile": "cpu"}
    assert variant_name(book_parameters("cpu", {"workers": 2})) is None  # the published book
    assert variant_name(book_parameters("smoke", {})) == "smoke"
    own = variant_name(book_parameters("cpu", {"n_seeds": 5}))
    assert own.startswith("cpu-") and own != variant_name(book_parameters("cpu", {"n_seeds": 6}))
    assert own == variant_name(book_parameters("cpu", {"n_seeds": 5, "executor": "dask"}))


@pytest.mark.smoke
def test_chapters_of_different_profiles_are_not_rendered_side_by_side(tmp_path):
    root = _copy_book(tmp_path / "src", executed=True)
    chapter = root / "book" / "executed" / "01_reproduce.ipynb"
    notebook = json.loads(chapter.read_text())
    notebook["metadata"]["papermill"]["parameters"] |= {"profile": "smoke", "n_seeds": 2}
    chapter.write_text(json.dumps(notebook))
    with pytest.raises(GniError) as error:
        build_book(root, execute=False)
    message = str(error.value)
    assert "01_reproduce (n_seeds=2, profile='smoke')" in message
    assert "02_schedules" not in message and "not rendered side by side" in message
    assert not (root / "_build" / "html").exists()
    (root / "book" / "executed" / "05_cost.ipynb").unlink()
    with pytest.raises(GniError, match=r"chapter\(s\) 05_cost of .* are not executed"):
        build_book(root, execute=False)


@pytest.mark.smoke
def test_unknown_book_parameter_is_rejected(tmp_path):
    with pytest.raises(GniError, match=r"parameter\(s\) \['n_seed'\] are declared by no chapter"):
        build_book(_copy_book(tmp_path / "src"), parameters={"n_seed": 2})
    with pytest.raises(GniError, match=r"declared by no chapter of 00_setup; they take"):
        build_book(_copy_book(tmp_path / "src2"), parameters={"n_seeds": 2}, only=["00_setup"])


def test_chapter_parameters_are_typed_as_the_chapters_declare():
    """Issue 23: YAML read `1e-3` as text and `0.001` as a float where a str is declared."""
    given = {"sigma0": "1e-3", "learning_rates": 0.001, "n_seeds": "4", "profile": "cpu"}
    typed = check_book_parameters(ROOT, ["01_reproduce", "03_regularizers"], given)
    assert typed == {"sigma0": 0.001, "learning_rates": "0.001", "n_seeds": 4, "profile": "cpu"}


@pytest.mark.smoke
def test_book_parameter_of_the_wrong_type_is_rejected_before_anything_runs(tmp_path):
    root = _copy_book(tmp_path / "src")
    with pytest.raises(GniError, match=r"parameter n_seeds='three' must be of type int"):
        build_book(root, parameters={"n_seeds": "three"})
    assert not (root / "book" / "executed").exists()


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PAGES = {  # page: figures it shows
    "book/intro.html": 0,
    "book/executed/06_claims.html": 0,
    "book/method.html": 0,
    "book/executed/00_setup.html": 0,
    "book/executed/01_reproduce.html": 3,
    "book/executed/02_schedules.html": 11,
    "book/executed/03_regularizers.html": 6,
    "book/executed/04_sharpness.html": 7,
    "book/executed/05_cost.html": 2,
    "book/executed/07_your_loop.html": 0,
    "book/reproduce.html": 0,
    "book/references.html": 0,
}
# every table's scrolling box (the table itself, or the nearest ancestor that scrolls
# sideways), every figure's smallest text as shown, and what a phone could clip
_LAYOUT = """
const scroller = el => {
  for (let e = el; e && e !== document.body; e = e.parentElement) {
    const o = getComputedStyle(e).overflowX;
    if (o === 'auto' || o === 'scroll') return e;
  }
  return el;
};
// the smallest text of the drawing the browser chose (the <source> of a <picture>, or the
// image itself), in CSS pixels as shown: its pixels in the PNG times the shown scale
const textPx = img => {
  let px = img.dataset.minTextPx;
  const picture = img.closest('picture');
  if (picture) {
    for (const s of picture.querySelectorAll('source')) {
      if (s.srcset === img.currentSrc) px = s.dataset.minTextPx;
    }
  }
  return px === undefined ? null : px * img.getBoundingClientRect().width / img.naturalWidth;
};
// the figures: images in the article, not the buttons' icons
const images = Array.from(document.querySelectorAll('article img'))
  .filter(i => !i.closest('.btn, .dropdown, .header-article'));
return {
  page: document.documentElement.scrollWidth,
  tables: Array.from(document.querySelectorAll('table')).map(t => {
    const box = scroller(t), style = getComputedStyle(box);
    return {id: t.id, right: box.getBoundingClientRect().right,
            hides: box.scrollWidth > box.clientWidth + 1,
            cue: style.backgroundImage.includes('gradient') && style.scrollbarWidth !== 'none'};
  }),
  images: images.map(i => i.complete ? i.naturalWidth : 0),
  text_px: images.map(textPx),
  // each figure's shape on the page (width / height) over its shape in pixels
  squash: images.filter(i => i.naturalHeight)
    .map(i => (i.width / i.height) / (i.naturalWidth / i.naturalHeight)),
  raw_roles: document.body.innerText.includes('{glue'),
  // numbers pasted into prose and tables by glue that show in bold (outside headings)
  bold_pastes: Array.from(document.querySelectorAll('main span.pasted-text'))
    .filter(s => !s.closest('strong, b, th, h1, h2, h3, h4'))
    .filter(s => parseInt(getComputedStyle(s).fontWeight) >= 600).length,
  // the claims tables' cells: on a phone each is a block as wide as its table
  claim_cells: Array.from(document.querySelectorAll('table.claims-table td'))
    .map(td => getComputedStyle(td).display),
  // headings whose words do not fit a line without breaking inside one
  broken_words: Array.from(document.querySelectorAll('article h1, article h2, article h3'))
    .filter(h => {
    const before = h.style.overflowWrap;
    h.style.overflowWrap = 'normal';
    const over = h.scrollWidth > h.clientWidth + 1;
    h.style.overflowWrap = before;
    return over;
  }).map(h => h.textContent.trim()),
  // display equations cut by their box, and links running past the window
  clipped: Array.from(document.querySelectorAll('mjx-container[display="true"]'))
    .filter(m => m.scrollWidth > m.clientWidth + 1).map(m => m.textContent.slice(0, 40))
    .concat(Array.from(document.querySelectorAll('article a'))
      .filter(a => a.offsetParent !== null)
      .filter(a => a.getBoundingClientRect().right > window.innerWidth + 1)
      .map(a => a.textContent.slice(0, 40))),
};
"""
SMALLEST_TEXT_PX = {1400: 9.0, 390: 7.0}  # figure text as shown, in CSS pixels (issue 22)


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
@pytest.mark.parametrize("which", [pytest.param("smoke", marks=pytest.mark.smoke), "published"])
def test_every_page_fits_phone_and_desktop_widths_in_headless_chromium(
    which: str, request: pytest.FixtureRequest
):
    """Each page at 1400 and 390 px (issue 22): figures load with their shape and no text
    smaller than 9 px (1400) or 7 px (390), no table or page overflows the window, no
    table hides a column at 1400 and a table that scrolls on a phone shows that it
    does, no heading breaks inside a word and no equation or link is cut on a phone,
    pasted numbers read as prose (not bold), and the claims tables stack into one block
    per claim on a phone.

    Full-page screenshots are saved under _build/screenshots/ for a reader to review.
    """
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
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    book = request.getfixturevalue(f"{which}_book")
    html = book / "_build" / "html"
    shots = book / "_build" / "screenshots"
    shots.mkdir(exist_ok=True)
    try:
        driver.get((html / "index.html").as_uri())  # redirects to the intro
        WebDriverWait(driver, 20).until(lambda d: "intro" in d.current_url)
        for width in (1400, 390):
            for page, n_figures in PAGES.items():
                driver.set_window_size(width, 900)
                driver.get((html / page).as_uri())
                WebDriverWait(driver, 20).until(
                    lambda d: (
                        d.execute_script("return document.readyState") == "complete"
                        and all(
                            d.execute_script(
                                "return Array.from(document.images).map(i => i.complete)"
                            )
                        )
                    )
                )
                assert "Gradient noise injection" in driver.title
                layout = driver.execute_script(_LAYOUT)
                where = (page, width, layout)
                assert len(layout["images"]) >= n_figures and all(layout["images"]), where
                assert all(abs(r - 1) < 0.02 for r in layout["squash"]), where
                assert layout["page"] <= width + 1, where
                assert all(t["right"] <= width + 1 for t in layout["tables"]), where
                if width >= 1400:  # no table hides a column
                    assert not [t["id"] for t in layout["tables"] if t["hides"]], where
                else:  # a table that scrolls shows that it does
                    assert all(t["cue"] for t in layout["tables"] if t["hides"]), where
                assert None not in layout["text_px"], where  # every figure states its text
                assert min(layout["text_px"], default=99) >= SMALLEST_TEXT_PX[width], where
                assert not layout["broken_words"] and not layout["clipped"], where
                assert not layout["raw_roles"], where
                assert layout["bold_pastes"] == 0, where
                stacked = {"block"} if width < 640 else {"table-cell"}
                assert set(layout["claim_cells"]) <= stacked, where
                assert layout["claim_cells"] or not page.endswith("06_claims.html"), where
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(width, min(height, 16000))
                shot = shots / f"{Path(page).stem}-{width}.png"
                driver.save_screenshot(str(shot))
                assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_a_chapter_reads_the_executed_notebooks_of_the_book_it_runs_in(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    # a book whose chapters have not executed yet: this checkout's
    assert executed_notebook("02_schedules") == ROOT / "book/executed/02_schedules.ipynb"
    (tmp_path / "book" / "executed").mkdir(parents=True)
    assert executed_notebook("02_schedules") == tmp_path / "book/executed/02_schedules.ipynb"


def test_a_cells_printed_output_is_one_stream_however_the_kernel_split_it():
    from gni.book import join_streams

    split = [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stdout", "text": ["b\n", "c\n"]},
        {"output_type": "stream", "name": "stderr", "text": "warning\n"},
        {"output_type": "display_data", "data": {}},
        {"output_type": "stream", "name": "stdout", "text": "d\n"},
    ]
    assert join_streams(split) == [
        {"output_type": "stream", "name": "stdout", "text": "a\nb\nc\n"},
        {"output_type": "stream", "name": "stderr", "text": "warning\n"},
        {"output_type": "display_data", "data": {}},
        {"output_type": "stream", "name": "stdout", "text": "d\n"},
    ]
