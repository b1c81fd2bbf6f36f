"""Turn whatever ``MorphologyClassifier.predict`` is given into a stream of rows.

Accepted inputs (see :meth:`galmorph.astro.classifier.MorphologyClassifier.predict`):
an astropy Table (or pandas DataFrame) with RA/Dec columns, a SkyCoord column
or an image-path column; a SkyCoord; image paths; numpy arrays; PIL images;
and any iterable (a generator) of paths or images, which is consumed lazily.

Structural problems (no coordinate or image column, an empty table,
unit-less coordinates that look like radians) raise
:class:`~galmorph.errors.DataError`. Problems of single rows (NaN
coordinates, Dec outside [-90, 90], RA outside [0, 360] unless ``wrap_ra=True``,
a missing path) become per-row errors that the classifier keeps in its output.
A table with both an image-path column and coordinates fetches a cutout by
ra/dec for a row whose path is empty, and says so in that row's note.
A redshift column only feeds the optional diagnostics: where it does not hold
numbers it is passed on as it is, and the diagnostics report the problem.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from galmorph._util._tables import DEC_NAMES, PATH_NAMES, RA_NAMES, find_column
from galmorph.data.images import as_rgb
from galmorph.errors import DataError

__all__ = ["Row", "ParsedInput", "parse_input", "PATH_NAMES", "RA_NAMES", "DEC_NAMES", "PETRO_NAMES",
           "Z_NAMES", "CUTOUT_FALLBACK_NOTE"]

PETRO_NAMES = ("petroR90_r", "petroRad90_r", "petro_r90")
Z_NAMES = ("z", "redshift")


#: ``input_note`` of a row whose image path is empty and whose ra/dec are used instead.
CUTOUT_FALLBACK_NOTE = "no image path given: cutout fetched by ra/dec instead"


@dataclass
class Row:
    """One input row: ``kind`` is ``coord`` (value = (ra, dec) deg), ``path``,
    ``image`` (uint8 (H, W, 3)), ``ready`` (uint8 (3, s, s), already cropped) or
    ``error`` (value = the message); ``note`` goes into the row's ``input_note``."""

    index: int
    kind: str
    value: object
    petro: float = np.nan
    note: str = ""


@dataclass
class ParsedInput:
    """The parsed input: the columns to carry over, the row count and the rows."""

    kind: str
    base: Table | None
    n: int | None
    rows: object  # iterator of Row
    z: np.ndarray | None = None


