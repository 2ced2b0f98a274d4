"""helpers.data: shapes, ranges, class counts, flower split, resolution order, clear errors."""

import gzip
import io
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data, paths
from helpers.data import (FASHION_CLASSES, FLOWER_CLASSES, MNIST_CLASSES, CorruptDataError,
                          DataNotFoundError, find_dataset, load_fashion_mnist, load_flowers,
                          load_mnist, make_loader, stratified_split, to_signed, to_unit)


def _real_root() -> Path:
    """The data root that holds real MNIST, or skip with the reason."""
    try:
        return find_dataset("mnist", download=False).parent.parent
    except DataNotFoundError as err:
        pytest.skip(f"no MNIST copy found (set COURSE_DATA_DIR): {str(err).splitlines()[0]}")


def _real_flowers() -> Path:
    try:
        return find_dataset("flowers", download=False)
    except DataNotFoundError as err:
        pytest.skip(f"no flowers copy found (set COURSE_DATA_DIR): {str(err).splitlines()[0]}")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Every place data could be found points into an empty tmp dir; downloads off.

    Returns ``tmp_path``; ``tmp_path / "real_root"`` links to the real data root if there is one."""
    try:
        os.symlink(find_dataset("mnist", download=False).parent.parent, tmp_path / "real_root")
    except DataNotFoundError:
        pass
    empty = tmp_path / "course_data"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(empty))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "repo_data")
    monkeypatch.setattr(paths, "SHARED_DATA_DIR", tmp_path / "shared_data")
    return tmp_path


def test_class_names():
    assert MNIST_CLASSES == tuple("0123456789")
    assert FASHION_CLASSES[0] == "T-shirt/top" and FASHION_CLASSES[-1] == "Ankle boot" and len(FASHION_CLASSES) == 10
    assert FLOWER_CLASSES == ("daisy", "dandelion", "roses", "sunflowers", "tulips")


def test_mnist_train_shapes_ranges_counts():
    _real_root()
    x, y = load_mnist("train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (60000,) and y.dtype == torch.int64
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert torch.bincount(y, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert x[:, :, 0, :].eq(-1).float().mean() > 0.99  # background is -1


def test_mnist_test_limit_and_pad():
    _real_root()
    x, y = load_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and torch.bincount(y).sum() == 10000
    x5, y5 = load_mnist("test", limit=5)
    assert torch.equal(x5, x[:5]) and torch.equal(y5, y[:5])
    assert y5.tolist() == [7, 2, 1, 0, 4]  # the well-known first MNIST test digits
    xp, yp = load_mnist("test", limit=5, pad=2)
    assert xp.shape == (5, 1, 32, 32) and torch.equal(yp, y5)
    assert torch.equal(xp[:, :, 2:30, 2:30], x5)
    border = torch.cat([xp[..., :2, :].flatten(), xp[..., -2:, :].flatten(), xp[..., :, :2].flatten(), xp[..., :, -2:].flatten()])
    assert border.eq(-1).all()
    with pytest.raises(ValueError):
        load_mnist("valid")


def test_fashion_mnist():
    try:
        find_dataset("fashion_mnist", download=False)
    except DataNotFoundError as err:
        pytest.skip(f"no Fashion-MNIST copy found: {str(err).splitlines()[0]}")
    x, y = load_fashion_mnist("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert -1.0 <= x.min().item() and x.max().item() <= 1.0
    assert torch.bincount(y).tolist() == [1000] * 10
    xt, yt = load_fashion_mnist("train", limit=100, pad=2)
    assert xt.shape == (100, 1, 32, 32) and yt.shape == (100,)


def test_flowers_shapes_and_split():
    _real_flowers()
    for size in (32, 64):
        x, y = load_flowers(size, "all")
        assert x.shape == (3479, 3, size, size) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.min().item() >= -1.0 and x.max().item() <= 1.0 and x.min() < -0.9 and x.max() > 0.9
        assert torch.bincount(y).tolist() == [610, 888, 548, 671, 762]
    xtr, ytr, ftr = load_flowers(32, "train", return_filenames=True)
    xte, yte, fte = load_flowers(32, "test", return_filenames=True)
    assert (len(xtr), len(xte)) == (2783, 696) and len(ftr) == 2783
    assert set(ftr).isdisjoint(fte) and len(set(ftr) | set(fte)) == 3479
    # stratified: each class puts round(20%) of its photos in test
    counts = torch.bincount(y, minlength=5)
    assert (torch.bincount(yte, minlength=5) - (0.2 * counts).round()).abs().max() <= 0.5
    # deterministic: same split on every call; another seed gives another split
    assert load_flowers(32, "test", return_filenames=True)[2] == fte
    assert load_flowers(32, "test", seed=1, return_filenames=True)[2] != fte
    # the 64x64 copy splits the same photos the same way
    assert load_flowers(64, "test", return_filenames=True)[2] == fte
    with pytest.raises(ValueError):
        load_flowers(48)


def test_stratified_split_ignores_order():
    names = [f"c{i % 3}/img{i}.jpg" for i in range(300)]
    labels = np.array([i % 3 for i in range(300)])
    tr, te = stratified_split(names, labels, 0.25, seed=7)
    assert len(te) == 75 and np.bincount(labels[te]).tolist() == [25, 25, 25]
    perm = np.random.default_rng(0).permutation(300)
    tr2, te2 = stratified_split([names[i] for i in perm], labels[perm], 0.25, seed=7)
    assert {names[i] for i in te} == {names[perm[i]] for i in te2}


def test_shared_copy_is_found_with_nothing_set(monkeypatch):
    """In a source checkout the shared copy beside the repository is searched right after
    COURSE_DATA_DIR: nothing needs to be set for a checkout next to ../shared/data."""
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data.data_root_candidates()[:2] == [data.SHARED_DATA_DIR, data.REPO_DATA_DIR]
    assert data.SHARED_DATA_DIR == data.REPO_DIR.parent / "shared" / "data"
    if not (data.SHARED_DATA_DIR / "MNIST" / "raw").is_dir():
        pytest.skip(f"no shared copy at {data.SHARED_DATA_DIR}")
    assert find_dataset("mnist", download=False) == data.SHARED_DATA_DIR / "MNIST" / "raw"
    assert data.default_data_dir() == str(data.SHARED_DATA_DIR)
    monkeypatch.setenv("COURSE_DATA_DIR", "/somewhere/else")
    assert data.default_data_dir() == "/somewhere/else"
    assert data.data_root_candidates()[:2] == [Path("/somewhere/else"), data.SHARED_DATA_DIR]


def test_a_root_needs_only_the_file_asked_for(isolated):
    """A root holding only the 32x32 flowers (or only MNIST's test split) serves them."""
    src = isolated / "real_root" / "flowers"
    if not (src / "flowers5_32x32.npz").is_file():
        pytest.skip("no real flowers copy beside the real MNIST (set COURSE_DATA_DIR)")
    only32 = isolated / "course_data" / "flowers"
    only32.mkdir()
    os.symlink(src / "flowers5_32x32.npz", only32 / "flowers5_32x32.npz")
    assert find_dataset("flowers", "flowers5_32x32.npz") == only32
    assert load_flowers(32, "test", limit=2)[0].shape == (2, 3, 32, 32)
    with pytest.raises(DataNotFoundError, match="flowers5_64x64.npz"):
        load_flowers(64)
    if (isolated / "real_root").exists():
        raw = isolated / "course_data" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            os.symlink(isolated / "real_root" / "MNIST" / "raw" / f, raw / f)
        assert load_mnist("test", limit=3)[1].tolist() == [7, 2, 1]
        with pytest.raises(DataNotFoundError, match="train-images-idx3-ubyte.gz"):
            load_mnist("train")


def test_resolution_uses_course_data_dir(tmp_path, monkeypatch):
    root = _real_root()
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    assert data.data_root_candidates()[0] == root
    assert find_dataset("mnist") == root / "MNIST" / "raw"
    # a second root with its own (linked) copy wins when COURSE_DATA_DIR points at it
    mine = tmp_path / "mine" / "MNIST" / "raw"
    mine.mkdir(parents=True)
    for f in (root / "MNIST" / "raw").glob("*.gz"):
        os.symlink(f, mine / f.name)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mine"))
    assert find_dataset("mnist") == mine
    assert load_mnist("test", limit=3)[1].tolist() == [7, 2, 1]


def test_clear_error_when_nothing_found_offline(isolated):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist("test")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "COURSE_DATA_DIR" in msg and "https://" in msg and "COURSE_OFFLINE" in msg
    with pytest.raises(DataNotFoundError, match="flower_photos.tgz"):
        load_flowers(32)
    assert not any((isolated / "course_data").iterdir())  # COURSE_DATA_DIR is never written


def _root_with(tmp_path, src_root, corrupt_name, nbytes):
    raw = tmp_path / "bad" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (src_root / "MNIST" / "raw").glob("*.gz"):
        if f.name == corrupt_name:
            (raw / f.name).write_bytes(f.read_bytes()[:nbytes])
        else:
            os.symlink(f, raw / f.name)
    return raw / corrupt_name


def test_truncated_mnist_file_gives_corrupt_data_error(tmp_path, monkeypatch):
    root = _real_root()
    bad = _root_with(tmp_path, root, "t10k-images-idx3-ubyte.gz", 500_000)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "bad"))
    with pytest.raises(CorruptDataError) as info:
        load_mnist("test")
    msg = str(info.value)
    assert str(bad) in msg and "Delete" in msg and "md5" in msg
    # the IDX parser itself also catches truncation (gzip stream cut short)
    with pytest.raises(CorruptDataError, match="t10k-images"):
        data._parse_idx(bad, 10000)


