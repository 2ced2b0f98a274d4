"""Course datasets as tensors in [-1, 1] and as DataLoaders.

Sources:
- MNIST (LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/): the four original IDX
  gzip files, md5 as in torchvision's ``torchvision/datasets/mnist.py``.
- Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist,
  MIT): the four original IDX gzip files, md5 as in torchvision.
- Flowers: TensorFlow's ``flower_photos`` (5 classes: daisy, dandelion, roses, sunflowers,
  tulips; photos CC BY 2.0, photographers credited per photo in ``ATTRIBUTION.txt``),
  centre-cropped to a square and resized with PIL LANCZOS to 32x32 and 64x64, stored as
  ``flowers5_32x32.npz`` / ``flowers5_64x64.npz`` (arrays ``images`` (N,H,W,3) uint8,
  ``labels`` int64, ``class_names``, ``filenames``).

Where data is found (the first root holding the file asked for wins, see
:func:`data_root_candidates`):
1. ``$COURSE_DATA_DIR`` (read only: nothing is ever written there);
2. in a source checkout, the course's shared copy beside the repository, ``../shared/data``
   (:data:`SHARED_DATA_DIR`, read only), then ``<repo>/data/``;
3. the user cache, ``$COURSE_CACHE_DIR`` or ``~/.cache/diffusion-course``;
4. a download, unless ``COURSE_OFFLINE`` is set: into ``<repo>/data/`` when that is writable,
   else into the user cache (e.g. a pip install in Colab). The flower photos are downloaded as
   TensorFlow's ``flower_photos.tgz`` and turned into the npz files by
   :mod:`helpers.prepare_flowers`.

Each root holds ``MNIST/raw/*.gz``, ``FashionMNIST/raw/*.gz`` (torchvision's layout) and
``flowers/flowers5_{32x32,64x64}.npz`` + ``flowers/ATTRIBUTION.txt``; a root may hold only
some of them (e.g. only the 32x32 flowers). The IDX files are read directly (gzip + numpy);
nothing is unpacked on disk. Every file is checksummed once per process (md5 for the IDX
files, sha256 for the npz files) and its header/size checked; a bad file raises
:class:`CorruptDataError` naming it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from . import paths
from .paths import REPO_DATA_DIR, REPO_DIR, SHARED_DATA_DIR, cache_dir, data_root_candidates, default_data_dir  # noqa: F401

__all__ = [
    "DataNotFoundError", "CorruptDataError",
    "MNIST_CLASSES", "FASHION_CLASSES", "FLOWER_CLASSES",
    "SHARED_DATA_DIR", "data_root_candidates", "default_data_dir", "find_dataset", "cache_dir",
    "load_mnist", "load_fashion_mnist", "load_flowers", "stratified_split",
    "make_loader",
    "to_unit", "to_signed", "random_mirror", "mirror_shift",
]

# --------------------------------------------------------------------------- constants

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FLOWER_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")

# where the datasets are looked for: helpers/paths.py (re-exported here; no torch, for the grading process)

MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/")
# mirrors, tried in order: Zalando's bucket (torchvision's), Keras's bucket, the dataset's own repository
FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/")
FLOWERS_URL = ("https://storage.googleapis.com/download.tensorflow.org/"
               "example_images/flower_photos.tgz")
# sha256 of flower_photos.tgz (228,813,984 bytes), as tensorflow/datasets records it
# (tensorflow_datasets/url_checksums/tf_flowers.txt): checked before the archive is opened
FLOWERS_TGZ_SHA256 = "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"

# file name -> md5 (torchvision's tables; identical for the shared copies)
_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# sha256 of the shared flower npz files (shared/data/flowers/README.md). A copy built by
# helpers.prepare_flowers differs; it has a sidecar "<file>.sha256" written next to it.
_FLOWERS_SHA256 = {
    "flowers5_32x32.npz": "72cc6c01de104d9594122b2e36c9e4144c550db1a966f7f6d932c085086f104d",
    "flowers5_64x64.npz": "b2cc6b934ab48be501abfe54caf84e4c1bedcdf23c6e7a3ad9f1637e99967eef",
}
_FLOWER_SIZES = (32, 64)

# name -> (sub-folder of a data root, its files, download URLs)
_DATASETS = {
    "mnist": ("MNIST/raw", tuple(_MNIST_MD5), MNIST_URLS),
    "fashion_mnist": ("FashionMNIST/raw", tuple(_FASHION_MD5), FASHION_URLS),
    "flowers": ("flowers", tuple(f"flowers5_{s}x{s}.npz" for s in _FLOWER_SIZES), (FLOWERS_URL,)),
}
_ALIASES = {"mnist": "mnist", "fashion": "fashion_mnist", "fashion_mnist": "fashion_mnist",
            "fashionmnist": "fashion_mnist", "fashion-mnist": "fashion_mnist",
            "flowers": "flowers", "flower": "flowers", "flowers5": "flowers"}


class DataNotFoundError(FileNotFoundError):
    """No copy of a dataset was found and none could be downloaded."""


class CorruptDataError(RuntimeError):
    """A dataset file exists but is truncated, corrupt or not the expected file."""


# --------------------------------------------------------------------------- resolution

def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _canonical(name: str) -> str:
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown dataset {name!r}; expected one of 'mnist', 'fashion_mnist', 'flowers'")
    return _ALIASES[key]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def _download_root() -> Path:
    """Where downloads go: ``<repo>/data`` when writable, else the user cache (never COURSE_DATA_DIR)."""
    if paths._is_source_checkout() and _writable(paths.REPO_DATA_DIR):
        return paths.REPO_DATA_DIR
    root = paths.cache_dir()
    if not _writable(root):
        raise DataNotFoundError(f"cannot write downloads to {paths.REPO_DATA_DIR} or {root}; "
                                "set COURSE_CACHE_DIR to a writable folder or COURSE_DATA_DIR to a copy")
    return root


def _not_found_message(name: str, reason: str, files=()) -> str:
    sub, all_files, urls = _DATASETS[name]
    files = files or all_files
    searched = "\n".join(f"  - {r / sub}" for r in data_root_candidates())
    return (
        f"{name} not found ({reason}). Looked for {', '.join(files)} in:\n{searched}\n"
        f"Fix: set COURSE_DATA_DIR to a folder holding {sub}/ (e.g. export COURSE_DATA_DIR=../shared/data), "
        f"or unset COURSE_OFFLINE and connect to the internet to download from {urls[0]}"
    )


def _by_hand(name: str, folder: Path) -> str:
    """What to download by hand, from where, and where to put it, when every mirror failed."""
    sub, files, urls = _DATASETS[name]
    if name == "flowers":
        return (f"By hand: download {FLOWERS_URL} (sha256 {FLOWERS_TGZ_SHA256}), then run\n"
                f"  python -m helpers.prepare_flowers --tgz flower_photos.tgz --out {folder}")
    mirrors = "\n".join(f"  {u}" for u in urls)
    return (f"By hand: download {', '.join(files)} from any of\n{mirrors}\n"
            f"into {folder} (or into {sub}/ of a folder that COURSE_DATA_DIR names).")


def find_dataset(name: str, *files: str, download: bool | None = None) -> Path:
    """Return the folder of dataset ``name`` ('mnist', 'fashion_mnist', 'flowers') holding ``files``
    (names inside that folder, e.g. ``"flowers5_32x32.npz"``; none given: all of the dataset's files).

    Searches :func:`data_root_candidates` in order; if none has the files, downloads the dataset
    (unless ``download=False`` or ``COURSE_OFFLINE`` is set) and returns the new folder.
    Raises :class:`DataNotFoundError` with the places searched, ``COURSE_DATA_DIR`` and the URL.
    """
    name = _canonical(name)
    sub, all_files, _ = _DATASETS[name]
    files = files or all_files
    for root in data_root_candidates():
        folder = root / sub
        if all((folder / f).is_file() for f in files):
            return folder
    if download is None:
        download = not _env_flag("COURSE_OFFLINE")
    if not download:
        raise DataNotFoundError(_not_found_message(name, "downloads disabled: COURSE_OFFLINE is set", files))
    folder = _download_root() / sub
    try:
        if name == "flowers":
            from .prepare_flowers import download_flowers  # builds the npz files from the photos
            download_flowers(folder)
        else:
            _download_idx(name, folder)
    except DataNotFoundError:
        raise
    except Exception as err:  # network errors of every kind, a download that fails its checksum
        raise DataNotFoundError(_not_found_message(name, f"download failed: {err!r}", files) + "\n"
                                + _by_hand(name, folder)) from err
    return folder


# --------------------------------------------------------------------------- checksums

_VERIFIED: dict[tuple, str] = {}  # (path, size, mtime_ns, algo) -> digest, per process
_ARRAYS: dict[tuple, object] = {}  # (path, size, mtime_ns) -> decoded arrays, per process


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _digest(path: Path, algo: str) -> str:
    key = _stat_key(path) + (algo,)
    if key not in _VERIFIED:
        h = hashlib.new(algo)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def _corrupt(path: Path, what: str) -> CorruptDataError:
    return CorruptDataError(
        f"{path} is corrupt or truncated ({what}). Delete it and run again to re-download it "
        f"(or point COURSE_DATA_DIR at a good copy; downloads come from {_url_for(path)})."
    )


def _url_for(path: Path) -> str:
    if path.name.startswith("flowers5") or path.parent.name == "flowers":
        return FLOWERS_URL
    if "Fashion" in str(path):
        return FASHION_URLS[0] + path.name
    return MNIST_URLS[0] + path.name


def _check_md5(path: Path, expected: str) -> None:
    got = _digest(path, "md5")
    if got != expected:
        raise _corrupt(path, f"md5 {got} != expected {expected}")


def _check_flowers_sha256(path: Path) -> None:
    got = _digest(path, "sha256")
    if got == _FLOWERS_SHA256.get(path.name):
        return
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file() and sidecar.read_text().split()[:1] == [got]:
        return  # a copy built from flower_photos.tgz by helpers.prepare_flowers
    raise _corrupt(path, f"sha256 {got} matches neither the published copy nor a local {sidecar.name}")


# --------------------------------------------------------------------------- MNIST / Fashion-MNIST

def _parse_idx(path: Path, n_expected: int | None = None) -> np.ndarray:
    """Decode one IDX .gz file (magic 2049 labels or 2051 images) with header/size checks."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, OSError, zlib.error) as err:
        raise _corrupt(path, f"gzip: {err}") from err
    if len(raw) < 8:
        raise _corrupt(path, "file shorter than an IDX header")
    magic, n = struct.unpack(">II", raw[:8])
    if n_expected is not None and n != n_expected:
        raise _corrupt(path, f"header says {n} items, expected {n_expected}")
    if magic == 2049:
        if len(raw) != 8 + n:
            raise _corrupt(path, f"{len(raw) - 8} label bytes for {n} items")
        arr = np.frombuffer(raw, dtype=np.uint8, offset=8)
        if arr.size and arr.max() > 9:
            raise _corrupt(path, f"label {arr.max()} out of range 0-9")
        return arr
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (28, 28) or len(raw) != 16 + n * rows * cols:
            raise _corrupt(path, f"{rows}x{cols} images, {len(raw) - 16} pixel bytes for {n} items")
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    raise _corrupt(path, f"bad IDX magic number {magic}")


def _read_idx_split(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    md5 = _MNIST_MD5 if name == "mnist" else _FASHION_MD5
    prefix, n = ("train", 60000) if split == "train" else ("t10k", 10000)
    names = [f"{prefix}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
    folder = find_dataset(name, *names)
    out = []
    for fname in names:
        path = folder / fname
        key = _stat_key(path)
        if key not in _ARRAYS:
            _check_md5(path, md5[path.name])
            _ARRAYS[key] = _parse_idx(path, n)
        out.append(_ARRAYS[key])
    return out[0], out[1]


def _to_tensors(images: np.ndarray, labels: np.ndarray, limit: int | None, pad: int):
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32)) / 127.5 - 1.0  # (N, 28, 28) in [-1, 1]
    x = x.unsqueeze(1)  # (N, 1, 28, 28)
    if pad:
        x = F.pad(x, (pad, pad, pad, pad), value=-1.0)  # (N, 1, 28+2p, 28+2p)
    y = torch.from_numpy(labels.astype(np.int64))  # (N,)
    return x, y


def load_mnist(split: str = "train", limit: int | None = None, pad: int = 0):
    """MNIST digits: ``(images, labels)``, images float32 (N, 1, 28+2*pad, 28+2*pad) in [-1, 1]
    (background -1; ``pad=2`` gives 32x32, padded with -1), labels int64 (N,) in 0..9.
    ``limit`` keeps the first ``limit`` items (same items every call)."""
    return _to_tensors(*_read_idx_split("mnist", split), limit, pad)


def load_fashion_mnist(split: str = "train", limit: int | None = None, pad: int = 0):
    """Fashion-MNIST, same format as :func:`load_mnist`; class names in ``FASHION_CLASSES``."""
    return _to_tensors(*_read_idx_split("fashion_mnist", split), limit, pad)


# --------------------------------------------------------------------------- flowers

def _read_flowers_npz(size: int) -> dict:
    if size not in _FLOWER_SIZES:
        raise ValueError(f"size must be one of {_FLOWER_SIZES}, got {size!r}")
    fname = f"flowers5_{size}x{size}.npz"
    path = find_dataset("flowers", fname) / fname
    key = _stat_key(path)
    if key in _ARRAYS:
        return _ARRAYS[key]
    _check_flowers_sha256(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in ("images", "labels", "class_names", "filenames")}
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise _corrupt(path, f"npz: {err}") from err
    n = len(d["labels"])
    if (d["images"].dtype != np.uint8 or d["images"].shape != (n, size, size, 3)
            or d["labels"].dtype != np.int64 or len(d["filenames"]) != n
            or tuple(d["class_names"].tolist()) != FLOWER_CLASSES
            or (n and (d["labels"].min() < 0 or d["labels"].max() >= len(FLOWER_CLASSES)))):
        raise _corrupt(path, f"unexpected arrays: images {d['images'].shape} {d['images'].dtype}, "
                             f"labels {d['labels'].shape}, class_names {d['class_names'].tolist()}")
    _ARRAYS[key] = d
    return d


def stratified_split(filenames, labels, test_fraction: float = 0.2, seed: int = 0):
    """Fixed, seeded, stratified split -> ``(train_idx, test_idx)``, sorted int64 arrays.

    Within each class, photos are ordered by ``sha256(f"{seed}:{filename}")`` and the first
    ``floor(test_fraction * n_class + 0.5)`` go to test. The split depends only on the file
    names, labels, ``test_fraction`` and ``seed`` (not on array order, numpy or torch), so it
    is the same on every call and every machine.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    names = [str(f) for f in filenames]
    test: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        order = sorted(idx, key=lambda i: (hashlib.sha256(f"{seed}:{names[i]}".encode()).hexdigest(), names[i]))
        test.extend(order[: int(math.floor(test_fraction * len(idx) + 0.5))])
    test_idx = np.array(sorted(test), dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels), dtype=np.int64), test_idx)
    return train_idx, test_idx


def load_flowers(size: int = 32, split: str = "train", test_fraction: float = 0.2, seed: int = 0,
                 limit: int | None = None, return_filenames: bool = False):
    """5-class flower photos: ``(images, labels)``, images float32 (N, 3, size, size) in [-1, 1],
    labels int64 (N,) indexing ``FLOWER_CLASSES``. ``size`` is 32 or 64.

    ``split`` is 'train', 'test' or 'all'; the split is :func:`stratified_split` (fixed and
    seeded; with the defaults the shared copy gives 2,783 train / 696 test). Items keep the
    npz order (sorted by file name). ``limit`` keeps the first ``limit`` items;
    ``return_filenames=True`` adds a third element, the list of source file names.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    d = _read_flowers_npz(size)
    if split == "all":
        idx = np.arange(len(d["labels"]))
    else:
        train_idx, test_idx = stratified_split(d["filenames"], d["labels"], test_fraction, seed)
        idx = train_idx if split == "train" else test_idx
    if limit is not None:
        idx = idx[:limit]
    x = torch.from_numpy(d["images"][idx].astype(np.float32)) / 127.5 - 1.0  # (N, S, S, 3)
    x = x.permute(0, 3, 1, 2).contiguous()  # (N, 3, S, S) in [-1, 1]
    y = torch.from_numpy(d["labels"][idx].astype(np.int64))  # (N,)
    if return_filenames:
        return x, y, [str(f) for f in d["filenames"][idx]]
    return x, y


# --------------------------------------------------------------------------- downloads

def _fetch(url: str, folder: Path, filename: str, md5: str | None = None, sha256: str | None = None) -> None:
    """Download ``url`` to ``folder/filename`` (torchvision's downloader: redirects, md5 check),
    then check its sha256 when given. Nothing is left behind unless the file is complete and right."""
    from torchvision.datasets.utils import download_url  # lazy: only when downloading

    part = folder / (filename + ".part")  # renamed only once complete (and checked)
    try:
        download_url(url, str(folder), part.name, md5)
        if sha256 and _digest(part, "sha256") != sha256:
            raise CorruptDataError(f"{url}: the downloaded file's sha256 is {_digest(part, 'sha256')}, "
                                   f"expected {sha256} (another or a damaged file)")
        os.replace(part, folder / filename)
    finally:
        part.unlink(missing_ok=True)


def _download_idx(name: str, folder: Path) -> None:
    md5 = _MNIST_MD5 if name == "mnist" else _FASHION_MD5
    urls = _DATASETS[name][2]
    for fname, digest in md5.items():
        if (folder / fname).is_file():
            continue  # kept from an earlier, partly finished download (checked when read)
        errors = []
        for base in urls:
            try:
                _fetch(base + fname, folder, fname, digest)
                break
            except Exception as err:  # try the next mirror
                errors.append(f"{base}{fname}: {err!r}")
        else:
            raise DataNotFoundError(_not_found_message(name, "download failed: " + "; ".join(errors)) + "\n"
                                    + _by_hand(name, folder))


# --------------------------------------------------------------------------- loaders and ranges

def _first(batch):
    """A label-free batch: the image tensor itself, not a 1-tuple."""
    return batch[0]


def _as_list(batch):
    """An (images, labels) batch as a list, as torch's default collate gives it."""
    return list(batch)


def random_mirror(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (a flower looks the same mirrored).
    (B, C, H, W) -> (B, C, H, W). Used to train notebook 05's text-to-image U-Net."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)


def mirror_shift(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Photo augmentation: :func:`random_mirror`, then a random shift by up to ``pad`` pixels
    (reflect padding: photos have no background colour to pad with), per image. No colour
    changes: colour is what tells a rose from a sunflower. (B, C, H, W) -> (B, C, H, W).
    Used to train the flower CLIP (``helpers.clip.clip_batch_loss``) and the flower judge."""
    B, _, H, W = x.shape
    x = random_mirror(x, generator)
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")  # (B, C, H+2p, W+2p)
    dy = torch.randint(0, 2 * pad + 1, (B,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (B,), generator=generator).tolist()
    return torch.stack([xp[i, :, dy[i]:dy[i] + H, dx[i]:dx[i] + W] for i in range(B)])


def make_loader(images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 128,
                shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader over ``TensorDataset(images[, labels])`` with a seeded shuffle, num_workers=0.

    With labels it yields ``(x, y)``; without labels it yields the image batch ``x`` itself.
    The same ``seed`` gives the same batch order on every run: the same batches, in the same order,
    as ``DataLoader(ds, batch_size, shuffle, generator=torch.Generator().manual_seed(seed))``.
    Each batch is one gather (``images[indices]``) rather than ``batch_size`` single-image reads
    stacked together: less CPU time per batch, which a GPU step would otherwise wait for
    (``python -m bench.loader`` measures it). The loader's ``generator`` is the one it shuffles
    with (:func:`helpers.train.train` saves and restores it to resume exactly).
    """
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    ds = TensorDataset(images) if labels is None else TensorDataset(images, labels)
    g = torch.Generator().manual_seed(seed)
    order = RandomSampler(ds, generator=g) if shuffle else SequentialSampler(ds)
    # batch_size=None: the sampler yields whole index lists and TensorDataset gathers each in one go;
    # the loader keeps the generator too, so it draws from it exactly as a batching DataLoader does
    return DataLoader(ds, sampler=BatchSampler(order, batch_size, drop_last), batch_size=None, generator=g,
                      num_workers=0, collate_fn=_first if labels is None else _as_list)


def to_unit(x, clamp: bool = True):
    """[-1, 1] -> [0, 1] (for display); clamps by default. Works on tensors and numpy arrays."""
    y = (x + 1) / 2
    if clamp:
        y = y.clamp(0, 1) if isinstance(y, torch.Tensor) else np.clip(y, 0, 1)
    return y


def to_signed(x):
    """[0, 1] -> [-1, 1] (the range images enter models in)."""
    return x * 2 - 1