def parse_input(x, *, image_column=None, image_dir=None, size=80, wrap_ra=False):
    """Parse ``x`` into :class:`ParsedInput`.

    Parameters
    ----------
    x : Table, DataFrame, SkyCoord, path(s), array(s), PIL image(s) or iterable
        See :meth:`galmorph.astro.classifier.MorphologyClassifier.predict`.
    image_column : str, optional
        Name of the image-path column of a table.
    image_dir : path or sequence of paths, optional
        Folder that relative image paths are resolved against; several folders
        are tried in turn (the first that holds the file wins), e.g. a
        catalogue's own folder, then the working directory. A row whose file is
        in none of them fails, naming every place tried.
    size : int
        The model's input side in pixels (recognises already-cropped arrays).
    wrap_ra : bool
        Wrap RA values outside [0, 360] deg into that range (400 -> 40). By
        default such a row is an error, as Dec outside [-90, 90] is: an RA of
        400 is more often a typo than a position.

    Returns
    -------
    ParsedInput
    """
    from astropy.coordinates import SkyCoord

    if type(x).__name__ == "DataFrame":
        x = Table.from_pandas(x)
    if isinstance(x, Table):
        return _from_table(x, image_column, image_dir, wrap_ra)
    if isinstance(x, SkyCoord):
        c = x.icrs.reshape(-1) if x.ndim else x.icrs.reshape((1,))
        base = Table({"ra": c.ra.deg, "dec": c.dec.deg})
        return _coord_rows("skycoord", base, base["ra"].data, base["dec"].data, None)
    if isinstance(x, (str, os.PathLike)):
        x = [x]
    if isinstance(x, np.ndarray):
        arr = x
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise DataError(f"image array must be (H, W, 3), (N, H, W, 3) or (N, 3, {size}, "
                            f"{size}) uint8, got shape {x.shape}")
        base = Table({"index": np.arange(len(arr))})
        return ParsedInput("images", base, len(arr), (_item_row(i, im, image_dir, size)
                                              for i, im in enumerate(arr)))
    if hasattr(x, "convert") and hasattr(x, "size"):  # a PIL image
        x = [x]
    if isinstance(x, (list, tuple)):
        if not x:
            raise DataError("no input: the list of images or paths is empty")
        if all(isinstance(v, (str, os.PathLike)) for v in x):
            base = Table({"path": [str(v) for v in x]})
            return ParsedInput("paths", base, len(x), (_item_row(i, v, image_dir, size)
                                               for i, v in enumerate(x)))
        base = Table({"index": np.arange(len(x))})
        return ParsedInput("images", base, len(x), (_item_row(i, v, image_dir, size)
                                            for i, v in enumerate(x)))
    if hasattr(x, "__iter__"):
        return ParsedInput("stream", None, None, (_item_row(i, v, image_dir, size)
                                           for i, v in enumerate(x)))
    raise DataError(f"cannot classify a {type(x).__name__}: pass an astropy Table (ra/dec or an "
                    f"image-path column), a SkyCoord, image paths, uint8 arrays or PIL images")


def _item_row(i, v, image_dir, size):
    """One path or image of a non-table input."""
    if isinstance(v, (str, os.PathLike)):
        return _path_row(i, v, image_dir)
    if hasattr(v, "convert") and hasattr(v, "size"):  # PIL: greyscale, alpha -> warned about
        try:
            return Row(i, "image", as_rgb(v, name=f"item {i}"))
        except DataError as err:  # e.g. a floating-point image
            return Row(i, "error", str(err))
    arr = np.asarray(v) if v is not None else None
    if arr is None or arr.ndim != 3:
        shape = None if arr is None else arr.shape
        return Row(i, "error", f"item {i}: expected an image path or a uint8 (H, W, 3) image, "
                               f"got {type(v).__name__} of shape {shape}")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and np.nanmin(arr) >= 0 and np.nanmax(arr) <= 1:
            arr = np.round(np.nan_to_num(arr) * 255).astype(np.uint8)  # floats in [0, 1]
        else:
            return Row(i, "error", f"item {i}: image dtype {arr.dtype}; expected uint8 0-255 "
                                   f"(or floats in [0, 1])")
    if arr.shape == (3, size, size):
        return Row(i, "ready", arr)
    if arr.shape == (size, size, 3):
        return Row(i, "ready", np.ascontiguousarray(arr.transpose(2, 0, 1)))
    if arr.shape[-1] != 3:
        return Row(i, "error", f"item {i}: image shape {arr.shape}; expected (H, W, 3) RGB")
    return Row(i, "image", arr)


def _folders(image_dir):
    """``image_dir`` as a list of folders, each once, in order ([] for None)."""
    if image_dir is None:
        return []
    dirs = [image_dir] if isinstance(image_dir, (str, os.PathLike)) else list(image_dir)
    out = []
    for d in dirs:
        d = Path(d).expanduser()
        if d not in out:
            out.append(d)
    return out


def _path_row(i, value, image_dir, where=None, petro=np.nan):
    where = where or f"item {i}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return Row(i, "error", f"{where}: no image path given")
    path = Path(value).expanduser()
    dirs = [] if path.is_absolute() else _folders(image_dir)
    if len(dirs) == 1:
        path = dirs[0] / path
    elif dirs:  # the first folder that holds the file
        found = next((d / path for d in dirs if (d / path).exists()), None)
        if found is None:
            tried = " and ".join(str(d / path) for d in dirs)
            return Row(i, "error", f"{where}: image {value} does not exist; tried {tried}. "
                                   f"Name the images' folder with --image-dir DIR (image_dir= "
                                   f"in Python)")
        path = found
    return Row(i, "path", path, float(petro))