def test_idx_header_checks(tmp_path):
    good = np.zeros((3, 28, 28), np.uint8)
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (3).to_bytes(4, "big") + b"\x00\x00\x00\x1c" * 2 + good.tobytes()))
    assert data._parse_idx(path, 3).shape == (3, 28, 28)
    with pytest.raises(CorruptDataError, match="expected 5"):
        data._parse_idx(path, 5)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (3).to_bytes(4, "big") + b"\x00\x00\x00\x1c" * 2 + good.tobytes()[:-10]))
    with pytest.raises(CorruptDataError, match="pixel bytes"):
        data._parse_idx(path, 3)


def test_truncated_flowers_gives_corrupt_data_error(tmp_path, monkeypatch):
    src = _real_flowers()
    bad = tmp_path / "bad" / "flowers"
    bad.mkdir(parents=True)
    (bad / "flowers5_32x32.npz").write_bytes((src / "flowers5_32x32.npz").read_bytes()[:100_000])
    os.symlink(src / "flowers5_64x64.npz", bad / "flowers5_64x64.npz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "bad"))
    with pytest.raises(CorruptDataError, match="flowers5_32x32.npz"):
        load_flowers(32)
    assert load_flowers(64, "test", limit=2)[0].shape == (2, 3, 64, 64)


def test_download_path_writes_outside_course_data_dir(isolated, monkeypatch):
    """Downloads (faked from the local copy) land in <repo>/data, never in COURSE_DATA_DIR."""
    src = isolated / "real_root"
    if not src.exists():
        pytest.skip("no real MNIST copy to fake a download from (set COURSE_DATA_DIR)")
    monkeypatch.delenv("COURSE_OFFLINE")
    def fake_fetch(url, folder, filename, md5=None):
        assert url.endswith(filename) and md5 == data._MNIST_MD5[filename]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "MNIST" / "raw" / filename, folder / filename)

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    folder = find_dataset("mnist")
    assert folder == isolated / "repo_data" / "MNIST" / "raw"
    assert load_mnist("test", limit=2)[1].tolist() == [7, 2]
    assert not any((isolated / "course_data").iterdir())


