"""What goes into the classifier and what comes out: catalogue files, typed positions,
result tables and their failed rows.

What ``galmorph classify`` does around :meth:`MorphologyClassifier.predict
<galmorph.astro.classifier.MorphologyClassifier.predict>`, public for scripts:

- :func:`read_catalog`: any table astropy reads, with one clear error;
- :func:`sky_position`: RA/Dec typed as degrees or sexagesimal, as a SkyCoord;
- :func:`write_result`: the classified table written atomically, and saved elsewhere
  (named in the error) when that fails, so that finished rows are never lost;
- :func:`failed_rows`: the rows that could not be classified, and why.

Examples
--------
>>> from galmorph.astro.io import sky_position
>>> c = sky_position("10:00:24", "+02:12:00")
>>> print(f"{c.ra.deg:.3f} {c.dec.deg:+.3f}")
150.100 +2.200
"""
from __future__ import annotations

from pathlib import Path

from galmorph._util._io import OutputError
from galmorph.errors import DataError

__all__ = ["read_catalog", "sky_position", "write_result", "failed_rows"]


def read_catalog(path):
    """Read a catalogue file as an astropy Table.

    Parameters
    ----------
    path : path-like
        Any table astropy reads (ECSV, FITS, VOTable, CSV, ...); a file whose format
        astropy cannot guess is tried as plain ASCII.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    DataError
        The file does not exist, or no reader could read it (the message names it).
    """
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise DataError(f"catalogue {path} does not exist")
    try:
        return Table.read(path)
    except Exception as exc:  # astropy raises many types for unreadable tables
        try:
            return Table.read(path, format="ascii")
        except Exception:
            raise DataError(f"cannot read catalogue {path}: {exc}. Give a table astropy can "
                            f"read (ECSV, FITS, VOTable, CSV)") from None


def sky_position(ra, dec, *, names=("ra", "dec")):
    """A sky position typed as text (or numbers), as an ICRS SkyCoord.

    Parameters
    ----------
    ra, dec : str or float
        Degrees (``"150.1"``, ``"2.2"``), or sexagesimal: RA in hours
        (``"10:00:24"``, ``"10h00m24s"``) and Dec in degrees (``"+02:12:00"``).
    names : (str, str)
        What ``ra`` and ``dec`` are called in the error message (``galmorph classify``
        says ``--ra`` and ``--dec``).

    Returns
    -------
    astropy.coordinates.SkyCoord

    Raises
    ------
    DataError
        Neither reading fits; the message repeats the values and shows both forms.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    try:
        return SkyCoord(float(ra), float(dec), unit="deg")
    except ValueError:
        pass
    try:
        return SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
    except ValueError as exc:
        raise DataError(f"cannot read {names[0]} {ra!r} {names[1]} {dec!r} as a position "
                        f"({exc}); give degrees (150.1 2.2) or sexagesimal "
                        f"(10:00:24 +02:12:00)") from None


def write_result(result, path, *, flag=None):
    """Write a classified table atomically, never losing its rows.

    The format comes from the extension (``.ecsv`` keeps the metadata; ``.fits``,
    ``.csv``, ``.xml`` for VOTable). If the write fails, the rows are saved as ECSV --
    beside ``path`` (``<path>.ecsv``) when only the format failed, else (or if that fails
    too) in the system temporary folder -- and an error names the copy.

    Parameters
    ----------
    result : astropy.table.Table
        What :meth:`MorphologyClassifier.predict
        <galmorph.astro.classifier.MorphologyClassifier.predict>` returned, or any table.
    path : path-like
        Where to write it.
    flag : str, optional
        The command-line flag that named ``path`` (``"--out"``), for the message.

    Raises
    ------
    OutputError
        ``path`` could not be written (an :class:`OSError` and a
        :class:`~galmorph.errors.GalmorphError`); the message says where the rows went.
    """
    from galmorph._util._io import describe_error, fallback_path, write_table_atomic

    label = f"{flag} {path}" if flag else str(path)
    try:
        write_table_atomic(result, path)
        return
    except Exception as exc:  # disk full, folder gone, a format astropy cannot write, ...
        reason, hint = describe_error(exc), ""
        beside = [] if isinstance(exc, OSError) else [Path(f"{path}.ecsv")]
    if beside:
        hint = ". Use an extension astropy writes: .ecsv, .fits, .csv, .xml (VOTable)"
    for rescue in beside + [None]:
        try:
            rescue = rescue or fallback_path(Path(path).stem + ".ecsv")
            write_table_atomic(result, rescue, format="ascii.ecsv")
            break
        except OSError as exc:
            failed = describe_error(exc)
    else:
        raise OutputError(f"{label}: cannot write it ({reason}); the classified rows "
                          f"could not be saved in the temporary folder either ({failed})")
    raise OutputError(f"{label}: cannot write it ({reason}); the {len(result)} classified "
                      f"rows were saved to {rescue} instead{hint}")


def failed_rows(result, image_column=None):
    """The rows of a classified table that failed, and why.

    Parameters
    ----------
    result : astropy.table.Table
        A table with the classifier's ``predict_ok`` and ``predict_error`` columns.
    image_column : str, optional
        The image-path column to report (default: the first of ``path``, ``file``,
        ``filename``, ``image``, ... present).

    Returns
    -------
    list of dict
        ``{"row", "file" (or "ra", "dec"), "reason"}`` per failed row, ``row`` its index in
        ``result`` and ``reason`` without the ``"row N: "`` prefix: the rows of the skip
        report that ``galmorph classify --report`` and ``galmorph predict --report`` write.
    """
    import numpy as np

    from galmorph.astro._classify_inputs import PATH_NAMES

    names = [image_column] if image_column else [n for n in PATH_NAMES if n in result.colnames]
    column = next((n for n in names if n in result.colnames), None)
    rows = []
    for i in np.flatnonzero(~np.asarray(result["predict_ok"])):
        row = {"row": int(i)}
        if column is not None:
            row["file"] = str(result[column][i])
        for key in ("ra", "dec"):
            if key in result.colnames:
                row[key] = float(result[key][i])
        reason = str(result["predict_error"][i])
        row["reason"] = reason.split(": ", 1)[1] if reason.startswith("row ") else reason
        rows.append(row)
    return rows
