import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from gni import GniError, paths
from gni import data as gni_data
from gni.config import PUBLISHED_PROFILE, data_sizes
from gni.data import (
    DATASETS,
    DIGESTS,
    Dataset,
    Source,
    TokenData,
    _manifest_path,
    describe,
    download,
    fetch,
    prepare,
    record_manifest,
    record_manifests,
    split_sizes,
)
from tests.conftest import files_under

TEXT = b"the quick brown fox jumps over the lazy dog\n" * 500  # 22,000 bytes
ZIPPED = io.BytesIO()
with zipfile.ZipFile(ZIPPED, "w") as zf:
    zf.writestr("tiny", TEXT)
ZIP_BYTES = ZIPPED.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves /tiny.zip whole, /bad.zip with other bytes, /short.zip cut short."""

    def do_GET(self) -> None:
        body = {
            "/tiny.zip": ZIP_BYTES,
            "/bad.zip": ZIP_BYTES[:-1] + b"X",
            "/short.zip": ZIP_BYTES,
        }.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path == "/short.zip" else body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _tiny_dataset(url: str) -> Dataset:
    return Dataset(
        name="tiny",
        url=url,
        text_bytes=len(TEXT),
        split_fractions=(0.9, 0.05, 0.05),
        sources=(
            Source("tiny.zip", len(ZIP_BYTES), _sha(ZIP_BYTES), kind="zip", member="tiny"),
            Source("tiny", len(TEXT), _sha(TEXT)),
            Source("tiny_first_8000_bytes", 8000, _sha(TEXT[:8000]), kind="excerpt"),
        ),
        prefix_sha256={5000: _sha(TEXT[:5000])},
    )


@pytest.fixture
def tiny(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """A registry entry served from 127.0.0.1, with its own data folder and no mirror."""
    dataset = _tiny_dataset(f"{server}/tiny.zip")
    monkeypatch.setitem(DATASETS, "tiny", dataset)
    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GNI_DATA_MIRROR", raising=False)
    return dataset


def test_download_good_file_is_verified_and_renamed(tiny, server, tmp_path):
    dest = tmp_path / "out" / "tiny.zip"
    download(f"{server}/tiny.zip", dest, tiny.sources[0])
    assert dest.read_bytes() == ZIP_BYTES
    assert files_under(dest.parent) == ["tiny.zip"]


def test_download_with_wrong_checksum_names_both_digests_and_leaves_nothing(tiny, server, tmp_path):
    dest = tmp_path / "out" / "tiny.zip"
    bad = ZIP_BYTES[:-1] + b"X"
    with pytest.raises(GniError, match=f"sha256 {_sha(bad)}, expected {_sha(ZIP_BYTES)}"):
        download(f"{server}/bad.zip", dest, tiny.sources[0])
    assert files_under(dest.parent) == []


def test_truncated_transfer_is_an_error_and_leaves_nothing(tiny, server, tmp_path):
    dest = tmp_path / "out" / "tiny.zip"
    with pytest.raises(
        GniError, match=f"truncated: received {len(ZIP_BYTES) // 2:,} of {len(ZIP_BYTES):,} bytes"
    ):
        download(f"{server}/short.zip", dest, tiny.sources[0])
    assert files_under(dest.parent) == []


def test_fetch_downloads_unzips_and_checks(tiny, tmp_path):
    path = fetch("tiny")
    assert path.read_bytes() == TEXT
    assert files_under(tmp_path / "data") == ["tiny/tiny"]  # the zip is removed after extraction
    assert fetch("tiny") == path  # found on disk the second time


def test_prefix_is_identical_from_excerpt_or_full_file(tiny, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    (mirror / "tiny" / "renamed_excerpt").write_bytes(TEXT[:8000])  # recognised by its digest
    monkeypatch.setenv("GNI_DATA_MIRROR", str(mirror))
    from_excerpt = prepare("tiny", 5000)
    excerpt_meta = json.loads((from_excerpt / "meta.json").read_text())
    assert files_under(tmp_path / "data" / "tiny") == [
        "prepared/first_5000/meta.json",
        "prepared/first_5000/test.bin",
        "prepared/first_5000/train.bin",
        "prepared/first_5000/val.bin",
    ]  # nothing downloaded
    excerpt_bins = {s: (from_excerpt / f"{s}.bin").read_bytes() for s in ("train", "val", "test")}

    monkeypatch.setenv("GNI_DATA_DIR", str(tmp_path / "data2"))
    monkeypatch.delenv("GNI_DATA_MIRROR")
    from_full = prepare("tiny", 5000)  # downloads the whole zip
    assert json.loads((from_full / "meta.json").read_text()) == excerpt_meta
    for split, data in excerpt_bins.items():
        assert (from_full / f"{split}.bin").read_bytes() == data
    assert excerpt_meta["text_sha256"] == _sha(TEXT[:5000])
    assert excerpt_meta["splits"] == {"train": 4500, "val": 250, "test": 250}


def test_whole_text_needs_more_than_the_excerpt(tiny, tmp_path, monkeypatch, server):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny_first_8000_bytes").write_bytes(TEXT[:8000])
    monkeypatch.setenv("GNI_DATA_MIRROR", str(mirror))
    monkeypatch.setitem(DATASETS, "tiny", _tiny_dataset(f"{server}/missing/tiny.zip"))
    with pytest.raises(
        GniError,
        match=r"dataset tiny: the first 22,000 bytes are needed, but only the excerpt "
        r"tiny_first_8000_bytes \(8,000 bytes\) is at hand",
    ):
        fetch("tiny")
    assert files_under(tmp_path / "data") == []


def test_missing_data_names_the_dataset_the_absolute_mirror_and_the_fix(
    tiny, tmp_path, monkeypatch, server
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GNI_DATA_MIRROR", "no/such/mirror")  # relative, as a user types it
    monkeypatch.setitem(DATASETS, "tiny", _tiny_dataset(f"{server}/missing/tiny.zip"))
    with pytest.raises(GniError) as error:
        fetch("tiny", 5000)
    message = str(error.value)
    assert message.startswith("dataset tiny: the first 5,000 bytes are needed, but no copy")
    assert f"GNI_DATA_MIRROR={tmp_path / 'no/such/mirror'}, which does not exist" in message
    fix = "Fix: set GNI_DATA_MIRROR to a folder holding tiny.zip or tiny or tiny_first_8000_bytes"
    assert fix in message
    assert f"connect to the network ({server}/missing/tiny.zip" in message
    assert files_under(tmp_path / "data") == []


def test_the_manifest_describes_the_data_without_it(tiny, tmp_path):
    manifest = record_manifest("tiny", 5000)
    assert manifest == tmp_path / "results" / "datasets" / "tiny-first_5000.json"
    meta = json.loads((prepare("tiny", 5000) / "meta.json").read_text())
    del meta[DIGESTS]  # the digests of the local token files stay out of the manifest
    assert json.loads(manifest.read_text()) == meta
    assert record_manifest("tiny", 5000) == manifest  # unchanged the second time
    shutil.rmtree(tmp_path / "data")  # no data, no mirror, no network needed
    assert describe("tiny", 5000) == meta
    assert describe("tiny", 5000)["vocab_size"] == len(set(TEXT[:5000]))


def test_record_manifests_writes_one_per_dataset_and_size(tiny, tmp_path):
    written = record_manifests({"tiny": 5000})
    assert written == [tmp_path / "results" / "datasets" / "tiny-first_5000.json"]
    shutil.rmtree(tmp_path / "results")  # a store emptied for a regeneration ...
    assert record_manifests({"tiny": 5000}) == written  # ... gets its manifest back
    assert describe("tiny", 5000)["splits"] == split_sizes(DATASETS["tiny"], 5000)


def test_the_committed_store_describes_every_dataset_of_the_published_book():
    """`make book` needs no data because these manifests are committed (issue 22)."""
    root = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(
        ["git", "ls-files", "results/datasets"], cwd=root, capture_output=True, text=True
    ).stdout.split()
    for name, n_bytes in data_sizes(PUBLISHED_PROFILE).items():
        path = _manifest_path(name, n_bytes).relative_to(paths.results_dir())
        assert f"results/{path.as_posix()}" in tracked, f"results/{path} is not committed"


def test_training_data_leaves_no_manifest_behind(tiny, tmp_path):
    prepare("tiny", 5000)  # what a run does: the results store gets no file
    assert files_under(tmp_path / "results") == []


def test_describe_without_manifest_or_data_fails_fast_naming_the_dataset(tiny, monkeypatch, server):
    monkeypatch.setitem(DATASETS, "tiny", _tiny_dataset(f"{server}/missing/tiny.zip"))
    with pytest.raises(GniError, match=r"^dataset tiny: the first 5,000 bytes are needed"):
        describe("tiny", 5000)


def test_corrupt_file_in_the_mirror_is_an_error_naming_the_digests(tiny, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny").write_bytes(TEXT[:-1] + b"?")
    monkeypatch.setenv("GNI_DATA_MIRROR", str(mirror))
    with pytest.raises(GniError, match=f"sha256 {_sha(TEXT[:-1] + b'?')}, expected {_sha(TEXT)}"):
        fetch("tiny")
    (mirror / "tiny").write_bytes(TEXT[:100])
    with pytest.raises(GniError, match=r"100 bytes, expected 22,000 .*truncated"):
        fetch("tiny")


def _overwrite(path: Path, content: bytes) -> None:
    """Replace a file's bytes in place, its modification time moved on as by a later write."""
    st = path.stat()
    path.write_bytes(content)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_meta_json_records_the_sha256_of_each_token_file(tiny):
    folder = prepare("tiny")
    digests = json.loads((folder / "meta.json").read_text())[DIGESTS]
    assert digests == {
        n: _sha((folder / n).read_bytes()) for n in ("train.bin", "val.bin", "test.bin")
    }


