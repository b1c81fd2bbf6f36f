"""The Galaxy Zoo 2 data-release layout (Willett et al. 2013; Hart et al. 2016).

``images/<asset_id>.jpg`` (as in the Zenodo image release), a
``gz2_hart16``-style label table (``dr7objid`` and, per answer,
``tNN_<question>_aNN_<answer>_{fraction,weighted_fraction,debiased}``) and,
where that table has no ``asset_id``, the ``gz2_filename_mapping`` table
(``objid``, ``sample``, ``asset_id``). The public reader is
:func:`galmorph.data.catalogs.read_gz2`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import schema
from ..errors import DataError
from ._files import (as_list, index_images, match_images, read_table, scan_folder,
                    table_columns)
from ._validate import Issue, LabelRows, Parts, check_ids, check_label_rows, count, parse_int_id

__all__ = ["FLAVOURS", "GZ2_IMAGE_DIR", "GZ2_MARKER", "find_tables", "unused_tables",
           "check_gz2_columns", "join_mapping", "read_release"]

#: GZ2 vote-fraction flavours (column suffixes of the release; defined in the schema).
FLAVOURS = schema.GZ2_FLAVOURS
#: Image folder of the layout.
GZ2_IMAGE_DIR = "images"
#: Stem of the first answer's columns: its presence marks a GZ2 label table.
GZ2_MARKER = schema.GZ2_COLUMNS[0]
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".fits", ".fit", ".fits.gz")
_ID_COLUMNS = ("dr7objid", "objid", "asset_id")


def find_tables(root):
    """Label tables (``t01_...`` columns) and filename mappings in ``root``."""
    labels, mappings = [], []
    for path in sorted(Path(root).iterdir()):
        if not (path.is_file() and path.name.lower().endswith(_TABLE_SUFFIXES)):
            continue
        try:
            cols = table_columns(path)
        except DataError:
            continue  # not a table: other files may sit next to the data
        if any(str(c).startswith(GZ2_MARKER) for c in cols):
            labels.append(path)
        elif "asset_id" in cols and ("objid" in cols or "dr7objid" in cols):
            mappings.append(path)
    return labels, mappings


def unused_tables(root):
    """Why each table in ``root`` is neither a GZ2 label table nor a filename mapping.

    Returns
    -------
    str
        ``"; "``-joined reasons, such as ``"gz2_hart16.csv: no t01_smooth_or_features_...
        column (it has T01_SMOOTH_OR_FEATURES_A01_SMOOTH_FRACTION, ...; columns are
        case-sensitive)"``, or ``""`` when there is no such table.
    """
    reasons = []
    for path in sorted(Path(root).iterdir()):
        if not (path.is_file() and path.name.lower().endswith(_TABLE_SUFFIXES)):
            continue
        try:
            cols = [str(c) for c in table_columns(path)]
        except DataError as exc:
            reasons.append(f"{path.name}: not a readable table ({exc})")
            continue
        # Renamed release columns (T01_..., t1_..., assetID) are the usual cause: show them.
        near = [c for c in cols if c.lower().startswith(("t01", "t1_"))
                or c.lower().replace("_", "") in ("assetid", "asset")]
        mapping = "asset_id" in cols and ("objid" in cols or "dr7objid" in cols)
        if any(c.startswith(GZ2_MARKER) for c in cols) or (mapping and not near):
            continue                                   # a label table or a mapping: used
        shown = near or cols
        listed = ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
        hint = (f"it has {listed}: renamed? GZ2 column names are case-sensitive and must "
                f"keep the release's spelling" if near else f"it has {listed}")
        reasons.append(f"{path.name}: no {GZ2_MARKER}_... label columns and no asset_id + "
                       f"objid mapping columns ({hint})")
    return "; ".join(reasons)


def check_gz2_columns(path, columns, flavour):
    """All 37 ``<answer>_<flavour>`` columns and an ID column, or a DataError naming them."""
    names = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    missing = [n for n in names if n not in columns]
    if missing:
        have = [f for f in FLAVOURS if all(f"{s}_{f}" in columns for s in schema.GZ2_COLUMNS)]
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        advice = (f"it has complete {' and '.join(map(repr, have))} columns: pass "
                  f"--flavour {have[0]} (flavour={have[0]!r} in Python)" if have
                  else "no flavour is complete in it")
        raise DataError(f"{path}: flavour {flavour!r} needs the 37 columns "
                        f"<answer>_{flavour}; {len(missing)} are missing "
                        f"({', '.join(missing[:4])}{more}); {advice}")
    if "dr7objid" not in columns and "objid" not in columns:
        raise DataError(f"{path}: no dr7objid (or objid) column to identify the galaxies")


def join_mapping(frame, id_col, path, map_files):
    """Add ``asset_id`` to a labels table through the filename mapping(s).

    Matches on (objid, sample) where both tables have ``sample`` (the public
    mapping lists some objects under several samples), else on objid alone;
    the first mapping row wins.
    """
    import pandas as pd

    if not map_files:
        raise DataError(f"{path} has no asset_id column and no filename mapping table "
                        f"(gz2_filename_mapping*.csv: objid, sample, asset_id) sits next to it: "
                        f"put the GZ2 image release's gz2_filename_mapping.csv in "
                        f"{path.parent} (or pass mapping=PATH in Python)"
                        + _also(path.parent))
    maps = pd.concat([read_table(m, _ID_COLUMNS) for m in map_files], ignore_index=True)
    key = "objid" if "objid" in maps.columns else "dr7objid"
    keys = [parse_int_id(k) for k in maps[key]]
    samples = maps["sample"].astype(str).str.strip() if "sample" in maps.columns else None
    by_id, by_pair = {}, {}
    for i, (k, asset) in enumerate(zip(keys, maps["asset_id"])):
        by_id.setdefault(k, asset)
        if samples is not None:
            by_pair.setdefault((k, samples.iloc[i]), asset)
    ids = [parse_int_id(v) for v in frame[id_col]]
    mine = frame["sample"].astype(str).str.strip() if "sample" in frame.columns else None
    assets = [by_pair.get((k, mine.iloc[i]), by_id.get(k)) if mine is not None
              else by_id.get(k) for i, k in enumerate(ids)]
    return _with(frame, asset_id=pd.Series(assets, index=frame.index, dtype=object))


def _read_gz2_table(path, flavour, map_files):
    frame = read_table(path, _ID_COLUMNS)
    check_gz2_columns(path, frame.columns, flavour)
    id_col = "dr7objid" if "dr7objid" in frame.columns else "objid"
    if "asset_id" not in frame.columns:
        frame = join_mapping(frame, id_col, path, map_files)
    csv_like = ".csv" in path.name.lower()
    where = [f"{path.name} line {i + 2}" if csv_like else f"{path.name} row {i + 1}"
             for i in range(len(frame))]
    return _with(frame, _where=where, _id=frame[id_col].to_numpy())


def _also(root):
    """``" -- the tables there: why each is not used"`` (or ``""``), for error messages."""
    why = unused_tables(root)
    return f"; of the tables there, {why}" if why else ""


def _with(frame, **columns):
    """``frame`` plus ``columns`` in one concat (column-by-column inserts fragment
    wide tables such as gz2_hart16's 231 columns)."""
    import pandas as pd

    frame = frame.drop(columns=[c for c in columns if c in frame.columns])
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1)