def _from_table(table, image_column, image_dir, wrap_ra):
    if len(table) == 0:
        raise DataError("the input table has no rows; nothing to classify")
    if image_column is not None:
        if image_column not in table.colnames:
            raise DataError(f"image column {image_column!r} not in the table (columns: "
                            f"{_names(table)})")
    else:
        image_column = find_column(table, PATH_NAMES)
        if image_column is not None and table[image_column].dtype.kind not in "USO":
            # e.g. an integer 'image' ID next to ra/dec: not file names, use the coordinates.
            return _coords_from_table(table, wrap_ra, f" (column {image_column!r} holds "
                                                      f"{table[image_column].dtype} values, not "
                                                      f"file names)")
    z = _redshifts(table)
    if image_column is not None:
        col = table[image_column]
        if col.dtype.kind not in "USO":
            raise DataError(f"image column {image_column!r} holds {col.dtype} values, not "
                            f"file names; name the right column with --image-column NAME "
                            f"(image_column= in Python)")
        values = np.ma.filled(col, "") if np.ma.is_masked(col) else col
        rows = _path_rows(table, image_column, values, image_dir, wrap_ra)
        return ParsedInput("table-images", table, len(table), rows, z)
    return _coords_from_table(table, wrap_ra)


def _path_rows(table, image_column, values, image_dir, wrap_ra):
    """The rows of a table of image paths. Where a path is empty and the table has
    coordinates, the row is fetched by ra/dec instead (a cutout), and its note says so."""
    petro = _petro(table)
    coords = None  # (ra, dec), or why the table's coordinates cannot be used
    for i, v in enumerate(values):
        where = f"row {i} ({image_column!r})"
        text = None if v is None else str(v)
        if text is not None and text.strip():
            yield _path_row(i, text, image_dir, where, petro[i])
            continue
        if coords is None:
            coords = _fallback_coords(table)
        if isinstance(coords, str):
            yield Row(i, "error", f"{where}: no image path given{coords}")
            continue
        problem = _coord_problem(coords[0][i], coords[1][i], wrap_ra)
        if problem:
            yield Row(i, "error", f"{where}: no image path given, and {problem}")
        else:
            yield Row(i, "coord", (float(coords[0][i]) % 360.0, float(coords[1][i])),
                      float(petro[i]), note=CUTOUT_FALLBACK_NOTE)


def _fallback_coords(table):
    """(ra, dec) in degrees of a table of paths, for rows without a path; or, as text
    to append to "no image path given", why there are none."""
    from astropy.coordinates import SkyCoord

    has_coords = any(isinstance(table[n], SkyCoord) for n in table.colnames) or (
        find_column(table, RA_NAMES) is not None and find_column(table, DEC_NAMES) is not None)
    if not has_coords:
        return " (and no ra/dec columns to fetch a cutout by)"
    try:
        return _table_coords(table)
    except DataError as err:
        return f", and the ra/dec columns cannot be used for a cutout: {err}"


def _coords_from_table(table, wrap_ra, note=""):
    z = _redshifts(table)
    ra, dec = _table_coords(table, note)
    return _coord_rows("table-coords", table, ra, dec, _petro(table), z, wrap_ra)


def _names(table, limit=12):
    more = " ..." if len(table.colnames) > limit else ""
    return ", ".join(table.colnames[:limit]) + more


def _floats(col):
    return np.asarray(np.ma.filled(np.ma.asarray(col, dtype=float), np.nan), dtype=np.float64)


def _petro(table):
    """petroR90_r per row in arcsec (NaN without the column): the GZ2 cutout scale."""
    name = find_column(table, PETRO_NAMES)
    return np.full(len(table), np.nan) if name is None else _angle(table[name], name, "arcsec")


