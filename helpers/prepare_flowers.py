"""Build the flower dataset files from TensorFlow's ``flower_photos.tgz``.

Writes ``flowers5_32x32.npz``, ``flowers5_64x64.npz`` (arrays ``images`` (N,H,W,3) uint8,
``labels`` int64, ``class_names``, ``filenames``), a ``<file>.sha256`` beside each, and
``ATTRIBUTION.txt`` (the licence header and the credit line of every photo kept). The rules are
those of the shared copy (``shared/data/flowers/README.md``): keep the photos credited in the
archive's LICENSE.txt, drop file names that occur in two classes and exact duplicates within a
class, sort by file name; centre-crop each photo to a square and resize it with PIL's LANCZOS.
A copy built here has the same arrays' layout but not the shared copy's bytes (that copy's
photos came from another source), so :mod:`helpers.data` accepts it by its sidecar checksum.

:func:`helpers.data.find_dataset` runs :func:`download_flowers` when no copy is found and
downloads are allowed. By hand::

    python -m helpers.prepare_flowers                      # download, build into <repo>/data/flowers
    python -m helpers.prepare_flowers --tgz flower_photos.tgz --out some/folder/flowers
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from . import data
from .data import _FLOWER_SIZES, FLOWER_CLASSES, FLOWERS_URL


def _centre_crop_resize(photo: bytes, sizes=_FLOWER_SIZES) -> list[np.ndarray]:
    """One JPEG -> RGB uint8 arrays (k, k, 3), one per size in ``sizes``."""
    from PIL import Image

    with Image.open(io.BytesIO(photo)) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
        return [np.asarray(im.resize((k, k), Image.Resampling.LANCZOS), dtype=np.uint8) for k in sizes]


def build_from_tgz(tgz: Path, folder: Path) -> None:
    """Turn ``flower_photos.tgz`` into the npz files, their checksums and ATTRIBUTION.txt in ``folder``."""
    photos: dict[str, bytes] = {}
    licence = ""
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                parts = m.name.split("/")
                if parts[-1] == "LICENSE.txt":
                    licence = tar.extractfile(m).read().decode("utf-8", "replace")
                elif len(parts) >= 2 and parts[-2] in FLOWER_CLASSES and parts[-1].lower().endswith(".jpg"):
                    photos[f"{parts[-2]}/{parts[-1]}"] = tar.extractfile(m).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise data._corrupt(tgz, f"tar: {err}") from err
    if not photos:
        raise data._corrupt(tgz, "no flower photos inside")
    credits = {}
    header = []
    for line in licence.splitlines():
        key = line.split(" ", 1)[0]
        if key.split("/")[0] in FLOWER_CLASSES and key in photos:
            credits[key] = line
        elif not credits:
            header.append(line)
    base_count: dict[str, int] = {}
    for k in photos:
        base_count[k.split("/")[1]] = base_count.get(k.split("/")[1], 0) + 1
    keep, seen = [], set()
    for k in sorted(photos):
        if credits and k not in credits:
            continue
        if base_count[k.split("/")[1]] > 1:
            continue
        h = (k.split("/")[0], hashlib.sha256(photos[k]).hexdigest())
        if h in seen:
            continue
        seen.add(h)
        keep.append(k)
    imgs = {s: [] for s in _FLOWER_SIZES}
    for k in keep:
        for s, arr in zip(_FLOWER_SIZES, _centre_crop_resize(photos[k])):
            imgs[s].append(arr)
    labels = np.array([FLOWER_CLASSES.index(k.split("/")[0]) for k in keep], dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    for s in _FLOWER_SIZES:
        final = folder / f"flowers5_{s}x{s}.npz"
        tmp = folder / f".tmp_{final.name}"
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=np.stack(imgs[s]), labels=labels,
                                class_names=np.array(FLOWER_CLASSES), filenames=np.array(keep))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, final)
        final.with_name(final.name + ".sha256").write_text(f"{digest}  {final.name}\n")
    lines = header + [credits.get(k, f"{k} CC-BY (see {FLOWERS_URL})") for k in keep]
    (folder / "ATTRIBUTION.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def download_flowers(folder: Path) -> None:
    """Download ``flower_photos.tgz`` into ``folder``, build the dataset there, delete the archive."""
    folder.mkdir(parents=True, exist_ok=True)
    data._fetch(FLOWERS_URL, folder, "flower_photos.tgz", sha256=data.FLOWERS_TGZ_SHA256)
    tgz = folder / "flower_photos.tgz"
    try:
        build_from_tgz(tgz, folder)
    finally:
        tgz.unlink(missing_ok=True)  # ~230 MB; the npz files are what is kept


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.prepare_flowers", description=__doc__.split("\n")[0])
    ap.add_argument("--tgz", type=Path, help=f"a local flower_photos.tgz (default: download {FLOWERS_URL})")
    ap.add_argument("--out", type=Path, help="folder to write (default: <repo>/data/flowers, or the user "
                                             "cache when that is not writable)")
    a = ap.parse_args(argv)
    out = a.out or data._download_root() / "flowers"
    if a.tgz:
        build_from_tgz(a.tgz, out)
    else:
        download_flowers(out)
    print(f"wrote {', '.join(f'flowers5_{s}x{s}.npz' for s in _FLOWER_SIZES)} and ATTRIBUTION.txt to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