def read_release(root, flavour, labels, mapping, policy, size, mode, check):
    """Read and validate a GZ2 release folder (see :func:`galmorph.data.catalogs.read_gz2`).

    Checks, in order: files and columns (always errors), dr7objids,
    asset_ids, duplicates, values, the tree, then the images.

    Returns
    -------
    Parts
    """
    import pandas as pd

    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {', '.join(FLAVOURS)}, not {flavour!r}")
    folder = root / GZ2_IMAGE_DIR
    if not folder.is_dir():
        raise DataError(f"{root}: no {GZ2_IMAGE_DIR}/ folder of <asset_id>.jpg images")
    found_labels, found_maps = find_tables(root)
    label_files = found_labels if labels is None else [Path(p) for p in as_list(labels)]
    map_files = found_maps if mapping is None else [Path(p) for p in as_list(mapping)]
    if not label_files:
        raise DataError(f"{root}: no GZ2 label table (a CSV or FITS table with "
                        f"{GZ2_MARKER}_... columns, such as gz2_hart16.csv)" + _also(root))
    frame = pd.concat([_read_gz2_table(p, flavour, map_files) for p in label_files],
                      ignore_index=True)
    n_rows = len(frame)
    what = ", ".join(p.name for p in label_files)
    if n_rows == 0:
        raise DataError(f"{what}: the label table has a header but no rows")
    rows = LabelRows(frame, frame["_id"], frame["_where"], "dr7objid")
    check_ids(rows, "_id", policy, what, name="dr7objid")
    unnamed = [Issue(i, rows.ids[i], f"{rows.name(i)}: " + (
                   f"asset_id {a!r} is not an integer" if isinstance(a, str) else
                   "no asset_id (image name) in the table or the filename mapping"))
               for i, a in enumerate(rows.frame["asset_id"]) if parse_int_id(a) is None]
    rows.drop(policy.handle("no image name", f"{count(len(unnamed), 'galaxy', 'galaxies')} of "
                            f"{what} without a valid asset_id", unnamed,
                            "Use the gz2_filename_mapping table of the same release."))
    rows.frame["asset_id"] = [parse_int_id(a) for a in rows.frame["asset_id"]]
    columns = [f"{stem}_{flavour}" for stem in schema.GZ2_COLUMNS]
    check_label_rows(rows, policy, what, columns, flavour=flavour)
    known = {parse_int_id(a) for a in frame["asset_id"] if isinstance(a, (str, int))}
    paths = match_images(rows, index_images(scan_folder(folder)), policy, "asset_id", folder,
                         known, size, mode, check)
    table = rows.frame.drop(columns=["_where", "_id"])
    table["dr7objid"] = rows.ids.astype(np.int64)
    table["asset_id"] = table["asset_id"].astype(np.int64)
    return Parts(rows.ids.astype(np.int64), paths, rows.labels, table, label_files + map_files,
                 n_rows)