def test_truncated_prepared_split_is_prepared_again(tiny, capsys):
    folder = prepare("tiny")
    original = (folder / "train.bin").read_bytes()
    _overwrite(folder / "train.bin", original[:100])
    assert TokenData("tiny").splits["train"].tobytes() == original
    assert capsys.readouterr().err == (
        f"gni: warning: {folder / 'train.bin'} does not match the sha256 recorded in meta.json "
        f"when it was prepared; preparing {folder} again from the text\n"
    )


def test_token_files_are_hashed_once_per_process_and_again_when_changed(tiny, monkeypatch, capsys):
    folder = prepare("tiny")  # the digests of the files it wrote are known
    hashed = []
    real = gni_data.file_digest

    def counting(path: Path, algorithm: str = "sha256") -> str:
        if path.suffix == ".bin":
            hashed.append(path.name)
        return real(path, algorithm)

    monkeypatch.setattr(gni_data, "file_digest", counting)
    TokenData("tiny")
    TokenData("tiny")
    assert hashed == []
    original = (folder / "val.bin").read_bytes()
    _overwrite(folder / "val.bin", bytes(len(original)))  # the right size, zeroed
    assert TokenData("tiny").splits["val"].tobytes() == original
    assert hashed == ["val.bin", "train.bin", "val.bin", "test.bin"]  # checked, then written
    assert capsys.readouterr().err.count("gni: warning:") == 1
    TokenData("tiny")
    assert len(hashed) == 4


