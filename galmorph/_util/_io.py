"""Output locations: check them before the work, save finished work even when they fail.

Every command that writes (``predict``, ``classify``, ``synth``, ``demo``,
``train``) calls :func:`check_writable` on its output before any work, so a
read-only or missing folder is one clear line, not a traceback after an hour.
Where a write still fails at the end (disk full, folder removed meanwhile),
:func:`save_with_fallback` writes the finished result to a named file in the
system temporary folder (:func:`fallback_path`) and says where, so that
finished work is never thrown away.

:func:`write_skip_report` is the one writer of the "skipped rows and why"
reports of ``galmorph predict --report`` and ``galmorph classify --report``.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

from galmorph._util._atomic import atomic_open, atomic_path
from galmorph.errors import GalmorphError

__all__ = ["OutputError", "OutputWarning", "check_writable", "fallback_path", "describe_error",
           "save_with_fallback", "save_or_warn", "write_table_atomic", "table_format", "write_skip_report",
           "TABLE_FORMATS"]

#: astropy formats by file ending, where astropy's own guess is missing or ambiguous.
TABLE_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fits.gz": "fits",
                 ".csv": "ascii.csv", ".xml": "votable", ".vot": "votable",
                 ".votable": "votable", ".txt": "ascii.basic", ".dat": "ascii.basic"}


class OutputError(GalmorphError, OSError):
    """An output file or folder cannot be written."""


class OutputWarning(UserWarning):
    """An output could not be written where asked; the work was saved elsewhere."""


def describe_error(err):
    """A short lower-case reason for an exception: ``"read-only file system"``."""
    if isinstance(err, OSError) and err.errno is not None and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text


def _nearest_existing(folder):
    """The closest of ``folder`` and its parents that exists (a folder, or a file in the way)."""
    folder = Path(os.path.abspath(folder))
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    return folder


def check_writable(path, flag=None, *, folder=False):
    """Fail now, in one line, if ``path`` could not be written later.

    Creates nothing: a missing folder is fine when its nearest existing
    parent is writable (a probe file is made and removed there).

    Parameters
    ----------
    path : path-like
        The output file (or folder, with ``folder=True``).
    flag : str, optional
        The command-line flag or argument that named it (``"--out"``), put first
        in the message.
    folder : bool
        ``path`` is a folder to create or fill, not a file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        E.g. ``--out /ro/x.csv: cannot write to /ro (read-only file system)``.

    Examples
    --------
    >>> check_writable("/proc/galmorph/x.csv", "--out")     # doctest: +SKIP
    OutputError: --out /proc/galmorph/x.csv: cannot write to /proc (permission denied)
    """
    path = Path(path).expanduser()
    label = f"{flag} {path}" if flag else str(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{label}: exists and is not a folder; choose another path")
    if not folder and path.is_dir():
        raise OutputError(f"{label}: is a folder; give a file name")
    where = _nearest_existing(path if folder else path.parent)
    if not where.is_dir():
        raise OutputError(f"{label}: cannot write to {where} (not a directory)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".galmorph-write-test-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{label}: cannot write to {where} ({describe_error(err)})") from None
    return path


def fallback_path(name):
    """A new, empty file in the system temporary folder named after ``name``.

    ``fallback_path("runs/predictions.csv")`` -> ``/tmp/galmorph-predictions-k2j4.csv``.
    """
    name = Path(name).name or "output"
    stem, dot, suffix = name.partition(".")
    fd, path = tempfile.mkstemp(prefix=f"galmorph-{stem}-", suffix=dot + suffix,
                                dir=tempfile.gettempdir())
    os.close(fd)
    return Path(path)


def save_with_fallback(write, out, *, rename=None):
    """``write(out)``; if that raises OSError, ``write(fallback)`` in the temporary folder.

    Parameters
    ----------
    write : callable(path)
        Writes the finished result to the path it is given (atomically).
    out : path-like
        Where the result was asked for.
    rename : str, optional
        File name the fallback is named after (default ``out``'s).

    Returns
    -------
    path : pathlib.Path or None
        Where the result is now (``out``, the fallback, or None if both failed).
    reason : str or None
        Why ``out`` failed (None when it worked); with ``path`` None it names both failures.
    """
    try:
        write(Path(out))
        return Path(out), None
    except OSError as err:
        reason = describe_error(err)
    try:
        rescue = fallback_path(rename or out)
    except OSError as err:
        return None, f"{reason}; and not in {tempfile.gettempdir()}: {describe_error(err)}"
    try:
        write(rescue)
    except OSError as err:
        rescue.unlink(missing_ok=True)
        return None, f"{reason}; and not in {rescue.parent}: {describe_error(err)}"
    return rescue, reason


def save_or_warn(write, out, what, stacklevel=2):
    """:func:`save_with_fallback`, with an :class:`OutputWarning` if ``out`` failed.

    ``what`` names the result in the warning: ``"the 950 predictions"`` gives
    "cannot write out.csv (no space left on device); the 950 predictions went
    to /tmp/galmorph-out-x1.csv instead". Returns ``(path, reason)``.
    """
    path, reason = save_with_fallback(write, out)
    if reason is not None:
        where = (f"went to {path} instead" if path is not None
                 else "could not be saved anywhere")
        warnings.warn(f"cannot write {out} ({reason}); {what} {where}", OutputWarning,
                      stacklevel=stacklevel + 1)
    return path, reason


def table_format(path):
    """The astropy format name of a table file, from its ending, or None if unknown."""
    name = str(path).lower()
    for ending in sorted(TABLE_FORMATS, key=len, reverse=True):
        if name.endswith(ending):
            return TABLE_FORMATS[ending]
    from astropy.io import registry
    from astropy.table import Table

    found = registry.identify_format("write", Table, str(path), None, [], {})
    return found[0] if len(found) == 1 else None


def write_table_atomic(table, path, format=None):
    """Write an astropy Table to ``path`` atomically (format from the ending by default)."""
    fmt = format or table_format(path)
    if fmt is None:
        raise ValueError(f"cannot tell the table format of {path} from its ending")
    with atomic_path(path) as tmp:
        table.write(tmp, format=fmt, overwrite=True)
    return Path(path)


def write_skip_report(path, rows, n_total, noun="images"):
    """Write the skipped items and why: JSON for ``*.json``, else tab-separated text.

    Parameters
    ----------
    path : path-like
    rows : list of dict
        One per skipped item, each with ``"reason"`` and ``"file"`` (the image
        file) and/or ``"row"`` (the catalogue row) and any other fields.
    n_total : int
        Items in the whole input.
    noun : str
        What the items are (``"images"``, ``"rows"``): the JSON has
        ``n_<noun>``, ``n_skipped`` and ``skipped``; the text a ``# k of N
        <noun> skipped`` line, then ``item<TAB>reason`` lines.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        text = json.dumps({f"n_{noun}": int(n_total), "n_skipped": len(rows),
                           "skipped": rows}, indent=2) + "\n"
    else:
        lines = [f"# {len(rows)} of {n_total} {noun} skipped"]
        lines += [f"{_item(r)}\t{r['reason']}" for r in rows]
        text = "\n".join(lines) + "\n"
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return path


def _item(row):
    """The first column of a text report line: the file, else ``row N``."""
    if row.get("file"):
        return row["file"]
    extra = " ".join(f"{k} {row[k]}" for k in ("ra", "dec") if k in row)
    return f"row {row['row']}" + (f" ({extra})" if extra else "")