def test_flowers_built_from_tgz(isolated, monkeypatch):
    """The flower_photos.tgz -> npz path: crop/resize, selection rules, attribution, sidecar checksum."""
    from PIL import Image

    tgz = isolated / "flower_photos.tgz"
    rng = np.random.default_rng(0)
    files = {}
    for cls in FLOWER_CLASSES:
        for i in range(4):
            im = Image.fromarray(rng.integers(0, 256, (30 + 7 * i, 50, 3), dtype=np.uint8))
            buf = io.BytesIO()
            im.save(buf, format="JPEG")
            files[f"flower_photos/{cls}/{cls}{i}.jpg"] = buf.getvalue()
    files["flower_photos/tulips/tulips3.jpg"] = files["flower_photos/tulips/tulips2.jpg"]  # duplicate photo
    files["flower_photos/roses/daisy0.jpg"] = files["flower_photos/roses/roses0.jpg"]  # name in two classes
    credits = [f"{k.split('/', 1)[1]} CC-BY by someone - https://example.org/{n}" for n, k in enumerate(files)]
    files["flower_photos/LICENSE.txt"] = ("All images in this archive are licensed under CC BY 2.0\n\n"
                                          + "\n".join(credits) + "\n").encode()
    with tarfile.open(tgz, "w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(data, "_fetch", lambda url, folder, filename, md5=None, sha256=None: shutil.copy(tgz, folder / filename))
    folder = find_dataset("flowers")  # downloads with helpers.prepare_flowers
    assert folder == isolated / "repo_data" / "flowers" and not (folder / "flower_photos.tgz").exists()
    x, y, names = load_flowers(32, "all", return_filenames=True)
    assert x.shape == (18, 3, 32, 32) and names == sorted(names)
    assert "tulips/tulips3.jpg" not in names and "daisy/daisy0.jpg" not in names
    assert load_flowers(64, "all")[0].shape == (18, 3, 64, 64)
    attribution = (folder / "ATTRIBUTION.txt").read_text().splitlines()
    assert attribution[0].startswith("All images") and len([a for a in attribution if "CC-BY" in a]) == 18
    assert not any((isolated / "course_data").iterdir())

    # by hand, from a local archive: the same files
    from helpers import prepare_flowers
    out = isolated / "by_hand"
    assert prepare_flowers.main(["--tgz", str(tgz), "--out", str(out)]) == 0
    assert sorted(f.name for f in out.iterdir()) == sorted(f.name for f in folder.iterdir())
    for size in (32, 64):
        with np.load(out / f"flowers5_{size}x{size}.npz") as a, np.load(folder / f"flowers5_{size}x{size}.npz") as b:
            assert all(np.array_equal(a[k], b[k]) for k in ("images", "labels", "class_names", "filenames"))


def test_make_loader_seeded():
    x = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1)
    y = torch.arange(10)
    order = lambda seed: torch.cat([yb for _, yb in make_loader(x, y, batch_size=4, seed=seed)]).tolist()  # noqa: E731
    assert order(0) == order(0) and sorted(order(0)) == list(range(10)) and order(0) != order(1)
    batches = list(make_loader(x, batch_size=4, shuffle=False))
    assert [b.shape[0] for b in batches] == [4, 4, 2] and isinstance(batches[0], torch.Tensor)
    assert len(list(make_loader(x, y, batch_size=4, drop_last=True))) == 2
    with pytest.raises(ValueError):
        make_loader(x, y[:5])
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(x, y, batch_size=0)