def test_corrupt_token_file_without_its_text_is_an_error_naming_it(
    tiny, tmp_path, monkeypatch, server
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny_first_8000_bytes").write_bytes(TEXT[:8000])
    monkeypatch.setenv("GNI_DATA_MIRROR", str(mirror))
    folder = prepare("tiny", 5000)
    monkeypatch.delenv("GNI_DATA_MIRROR")
    monkeypatch.setitem(DATASETS, "tiny", _tiny_dataset(f"{server}/missing/tiny.zip"))
    _overwrite(folder / "train.bin", bytes((folder / "train.bin").stat().st_size))
    before = files_under(tmp_path / "data")
    with pytest.raises(GniError) as error:
        TokenData("tiny", 5000)
    assert str(error.value).startswith(
        f"{folder / 'train.bin'} does not match the sha256 recorded in meta.json when it was "
        "prepared, and it cannot be prepared again: dataset tiny: the first 5,000 bytes are "
        "needed"
    )
    assert files_under(tmp_path / "data") == before


def test_folder_prepared_by_an_older_gni_is_prepared_again(tiny, capsys):
    folder = prepare("tiny")
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != DIGESTS}))
    assert prepare("tiny") == folder
    assert capsys.readouterr().err == (
        f"gni: warning: {folder / 'meta.json'} records no digests of the token files (an older "
        f"gni prepared it); preparing {folder} again from the text\n"
    )
    assert json.loads((folder / "meta.json").read_text()) == meta


def test_missing_mirror_is_warned_about_once_by_its_absolute_path(tmp_path):
    checkout = str(Path(__file__).resolve().parents[1])  # this gni, from any directory
    env = os.environ | {
        "GNI_DATA_MIRROR": "no/such/mirror",
        "GNI_DATA_DIR": str(tmp_path),
        "PYTHONPATH": checkout,
    }
    code = "from gni.data import at_hand\nfor name in ('text8', 'enwik8', 'text8'): at_hand(name)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"gni: warning: GNI_DATA_MIRROR={tmp_path / 'no/such/mirror'} does not exist or is "
        "not a folder; it is ignored\n"
    )