def _redshifts(table):
    """The redshift column as floats; as it is where it does not hold numbers (text such as
    "n/a"), so that the optional diagnostics, not the classification, report it."""
    name = find_column(table, Z_NAMES)
    if name is None:
        return None
    try:
        return _floats(table[name])
    except (TypeError, ValueError):
        return np.asarray(table[name])


def _angle(col, name, unit):
    """Column values in ``unit`` (deg or arcsec); unit-less columns are taken as ``unit``."""
    from astropy import units as u

    if col.dtype.kind in "USO":
        raise DataError(f"column {name!r} holds text ({col[0]!r}); give numbers in degrees, or "
                        f"convert sexagesimal values with astropy.coordinates.SkyCoord and "
                        f"pass a SkyCoord column")
    values = _floats(col)
    if getattr(col, "unit", None) is not None:
        try:
            values = (values * col.unit).to_value(unit)
        except u.UnitConversionError:
            raise DataError(f"column {name!r} has unit {col.unit}, which is not an angle; "
                            f"expected {unit}") from None
    return values


def _table_coords(table, note=""):
    """(ra, dec) in degrees from a SkyCoord column or RA/Dec columns."""
    from astropy.coordinates import SkyCoord

    for name in table.colnames:
        if isinstance(table[name], SkyCoord):
            c = table[name].icrs
            return np.asarray(c.ra.deg, float), np.asarray(c.dec.deg, float)
    ra_name, dec_name = find_column(table, RA_NAMES), find_column(table, DEC_NAMES)
    if ra_name is None or dec_name is None:
        missing = " and ".join(n for n, v in (("ra", ra_name), ("dec", dec_name)) if v is None)
        raise DataError(f"the table has no {missing} column (columns: {_names(table)}){note}; "
                        f"give 'ra' and 'dec' in degrees, a SkyCoord column, or an image-path "
                        f"column named one of {', '.join(PATH_NAMES[:4])} (or pass "
                        f"--image-column NAME; image_column= in Python)")
    ra, dec = _angle(table[ra_name], ra_name, "deg"), _angle(table[dec_name], dec_name, "deg")
    unitless = getattr(table[ra_name], "unit", None) is None and \
        getattr(table[dec_name], "unit", None) is None
    finite = np.isfinite(ra) & np.isfinite(dec)
    if unitless and finite.any() and np.all(np.abs(ra[finite]) <= 2 * np.pi) \
            and np.all(np.abs(dec[finite]) <= np.pi / 2):
        raise DataError(f"columns {ra_name!r} and {dec_name!r} have no unit and every value "
                        f"fits radians (|ra| <= 2 pi, |dec| <= pi/2); say which unit they are "
                        f"in, e.g. table[{ra_name!r}].unit = 'deg' (or 'rad')")
    return ra, dec


def _coord_rows(kind, base, ra, dec, petro, z=None, wrap_ra=False):
    n = len(ra)
    petro = np.full(n, np.nan) if petro is None else petro  # None: SkyCoord input

    def rows():
        for i in range(n):
            problem = _coord_problem(ra[i], dec[i], wrap_ra)
            if problem:
                yield Row(i, "error", f"row {i}: {problem}")
            else:
                yield Row(i, "coord", (float(ra[i]) % 360.0, float(dec[i])), float(petro[i]))
    return ParsedInput(kind, base, n, rows(), z)


def _coord_problem(ra, dec, wrap_ra):
    """What is wrong with one position (degrees), or ``""``."""
    r, d = float(ra), float(dec)
    if not (np.isfinite(r) and np.isfinite(d)):
        return f"ra/dec is not finite (ra={r}, dec={d})"
    if abs(d) > 90:
        return f"dec={d:g} deg is outside [-90, 90]"
    if not (wrap_ra or 0 <= r <= 360):
        return (f"ra={r:g} deg is outside [0, 360]; correct it, or pass wrap_ra=True to wrap "
                f"it ({r:g} -> {r % 360.0:g})")
    return ""