@pytest.mark.parametrize("shuffle,drop_last,labelled", [(True, True, True), (True, False, True),
                                                        (False, False, True), (True, False, False)])
def test_make_loader_gives_torchs_batches(shuffle, drop_last, labelled):
    """The same batches, in the same order, over two epochs, as torch's own batching DataLoader
    with the same seeded generator (the reference), and the same types and length."""
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(37, 1, 2, 2, generator=g), torch.randint(0, 10, (37,), generator=g)
    tensors = (x, y) if labelled else (x,)
    ref = DataLoader(TensorDataset(*tensors), batch_size=8, shuffle=shuffle, drop_last=drop_last,
                     generator=torch.Generator().manual_seed(5))
    ours = make_loader(x, y if labelled else None, batch_size=8, shuffle=shuffle, seed=5, drop_last=drop_last)
    assert len(ours) == len(ref) == (4 if drop_last else 5)
    for _ in range(2):  # a second epoch: the generator must be drawn from exactly as torch does
        got, want = list(ours), list(ref)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            if labelled:
                assert isinstance(a, list) and len(a) == 2
                assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
            else:
                assert isinstance(a, torch.Tensor) and torch.equal(a, b[0])


def test_loader_over_mnist():
    _real_root()
    xb, yb = next(iter(make_loader(*load_mnist("test", limit=64, pad=2), batch_size=16, shuffle=False)))
    assert xb.shape == (16, 1, 32, 32) and yb.shape == (16,)
    assert yb.tolist()[:3] == [7, 2, 1]  # unshuffled: the test split's first digits


def test_to_unit_and_to_signed():
    x = torch.linspace(-1, 1, 11)
    assert torch.allclose(to_signed(to_unit(x)), x, atol=1e-6)
    assert to_unit(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 1.0]
    assert np.allclose(to_unit(np.array([-1.0, 0.0, 1.0])), [0.0, 0.5, 1.0])


# --------------------------------------------------------------------------- downloads, for real over HTTP