def test_batches_come_from_the_generator_alone(tiny):
    data = TokenData("tiny")
    a = data.get_batch("train", 4, 16, torch.Generator().manual_seed(0))
    torch.manual_seed(123)  # the global generator plays no part
    b = data.get_batch("train", 4, 16, torch.Generator().manual_seed(0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    x, y = a
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the next characters
    assert data.decode(x[0].tolist()) in TEXT.decode()


def test_sequential_batches_cover_the_split_once(tiny):
    data = TokenData("tiny")
    batches = list(data.sequential_batches("val", batch_size=4, block_size=16))
    targets = torch.cat([y.reshape(-1) for _, y in batches])
    n_val = split_sizes(tiny, len(TEXT))["val"]
    assert targets.numel() == (n_val - 1) // 16 * 16
    assert np.array_equal(targets.numpy(), data.splits["val"][1 : 1 + targets.numel()])


def test_block_size_larger_than_a_split_is_an_error(tiny):
    data = TokenData("tiny")
    with pytest.raises(
        GniError,
        match="block_size=2000 needs more than 2000 characters, but the "
        "val split of tiny has 1,100",
    ):
        data.check_block_size(2000)


def test_shakespeare_is_split_as_in_nanogpt():
    """The real file, through the mirror (or the canonical URL)."""
    folder = prepare("shakespeare_char")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["splits"] == {"train": 1_003_854, "val": 111_540, "test": 0}
    assert meta["vocab_size"] == 65
    assert bytes(meta["vocab"]).decode() == "\n !$&',-.3:;?" + "".join(
        chr(c) for c in range(ord("A"), ord("Z") + 1)
    ) + "".join(chr(c) for c in range(ord("a"), ord("z") + 1))
    assert os.path.getsize(folder / "val.bin") == 2 * 111_540


@pytest.mark.parametrize(("name", "vocab_size"), [("enwik8", 200), ("text8", 27)])
def test_cpu_prefix_of_the_real_data(name, vocab_size):
    folder = prepare(name, 3_000_000)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["splits"] == {"train": 2_700_000, "val": 150_000, "test": 150_000}
    assert meta["vocab_size"] == vocab_size
    assert meta["text_sha256"] == DATASETS[name].prefix_sha256[3_000_000]


def test_a_cut_vocabulary_is_prepared_again(tiny, capsys):
    """Issue 23: a meta.json whose vocabulary was cut (its token digests still holding)
    crashed training with an IndexError in the embedding."""
    folder = prepare("tiny")
    meta = json.loads((folder / "meta.json").read_text())
    cut = meta | {"vocab": meta["vocab"][:3], "vocab_size": 3}
    (folder / "meta.json").write_text(json.dumps(cut))
    assert TokenData("tiny").vocab_size == meta["vocab_size"]
    assert "its vocabulary has 3 entries, train.bin uses more" in capsys.readouterr().err
    (folder / "meta.json").write_text(json.dumps(meta | {"vocab": meta["vocab"][:3]}))
    assert prepare("tiny") == folder
    assert "does not have vocab_size entries" in capsys.readouterr().err
    tampered = list(meta["vocab"])
    tampered[5] = 9999999  # the right length, a value no byte has
    (folder / "meta.json").write_text(json.dumps(meta | {"vocab": tampered}))
    assert prepare("tiny") == folder
    assert "its vocabulary is not distinct byte values" in capsys.readouterr().err
    assert json.loads((folder / "meta.json").read_text()) == meta


def test_a_truncated_manifest_is_written_again_or_named(tiny, tmp_path, monkeypatch, server):
    """Issue 23: `gni data prepare` gave a JSONDecodeError traceback."""
    manifest = record_manifest("tiny", 5000)
    good = manifest.read_text()
    manifest.write_text(good[:40])
    assert record_manifest("tiny", 5000) == manifest and manifest.read_text() == good
    manifest.write_text(good[:40])
    shutil.rmtree(tmp_path / "data")
    monkeypatch.setitem(DATASETS, "tiny", _tiny_dataset(f"{server}/missing/tiny.zip"))
    with pytest.raises(GniError, match=rf"^{re.escape(str(manifest))} cannot be read, and the"):
        describe("tiny", 5000)
