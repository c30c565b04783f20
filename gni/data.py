"""The three character-level datasets: fetch, verify, prepare, and sample batches.

Every dataset is read as bytes and tokenised one byte per token (all three are ASCII
except enwik8, which the paper models byte by byte). The vocabulary is the sorted set
of byte values in the text a profile uses, stored as JSON.

Fetching tries, in order: files already in the data folder (``GNI_DATA_DIR``), the
mirror folder (``GNI_DATA_MIRROR``), then the canonical URL. Every file is recognised
by its size and checked by its digest; a download goes to a temporary file that is
renamed only after its sha256 matches, so a failed or corrupt transfer leaves nothing.
A profile that needs only a prefix of the text (``n_bytes``) can use a verified
excerpt; the prefix has the same bytes whichever file it was cut from.

A prepared folder records the sha256 of each token file in its ``meta.json``; every
process checks each file once before using it (a file changed since is checked again)
and prepares the folder again from the verified text when a file does not match, when
``meta.json`` is missing, or when the folder was prepared by a gni that recorded no
digests. Each such repair prints one warning line on stderr naming the file.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gni import GniError, paths
from gni.atomic import atomic_dir, atomic_file

__all__ = [
    "DATASETS",
    "DIGESTS",
    "SPLITS",
    "Dataset",
    "Source",
    "TokenData",
    "at_hand",
    "describe",
    "download",
    "fetch",
    "file_digest",
    "get_dataset",
    "prepare",
    "prepared_dir",
    "prepared_problem",
    "reachable",
    "record_manifest",
    "record_manifests",
    "split_sizes",
]

if TYPE_CHECKING:  # torch is imported where batches are made: describing data needs none
    import torch

#: The splits, in the order they follow each other in the text.
SPLITS = ("train", "val", "test")
#: meta.json's key; token file name -> sha256 of its bytes
DIGESTS = "files_sha256"

# sha256 of the token files this process has read, by (path, size, mtime, inode): each
# file is hashed once per process, and again only when it has changed on disk
_digests: dict[tuple[str, int, int, int], str] = {}
_warned_mirrors: set[Path] = set()  # GNI_DATA_MIRROR values already warned about


def _warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"gni: warning: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Source:
    """One file that holds a dataset's text, or a zip of it, or the first bytes of it."""

    filename: str
    size: int  # bytes on disk
    sha256: str | None
    kind: str = "raw"  # raw (the whole text) | zip (holds `member`) | excerpt (a prefix)
    member: str | None = None  # the text's name inside a zip
    md5: str | None = None  # only where no sha256 has been published (unzipped text8)

    def check(self, path: Path, label: str | None = None) -> None:
        """Raise GniError naming the expected and actual digest if ``path`` is not this file.

        ``label`` names the file in the message (default: its path).
        """
        label = label or str(path)
        size = path.stat().st_size
        if size != self.size:
            raise GniError(
                f"{label}: {size:,} bytes, expected {self.size:,} ({self.filename}); "
                "the file is truncated or not the right one: delete it and fetch again"
            )
        algorithm, expected = ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)
        actual = file_digest(path, algorithm)
        if actual != expected:
            raise GniError(
                f"{label}: {algorithm} {actual}, expected {expected} ({self.filename}); "
                "the file is corrupt or not the right one: delete it and fetch again"
            )


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str  # the canonical download
    text_bytes: int  # length of the whole (unzipped) text
    split_fractions: tuple[float, float, float]  # train, val, test (test may be 0)
    sources: tuple[Source, ...]
    # sha256 of the first n bytes, for prefixes a profile uses: checks a prefix cut
    # from any source against the published excerpts.
    prefix_sha256: dict[int, str] = field(default_factory=dict)
    full_vocab_size: int = 0  # distinct bytes in the whole text (what the paper's models see)
    description: str = ""

    @property
    def download(self) -> Source:
        """The source at ``url``."""
        name = self.url.rsplit("/", 1)[-1]
        return next(s for s in self.sources if s.filename == name)

    @property
    def full_text(self) -> Source:
        return next(s for s in self.sources if s.kind == "raw")