@pytest.fixture
def http_mirrors(tmp_path):
    """Two HTTP servers on loopback: `good` serves a folder's files, `bad` answers every request
    with the wrong bytes; plus the address of a port nothing listens on."""
    import functools
    import http.server
    import socket
    import threading

    served = tmp_path / "served"
    served.mkdir()

    class Bad(http.server.BaseHTTPRequestHandler):
        def do_GET(self):   # noqa: N802 - http.server's name
            body = b"not the file you asked for"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(served))),
               http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bad)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with socket.socket() as sock:   # a port that was free a moment ago: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    yield {"folder": served, "good": f"http://127.0.0.1:{servers[0].server_port}/",
           "bad": f"http://127.0.0.1:{servers[1].server_port}/", "dead": dead}
    for s in servers:
        s.shutdown()
        s.server_close()


def test_fashion_mnist_falls_back_to_the_next_mirror(isolated, http_mirrors, monkeypatch):
    """The first mirror refuses, the second sends wrong bytes (md5 fails), the third has the real
    files: the download ends in <repo>/data with the real Fashion-MNIST."""
    try:
        real = find_dataset("fashion_mnist", download=False)
    except DataNotFoundError:
        real = isolated / "real_root" / "FashionMNIST" / "raw"
    if not real.is_dir():
        pytest.skip("no real Fashion-MNIST copy to serve (set COURSE_DATA_DIR)")
    for f in data._FASHION_MD5:
        shutil.copy(real / f, http_mirrors["folder"] / f)
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setitem(data._DATASETS, "fashion_mnist", ("FashionMNIST/raw", tuple(data._FASHION_MD5),
                                                          (http_mirrors["dead"], http_mirrors["bad"], http_mirrors["good"])))
    assert len(data.FASHION_URLS) >= 2   # the real table has a second mirror too
    folder = find_dataset("fashion_mnist")
    assert folder == isolated / "repo_data" / "FashionMNIST" / "raw"
    assert sorted(p.name for p in folder.iterdir()) == sorted(data._FASHION_MD5)   # no .part left
    assert load_fashion_mnist("test", limit=3)[1].tolist() == [9, 2, 1]   # the real first test labels


def test_every_mirror_failing_says_what_to_download_by_hand(isolated, http_mirrors, monkeypatch):
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setitem(data._DATASETS, "fashion_mnist", ("FashionMNIST/raw", tuple(data._FASHION_MD5),
                                                          (http_mirrors["dead"], http_mirrors["bad"])))
    with pytest.raises(DataNotFoundError) as info:
        find_dataset("fashion_mnist")
    msg = str(info.value)
    target = isolated / "repo_data" / "FashionMNIST" / "raw"
    assert "By hand: download train-images-idx3-ubyte.gz" in msg and http_mirrors["bad"] in msg
    assert http_mirrors["dead"] in msg and f"into {target}" in msg
    assert not any(target.iterdir())   # no partial or wrong file kept


def test_a_download_with_the_wrong_sha256_is_refused(tmp_path, http_mirrors):
    payload = b"flower photos, or so it says"
    (http_mirrors["folder"] / "flower_photos.tgz").write_bytes(payload)
    import hashlib
    right = hashlib.sha256(payload).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CorruptDataError, match="sha256"):
        data._fetch(http_mirrors["good"] + "flower_photos.tgz", out, "flower_photos.tgz", sha256="0" * 64)
    assert list(out.iterdir()) == []
    data._fetch(http_mirrors["good"] + "flower_photos.tgz", out, "flower_photos.tgz", sha256=right)
    assert (out / "flower_photos.tgz").read_bytes() == payload


def test_the_flower_archive_is_checked_before_it_is_opened(isolated, http_mirrors, monkeypatch):
    """find_dataset('flowers') downloads flower_photos.tgz with its sha256 (tensorflow/datasets'
    record); a server sending anything else gives the by-hand instructions and leaves nothing."""
    assert data.FLOWERS_TGZ_SHA256 == "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr(data, "FLOWERS_URL", http_mirrors["bad"] + "flower_photos.tgz")
    import helpers.prepare_flowers as pf
    monkeypatch.setattr(pf, "FLOWERS_URL", http_mirrors["bad"] + "flower_photos.tgz")
    with pytest.raises(DataNotFoundError) as info:
        find_dataset("flowers")
    msg = str(info.value)
    assert "sha256" in msg and "python -m helpers.prepare_flowers --tgz" in msg and data.FLOWERS_TGZ_SHA256 in msg
    folder = isolated / "repo_data" / "flowers"
    assert not folder.exists() or not any(folder.iterdir())
