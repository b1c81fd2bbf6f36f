"""Files behind a catalog: finding images, checking their headers, reading tables.

Helpers of :mod:`galmorph.data.catalogs`: image suffixes and stems, folder
scans and globs, matching label rows to image files and running the header
checks of :mod:`galmorph.data._image_checks` (PIL's lazy ``Image.open``, no
pixel decode), label tables (CSV or FITS) and the file fingerprints that go
into ``Catalog.sources``.
"""
from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._image_checks import check_image_headers, header_problems, probe_image
from .images import FITS_SUFFIXES, IMAGE_SUFFIXES, image_suffix
from ._validate import Issue, LabelRows, count, duplicate_issues, parse_int_id

__all__ = ["IMAGE_SUFFIXES", "image_suffix", "image_stem", "absolute", "as_list", "is_glob",
           "scan_folder", "expand_inputs", "probe_image", "check_image_headers", "index_images",
           "match_images", "validate_image_files", "read_table", "table_columns",
           "describe_sources", "file_record",
           "images_fingerprint"]

_FITS = FITS_SUFFIXES  # images and tables alike


def image_stem(path):
    """File name without its image suffix: ``"587.fits.gz"`` -> ``"587"``."""
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    if ext.lower() in IMAGE_SUFFIXES:  # ".jpg": the common case, without image_suffix's Path
        return stem
    suffix = image_suffix(name)  # ".fits.gz"
    return name[: len(name) - len(suffix)] if suffix else stem