#: The three datasets by name.
DATASETS: dict[str, Dataset] = {
    "shakespeare_char": Dataset(
        name="shakespeare_char",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        text_bytes=1_115_394,
        split_fractions=(0.9, 0.1, 0.0),
        sources=(
            Source(
                "input.txt",
                1_115_394,
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            ),
        ),
        full_vocab_size=65,
        description="tiny Shakespeare (Karpathy's char-rnn), 65 characters, no test split",
    ),
    "enwik8": Dataset(
        name="enwik8",
        url="http://mattmahoney.net/dc/enwik8.zip",
        text_bytes=100_000_000,
        split_fractions=(0.9, 0.05, 0.05),
        sources=(
            Source(
                "enwik8.zip",
                36_445_475,
                "547994d9980ebed1288380d652999f38a14fe291a6247c157c3d33d4932534bc",
                kind="zip",
                member="enwik8",
            ),
            Source(
                "enwik8",
                100_000_000,
                "2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8",
            ),
            Source(
                "enwik8_first_4154064_bytes",
                4_154_064,
                "d8b3b95fb4993726ea7dcc93ae3c9e08a1a04cc540d05d7656fd267cc8ab5d6a",
                kind="excerpt",
            ),
        ),
        prefix_sha256={
            3_000_000: "72953fccfeb78e55251024bd6ffbe269d1d8d730ce2e4fb028117a3613c45aac"
        },
        full_vocab_size=205,
        description="first 10^8 bytes of English Wikipedia (Hutter prize), byte level",
    ),
    "text8": Dataset(
        name="text8",
        url="http://mattmahoney.net/dc/text8.zip",
        text_bytes=100_000_000,
        split_fractions=(0.9, 0.05, 0.05),
        sources=(
            Source(
                "text8.zip",
                31_344_016,
                "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232",
                kind="zip",
                member="text8",
            ),
            Source("text8", 100_000_000, None, md5="3bea1919949baf155f99411df5fada7e"),
            Source(
                "text8_first_3010294_bytes_reconstructed",
                3_010_294,
                "f3413b8d00bc41ef9dda3f92d1c7d028545d385ed476e518fdb0491f57e5a137",
                kind="excerpt",
            ),
        ),
        prefix_sha256={
            3_000_000: "3d70b4c8ba7ef3dccce164db77b68be402fbbcff3b1323d2e675007da1ba8a91"
        },
        full_vocab_size=27,
        description="enwik9 filtered to lowercase a-z and spaces (Mahoney), first 10^8 bytes",
    ),
}


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name`` (a key of :data:`DATASETS`); GniError for another."""
    if name not in DATASETS:
        raise GniError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of the file at ``path`` (``hashlib``'s ``algorithm``), read in 1 MiB
    chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, source: Source, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through a temporary file, checking length and digest.

    Raises GniError (and leaves no file) on a network error, a truncated transfer or
    a digest mismatch.
    """
    with atomic_file(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as f:
                shutil.copyfileobj(response, f, length=1 << 20)
                announced = response.headers.get("Content-Length")
            received = tmp.stat().st_size
            if announced is not None and received != int(announced):
                raise GniError(
                    f"download of {url} was truncated: received {received:,} of "
                    f"{int(announced):,} bytes; try again"
                )
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            # a short body (the server closed early) is http.client.IncompleteRead
            raise GniError(f"download of {url} failed: {type(e).__name__}: {e}") from e
        source.check(tmp, label=f"download of {url}")
    return dest


def _extract(zip_path: Path, member: str, dest: Path, expected: Source) -> Path:
    with atomic_file(dest) as tmp:
        try:
            with zipfile.ZipFile(zip_path) as zf, zf.open(member) as src, open(tmp, "wb") as f:
                shutil.copyfileobj(src, f, length=1 << 20)
        except (zipfile.BadZipFile, KeyError) as e:
            raise GniError(f"{zip_path}: cannot extract {member!r}: {e}") from e
        expected.check(tmp)
    return dest


def _mirror() -> Path | None:
    """The mirror folder, or None; a mirror that is no folder is warned about once per process."""
    mirror = paths.data_mirror()
    if mirror is None or mirror.is_dir():
        return mirror
    if mirror not in _warned_mirrors:
        _warned_mirrors.add(mirror)
        _warn(f"GNI_DATA_MIRROR={mirror} does not exist or is not a folder; it is ignored")
    return None


def _search_folders(dataset: Dataset) -> list[Path]:
    """Folders that may hold the dataset's files: the data folder, then the mirror."""
    folders = [paths.data_dir() / dataset.name]
    mirror = _mirror()
    if mirror is not None:
        folders += [mirror / dataset.name, mirror]
    return [f for f in folders if f.is_dir()]


def _local_sources(dataset: Dataset) -> list[tuple[Source, Path]]:
    """Verified (source, path) pairs found on disk.

    A file that carries a source's name but fails its check is an error, not skipped:
    a corrupt file should be noticed, not silently shadowed.
    """
    found = []
    for folder in _search_folders(dataset):
        for source in dataset.sources:
            path = folder / source.filename
            if path.is_file():
                source.check(path)
                found.append((source, path))
        # excerpts may be renamed in a mirror: recognise them by size, then digest
        for path in sorted(folder.iterdir()):
            for source in dataset.sources:
                if (
                    source.kind == "excerpt"
                    and path.is_file()
                    and path.name != source.filename
                    and path.stat().st_size == source.size
                    and file_digest(path) == source.sha256
                ):
                    found.append((source, path))
    return found


def at_hand(name: str, n_bytes: int | None = None) -> bool:
    """True when the data folder or the mirror holds what ``fetch`` needs (no network)."""
    dataset = get_dataset(name)
    needed = dataset.text_bytes if n_bytes is None else n_bytes
    return any(s.kind == "zip" or s.size >= needed for s, _ in _local_sources(dataset))


def reachable(name: str, timeout_s: float = 5.0) -> bool:
    """True when the dataset's canonical URL answers a HEAD request within ``timeout_s``."""
    request = urllib.request.Request(get_dataset(name).url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return True
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False


def fetch(name: str, n_bytes: int | None = None) -> Path:
    """A verified local file whose first ``n_bytes`` (None: all) are the dataset's text.

    Uses what is on disk when it suffices, extracts a zip when needed, and downloads
    from the canonical URL as the last resort.
    """
    dataset = get_dataset(name)
    needed = dataset.text_bytes if n_bytes is None else n_bytes
    if not 0 < needed <= dataset.text_bytes:
        raise GniError(
            f"{name}: n_bytes={n_bytes} is out of range; allowed 1..{dataset.text_bytes:,}"
        )
    local = _local_sources(dataset)
    usable = [(s, p) for s, p in local if s.kind != "zip" and s.size >= needed]
    if usable:
        return min(usable, key=lambda sp: sp[0].size)[1]  # smallest file that suffices
    target = paths.data_dir() / name / dataset.full_text.filename
    zips = [(s, p) for s, p in local if s.kind == "zip"]
    if zips:
        source, path = zips[0]
        return _extract(path, source.member or name, target, dataset.full_text)
    download_path = paths.data_dir() / name / dataset.download.filename
    try:
        download(dataset.url, download_path, dataset.download)
    except GniError as e:
        raise GniError(_not_at_hand(dataset, needed, local, e)) from None
    if dataset.download.kind == "zip":
        target = _extract(download_path, dataset.download.member or name, target, dataset.full_text)
        download_path.unlink()
        return target
    return download_path


def _not_at_hand(
    dataset: Dataset, needed: int, local: list[tuple[Source, Path]], error: GniError
) -> str:
    """What was looked for, where (absolute paths), why it failed, and how to fix it."""
    mirror = paths.data_mirror()
    if mirror is None:
        mirror_text = "GNI_DATA_MIRROR is not set"
    else:
        missing = "" if mirror.is_dir() else ", which does not exist"
        mirror_text = f"GNI_DATA_MIRROR={mirror}{missing}"
    excerpts = [s for s, _ in local if s.kind == "excerpt"]
    have = (
        f"only the excerpt {excerpts[0].filename} ({excerpts[0].size:,} bytes) is at hand"
        if excerpts
        else "no copy is at hand"
    )
    usable = [s.filename for s in dataset.sources if s.size >= needed or s.kind == "zip"]
    return (
        f"dataset {dataset.name}: the first {needed:,} bytes are needed, but {have} "
        f"(looked in {paths.data_dir() / dataset.name}; {mirror_text}), and {error}. "
        f"Fix: set GNI_DATA_MIRROR to a folder holding {' or '.join(usable)}, or connect "
        f"to the network ({dataset.url}, sha256 {dataset.download.sha256})."
    )


def split_sizes(dataset: Dataset, n: int) -> dict[str, int]:
    """Characters in each split of an n-character text (train first, then val, then test)."""
    f_train, f_val, f_test = dataset.split_fractions
    n_train = int(n * f_train)
    n_val = int(n * f_val) if f_test > 0 else n - n_train
    return {"train": n_train, "val": n_val, "test": n - n_train - n_val}


def prepared_dir(name: str, n_bytes: int | None) -> Path:
    """Where dataset ``name`` is prepared from its first ``n_bytes`` bytes (None: all):
    ``<data dir>/<name>/prepared/first_<n>`` or ``.../full``."""
    tag = "full" if n_bytes is None else f"first_{n_bytes}"
    return paths.data_dir() / name / "prepared" / tag


def _manifest_path(name: str, n_bytes: int | None) -> Path:
    return paths.results_dir() / "datasets" / f"{name}-{prepared_dir(name, n_bytes).name}.json"


def _public(meta: dict) -> dict:
    """``meta.json`` without the digests of the local token files (the manifest's content)."""
    return {key: value for key, value in meta.items() if key != DIGESTS}


def record_manifest(name: str, n_bytes: int | None = None) -> Path:
    """Prepare the data and record its ``meta.json`` in the results store; returns the file.

    The manifest (vocabulary, split sizes, digest of the text) is small and committed
    with the run records, so pages that describe the data (the setup chapter) need
    neither the data nor the network. ``gni data prepare`` writes it.
    """
    meta = _public(json.loads((prepare(name, n_bytes) / "meta.json").read_text()))
    path = _manifest_path(name, n_bytes)
    if _read_manifest(path) == meta:
        return path  # a manifest that cannot be read is written again, like a changed one
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(meta, indent=1) + "\n")
    return path


def record_manifests(sizes: Mapping[str, int | None]) -> list[Path]:
    """:func:`record_manifest` for each dataset name -> bytes used (None: the whole text).

    Whatever rewrites the results store (a regeneration of the book from an empty store)
    calls it, so that the store keeps the manifests the book reads without the data.
    """
    return [record_manifest(name, n_bytes) for name, n_bytes in sizes.items()]


def describe(name: str, n_bytes: int | None = None) -> dict:
    """What ``prepare(name, n_bytes)`` finds: vocab, vocab_size, splits, text_sha256.

    Read from the manifest in the results store when it is there (no data needed, see
    :func:`record_manifest`); otherwise the data is prepared, which needs a local copy
    or the network.
    """
    get_dataset(name)
    path = _manifest_path(name, n_bytes)
    manifest = _read_manifest(path)
    if manifest is not None:
        return manifest
    try:
        return _public(json.loads((prepare(name, n_bytes) / "meta.json").read_text()))
    except GniError as e:
        if not path.exists():
            raise
        raise GniError(
            f"{path} cannot be read, and the data to write it again is not at hand: {e}"
        ) from None


def _read_manifest(path: Path) -> dict | None:
    """A data manifest's content; None when it is missing or cannot be read (truncated,
    say: it is derived from the data, so it is written again rather than trusted)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and "vocab_size" in value else None


def _token_file_digest(path: Path) -> str | None:
    """sha256 of a token file, hashed once per process while the file is unchanged;
    None when it cannot be read."""
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _digests:
            _digests[key] = file_digest(path)
    except OSError:
        return None
    return _digests[key]


def prepared_problem(folder: Path) -> str | None:
    """Why a prepared folder cannot be used as it is (naming the file), or None when each
    token file matches the sha256 that ``meta.json`` recorded when it was prepared."""
    meta_path = folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        return f"{meta_path} is missing"
    except (OSError, ValueError) as e:
        return f"{meta_path} cannot be read ({type(e).__name__}: {e})"
    digests = meta.get(DIGESTS) if isinstance(meta, dict) else None
    if not isinstance(digests, dict):
        return f"{meta_path} records no digests of the token files (an older gni prepared it)"
    for split in SPLITS:
        path = folder / f"{split}.bin"
        if split not in meta.get("splits", {}) or f"{split}.bin" not in digests:
            return f"{meta_path} does not describe {path.name}"
        if _token_file_digest(path) != digests[f"{split}.bin"]:
            return f"{path} does not match the sha256 recorded in meta.json when it was prepared"
    vocab = meta.get("vocab")
    if not isinstance(vocab, list) or len(vocab) != meta.get("vocab_size"):
        return f"{meta_path}: its vocabulary does not have vocab_size entries"
    if not all(type(b) is int and 0 <= b < 256 for b in vocab) or len(set(vocab)) != len(vocab):
        return f"{meta_path}: its vocabulary is not distinct byte values"
    if vocab != sorted(vocab):  # gni writes the bytes of the text in order
        return f"{meta_path}: its vocabulary is not in byte order"
    for split in SPLITS:  # every token an id of the vocabulary (the digests do not cover it)
        path = folder / f"{split}.bin"
        if path.stat().st_size == 0:  # no such split (shakespeare_char has no test split)
            continue
        tokens = np.memmap(path, dtype=np.uint16, mode="r")
        if int(tokens.max()) >= len(vocab):
            return f"{meta_path}: its vocabulary has {len(vocab)} entries, {split}.bin uses more"
    return None


def _verified_text(dataset: Dataset, n_bytes: int | None) -> tuple[bytes, str]:
    """The first ``n_bytes`` of the text and their sha256, checked against the published
    digests of the whole text and of prefixes."""
    text = fetch(dataset.name, n_bytes).read_bytes()[: n_bytes or dataset.text_bytes]
    digest = hashlib.sha256(text).hexdigest()
    expected = dataset.prefix_sha256.get(len(text))
    if len(text) == dataset.text_bytes and len(text) == dataset.full_text.size:
        expected = dataset.full_text.sha256
    if expected is not None and digest != expected:
        raise GniError(
            f"{dataset.name}: the first {len(text):,} bytes have sha256 {digest}, "
            f"expected {expected}"
        )
    return text, digest


def prepare(name: str, n_bytes: int | None = None) -> Path:
    """Tokenise the first ``n_bytes`` of a dataset into uint16 memmaps and a JSON vocab.

    Writes ``train.bin``, ``val.bin``, ``test.bin`` (empty when the dataset has no
    test split) and ``meta.json`` (with the sha256 of each token file) into a temporary
    folder, renamed into place when complete. Returns the folder. A folder already
    prepared is used as it is when its files match their digests (see
    :func:`prepared_problem`); otherwise it is prepared again from the text, with one
    warning line, or, when the text is not at hand, a GniError names the broken file.
    """
    dataset = get_dataset(name)
    out = prepared_dir(name, n_bytes)
    problem = prepared_problem(out) if out.exists() else None
    if out.exists() and problem is None:
        return out
    try:
        text, digest = _verified_text(dataset, n_bytes)
    except GniError as e:
        if problem is None:
            raise
        raise GniError(f"{problem}, and it cannot be prepared again: {e}") from e
    if problem is not None:
        _warn(f"{problem}; preparing {out} again from the text")
    _write_prepared(dataset, text, digest, out)
    return out


def _write_prepared(dataset: Dataset, text: bytes, text_sha256: str, out: Path) -> None:
    """Tokenise ``text`` and write the prepared folder ``out`` all or nothing."""
    array = np.frombuffer(text, dtype=np.uint8)
    vocab = np.unique(array)
    lookup = np.zeros(256, dtype=np.uint16)
    lookup[vocab] = np.arange(len(vocab), dtype=np.uint16)
    ids = lookup[array]
    sizes = split_sizes(dataset, len(ids))
    meta = {
        "dataset": dataset.name,
        "n_bytes": len(text),
        "text_sha256": text_sha256,
        "vocab_size": len(vocab),
        "vocab": vocab.tolist(),  # token id -> byte value
        "splits": sizes,
    }
    with atomic_dir(out, complete=lambda folder: prepared_problem(folder) is None) as tmp:
        start, digests = 0, {}
        for split in SPLITS:
            name = f"{split}.bin"
            ids[start : start + sizes[split]].tofile(tmp / name)
            digests[name] = file_digest(tmp / name)
            start += sizes[split]
            # known for the final path too, should this copy be the one renamed into place
            st = (tmp / name).stat()
            _digests[(str(out / name), st.st_size, st.st_mtime_ns, st.st_ino)] = digests[name]
        (tmp / "meta.json").write_text(json.dumps(meta | {DIGESTS: digests}, indent=1))


class TokenData:
    """The prepared splits of one dataset, read through memmaps.

    ``train_chars`` keeps only the first characters of the train split (a profile that
    must overfit in a short run uses it); val and test are always whole.
    """

    def __init__(self, name: str, n_bytes: int | None = None, train_chars: int | None = None):
        folder = prepare(name, n_bytes)
        self.name = name
        self.meta = json.loads((folder / "meta.json").read_text())
        self.vocab: list[int] = self.meta["vocab"]
        self.splits: dict[str, np.ndarray] = {}
        for split in SPLITS:
            path = folder / f"{split}.bin"
            expected = self.meta["splits"][split]
            actual = path.stat().st_size // 2 if path.is_file() else 0
            if actual != expected:
                raise GniError(
                    f"{path}: holds {actual:,} tokens, meta.json says {expected:,}; the "
                    f"prepared data is corrupt: delete {folder} and prepare again"
                )
            if expected:
                self.splits[split] = np.memmap(path, dtype=np.uint16, mode="r")
        if train_chars is not None:
            if not 0 < train_chars <= len(self.splits["train"]):
                raise GniError(
                    f"train_chars={train_chars} is out of range for {name}; allowed "
                    f"1..{len(self.splits['train']):,} (the train split's length)"
                )
            self.splits["train"] = self.splits["train"][:train_chars]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, ids: list[int]) -> str:
        return bytes(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def check_block_size(self, block_size: int) -> None:
        for split, data in self.splits.items():
            if len(data) <= block_size:
                raise GniError(
                    f"block_size={block_size} needs more than {block_size} characters, but "
                    f"the {split} split of {self.name} has {len(data):,}"
                )

    def get_batch(
        self,
        split: str,
        batch_size: int,
        block_size: int,
        generator: torch.Generator,
        device: str | torch.device = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: inputs x (B, T) and next-character targets y (B, T), int64.

        Start positions come from ``generator`` alone, so the batches of a run depend
        only on its seed.
        """
        import torch

        data = self.splits[split]
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        windows = np.stack([data[i : i + block_size + 1] for i in starts.tolist()])
        xy = torch.from_numpy(windows.astype(np.int64))
        x, y = xy[:, :-1], xy[:, 1:]
        if torch.device(device).type == "cuda":
            return (
                x.pin_memory().to(device, non_blocking=True),
                y.pin_memory().to(device, non_blocking=True),
            )
        return x.contiguous(), y.contiguous()

    def sequential_batches(
        self, split: str, batch_size: int, block_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Non-overlapping windows covering the whole split, for the final evaluation.

        Every character after the first is predicted once (the trailing remainder
        shorter than a window is dropped).
        """
        import torch

        data = self.splits[split]
        n_windows = (len(data) - 1) // block_size
        for first in range(0, n_windows, batch_size):
            starts = range(
                first * block_size, min(first + batch_size, n_windows) * block_size, block_size
            )
            windows = np.stack([data[i : i + block_size + 1] for i in starts])
            xy = torch.from_numpy(windows.astype(np.int64))
            yield xy[:, :-1].contiguous(), xy[:, 1:].contiguous()