def absolute(path):
    """Absolute, normalised path (``..`` removed) without resolving symlinks."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def as_list(inputs):
    """``inputs`` as a list: one path stays one item, an iterable is listed."""
    if isinstance(inputs, (str, Path)):
        return [inputs]
    return list(inputs)


def is_glob(text):
    """Whether ``text`` is a glob pattern rather than a plain path."""
    return any(ch in str(text) for ch in "*?[")


def scan_folder(folder, recursive=False):
    """Sorted image files in ``folder`` (hidden files skipped).

    ``os.scandir`` and plain strings: ~10x faster than ``Path.iterdir`` on
    folders of 10^5 files.
    """
    out, todo = [], [str(folder)]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    if recursive:
                        todo.append(e.path)
                elif e.name.lower().endswith(IMAGE_SUFFIXES):  # = image_suffix(e.name), faster
                    out.append(e.path)
    return [Path(p) for p in sorted(out)]


def expand_inputs(inputs, recursive=False):
    """Image files named by ``inputs`` and the inputs that named none (with why)."""
    files, seen, empty = [], set(), []
    items = as_list(inputs)
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = scan_folder(path, recursive)
            why = f"{path}: folder holds no {'/'.join(IMAGE_SUFFIXES)} files"
        elif is_glob(item):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True)
                           if image_suffix(p) and Path(p).is_file())
            why = f"{item}: no image files match this pattern"
        elif path.is_file():
            found = [path] if image_suffix(path) else []
            why = (f"{path}: unsupported file type; galmorph reads "
                   f"{', '.join(IMAGE_SUFFIXES)}")
        else:
            found, why = [], f"{path}: no such file or folder"
        if not found:
            empty.append((str(item), why))
        if len(items) == 1:
            files = [absolute(p) for p in found]
            break
        for p in found:
            key = os.path.realpath(p)
            if key not in seen:  # the same file twice (folder + glob) is one galaxy
                seen.add(key)
                files.append(absolute(p))
    return files, empty


def index_images(paths):
    """Map integer file stem -> list of files; non-integer stems go under ``None``."""
    out = {}
    for p in paths:
        out.setdefault(parse_int_id(image_stem(p)), []).append(p)
    return out


def match_images(rows, images, policy, key_column, image_dir, known, size=None, mode=None,
                 check=True):
    """Find each row's image and run the image checks, in order.

    The checks: more than one file for a galaxy, no file ("missing image"),
    files without a row ("no labels"), then, if ``check``, unreadable
    headers and unexpected size or mode. ``rows`` loses the rows that fail
    (with ``on_error="skip"``).

    Parameters
    ----------
    rows : LabelRows
    images : dict
        From :func:`index_images` of the image folder.
    policy : Policy
    key_column : str
        Column of ``rows.frame`` holding the integer file stem
        (``GalaxyID`` for Kaggle, ``asset_id`` for GZ2).
    image_dir : Path
        The folder, for the messages.
    known : set of int
        Every file stem named by the label table as read, including rows
        already skipped (their images are accounted for, not "without labels").
    size, mode : see :func:`check_image_headers`.

    Returns
    -------
    list of Path
        One image per remaining row.
    """
    keys = [int(k) for k in rows.frame[key_column]]
    found = [images.get(k, []) for k in keys]
    several = [Issue(i, rows.ids[i], f"{rows.name(i)}: {len(f)} files "
                     f"({', '.join(p.name for p in f)})")
               for i, f in enumerate(found) if len(f) > 1]
    missing = [Issue(i, rows.ids[i], f"{rows.name(i)}: no image {k} in {image_dir.name}/")
               for i, (k, f) in enumerate(zip(keys, found)) if not f]
    drop = policy.handle("ambiguous image", f"{count(len(several), 'galaxy', 'galaxies')} with "
                         f"more than one image file in {image_dir}", several,
                         "Keep one file per galaxy.")
    first = ", ".join(str(i.key) for i in missing[:5])
    labelled = count(len(keys), "labelled galaxy", "labelled galaxies")
    drop |= policy.handle("missing image", f"{len(missing)} of {labelled} without an image in "
                          f"{image_dir} (first IDs: {first})", missing,
                          "Add the images or remove those rows from the label table.")
    with_rows = set(keys) | set(known)
    orphans = [Issue(None, str(p), f"{p}: no row in the label table")
               for stem, files in sorted(images.items(), key=lambda kv: str(kv[0]))
               if stem is not None and stem not in with_rows for p in files]
    orphans += [Issue(None, str(p), f"{p}: the file name is not an integer ID")
                for p in images.get(None, [])]
    policy.handle("no labels", f"{count(len(orphans), 'image')} in {image_dir} without labels "
                  f"(first: {', '.join(Path(i.key).name for i in orphans[:5])})", orphans,
                  "Move images to classify to another folder, or add their labels.")
    rows.drop(drop)
    paths = [images[int(k)][0] for k in rows.frame[key_column]]
    if not check:
        return paths
    bad, odd = check_image_headers(paths, rows.ids, size, mode)
    drop = header_problems(policy, bad, odd, len(paths), f" in {image_dir}", size, mode)
    rows.drop(drop)
    return [p for i, p in enumerate(paths) if i not in drop]


def validate_image_files(files, policy, *, int_ids=False, check=True, size=None, mode=None,
                         empty=(), folder=None):
    """IDs and paths of unlabelled image files, after the checks.

    The checks, in order: inputs that named no file (``empty``, from
    :func:`expand_inputs`), file names that are not integers (only with
    ``int_ids``, e.g. Kaggle GalaxyIDs), two files with the same ID, then,
    if ``check``, unreadable headers and unexpected size or mode.

    Returns
    -------
    ids : ndarray
        ``int64`` when every file name is an integer, else the names as ``str``.
    paths : list of Path
    """
    import pandas as pd

    gone = [Issue(None, item, why) for item, why in empty]
    policy.handle("missing image", f"{count(len(gone), 'input')} naming no image file", gone,
                  "Check the paths and patterns.")
    stems = [image_stem(p) for p in files]
    rows = LabelRows(pd.DataFrame({"path": pd.Series(files, dtype=object)}), stems,
                [str(p) for p in files], "ID")
    parsed = [parse_int_id(s) for s in stems]
    if int_ids:
        bad = [Issue(i, str(files[i]), f"{files[i]}: the file name is not an integer GalaxyID")
               for i, v in enumerate(parsed) if v is None]
        drop = policy.handle("bad GalaxyID", f"{count(len(bad), 'file')} in {folder} not named "
                             f"<GalaxyID>.jpg", bad, "Rename or remove them.")
        rows.drop(drop)
        parsed = [v for i, v in enumerate(parsed) if i not in drop]
    if all(v is not None for v in parsed):
        rows.ids = np.array(parsed, dtype=object)
    dup = duplicate_issues(list(rows.ids), rows.where, "ID")
    rows.drop(policy.handle(
        "duplicate ID", f"{count(len(dup), 'image file')} sharing the name (the galaxy ID) of "
        f"another file", dup, "galmorph names each galaxy by its file name without the "
        "suffix: rename the files, or read the folders one at a time."))
    paths = list(rows.frame["path"])
    if check:
        bad, odd = check_image_headers(paths, rows.ids, size, mode)
        drop = header_problems(policy, bad, odd, len(paths), "", size, mode)
        rows.drop(drop)
        paths = [p for i, p in enumerate(paths) if i not in drop]
    numeric = len(rows) > 0 and all(isinstance(v, (int, np.integer)) for v in rows.ids)
    return (rows.ids.astype(np.int64) if numeric else rows.ids.astype(str)), paths


def read_table(path, id_columns=()):
    """A CSV (optionally zipped/gzipped) or FITS table as a DataFrame; IDs as text.

    ID columns are read as strings so that 18-digit ``dr7objid`` values never
    pass through float64, and so that bad IDs can be reported as written.
    """
    import pandas as pd

    path = Path(path)
    try:
        if path.name.lower().endswith(_FITS):
            from astropy.table import Table

            frame = Table.read(path).to_pandas()
            for c in id_columns:
                if c in frame.columns:
                    frame[c] = frame[c].astype(str)
            return frame
        header = table_columns(path)
        return pd.read_csv(path, dtype={c: str for c in id_columns if c in header})
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})") from exc


def table_columns(path):
    """Column names of a CSV or FITS table, as written, reading only its header.

    Much faster than ``pandas.read_csv(nrows=0)`` on wide tables such as
    gz2_hart16 (231 columns), and duplicate names stay visible.
    """
    path = Path(path)
    name = path.name.lower()
    try:
        if name.endswith(_FITS):
            from astropy.io import fits

            header = fits.getheader(path, 1)
            return [header.get(f"TTYPE{i}") for i in range(1, int(header.get("TFIELDS", 0)) + 1)]
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if not n.endswith("/"))
                with archive.open(member) as raw:
                    line = io.TextIOWrapper(raw, encoding="utf-8-sig").readline()
        else:
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
                line = f.readline()
    except (OSError, IndexError, ValueError, StopIteration, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})") from exc
    return next(csv.reader([line]), [])


def describe_sources(layout, root, tables, paths, **options):
    """``Catalog.sources``: tables with size and mtime, an image fingerprint, the options."""
    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    return {"layout": layout, "root": root if isinstance(root, list) else str(root),
            "files": [file_record(t) for t in tables], "images": images_fingerprint(paths),
            "options": options}


def file_record(path):
    """``{"path", "size", "mtime"}`` of one input file (JSON-able)."""
    st = os.stat(path)
    return {"path": str(absolute(path)), "size": int(st.st_size),
            "mtime": float(st.st_mtime)}


def images_fingerprint(paths):
    """A compact JSON-able description of many image files.

    ``count``, total ``bytes``, newest ``mtime`` and a SHA-1 ``digest`` of
    every (path, size, mtime in ns): any added, removed, renamed,
    resized or touched image changes the digest.
    """
    digest = hashlib.sha1()
    total, newest = 0, 0.0
    for path in paths:
        st = os.stat(path)
        total += st.st_size
        newest = max(newest, st.st_mtime)
        digest.update(f"{os.fspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"count": len(paths), "bytes": int(total), "mtime_max": float(newest),
            "digest": digest.hexdigest()}
