"""Writing predictions: the Kaggle submission CSV (streamed), ECSV and FITS tables.

Plumbing of :func:`galmorph.inference.files.predict_files`: every write is
atomic, a streamed CSV grows in ``<out>.partial`` and is renamed when whole,
and a write that fails at the end lands in the system temporary folder with a
warning, so the rows are never lost.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from galmorph._util._atomic import atomic_open, atomic_path, replace_atomic
from galmorph._util._io import save_or_warn, write_skip_report
from galmorph.data.images import INPUT_NOTE_DESCRIPTION
from galmorph.errors import DataError
from galmorph.schema import ID_COLUMN, KAGGLE_COLUMNS

__all__ = ["OUTPUT_FORMATS", "output_format", "CsvWriter", "build_table", "write_table",
           "save_table", "save_report"]

#: Output file endings and the format each selects.
OUTPUT_FORMATS = {".csv": "kaggle-csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits"}

def output_format(out):
    name = str(out).lower()
    for ending, fmt in OUTPUT_FORMATS.items():
        if name.endswith(ending):
            return fmt
    raise DataError(f"cannot tell the output format of {out}: its name must end in "
                    f"{', '.join(OUTPUT_FORMATS)} (.csv is the Kaggle submission format)")


def csv_lines(ids, pred):
    """Kaggle submission rows: ``GalaxyID,f1,...,f37`` with 6 decimals."""
    return "".join(f"{gid}," + ",".join(f"{v:.6f}" for v in row) + "\n"
                   for gid, row in zip(ids, pred))


CSV_HEADER = ",".join((ID_COLUMN,) + KAGGLE_COLUMNS) + "\n"


class CsvWriter:
    """Appends rows in the Kaggle submission format to ``<out>.partial``.

    A failed append (disk full) stops the streaming and is kept in ``error``;
    the rows stay in memory and are written whole at the end.
    """

    def __init__(self, out):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.fh, self.error = None, None
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.partial, "w", newline="")
        except OSError as err:
            self.error = err
        self._write(CSV_HEADER)

    def _write(self, text):
        if self.error is not None:
            return
        try:
            self.fh.write(text)
            self.fh.flush()
        except OSError as err:
            self.error = err
            self.abandon()
            self.partial.unlink(missing_ok=True)  # free the space for the final write

    def append(self, ids, pred):
        self._write(csv_lines(ids, pred))

    def commit(self):
        if self.error is not None:
            raise self.error
        self.fh.close()
        replace_atomic(self.partial, self.out)

    def abandon(self):
        try:
            if self.fh is not None:
                self.fh.close()
        except OSError:
            pass


def write_kaggle_csv(table, path):
    pred = np.array([table[c] for c in KAGGLE_COLUMNS]).T                 # (N, 37)
    with atomic_open(path, "w") as fh:
        fh.write(CSV_HEADER + csv_lines(table[ID_COLUMN], pred))


def build_table(ids, files, pred, info, skipped, tta, n_images, notes):
    import astropy.units as u
    from astropy.table import Column, Table

    from galmorph import __version__
    from galmorph.schema import SCHEMA_VERSION, describe_column

    table = Table()
    table[ID_COLUMN] = Column(ids, description="galaxy identifier (image file name stem)")
    table["file"] = Column(np.array(files, dtype=str), description="image file")
    for j, col in enumerate(KAGGLE_COLUMNS):
        table[col] = Column(pred[:, j], unit=u.dimensionless_unscaled,
                            description="weighted vote fraction: " + describe_column(col))
    table["input_note"] = Column(np.array(notes, dtype=str), description=INPUT_NOTE_DESCRIPTION)
    table.meta.update(info)
    table.meta.update({
        "tta": tta, "n_images": n_images, "n_predicted": len(table),
        "n_skipped": len(skipped), "n_converted": int(sum(1 for n in notes if n)),
        "skipped": [{"file": f, "reason": r} for f, r in skipped],
        "schema_version": SCHEMA_VERSION, "galmorph_version": __version__,
    })
    return table


def write_table(table, out, fmt):
    """Write the whole table to ``out`` in ``fmt``, atomically."""
    if fmt == "kaggle-csv":
        return write_kaggle_csv(table, out)
    if fmt == "fits":
        # FITS headers hold scalars: flatten the metadata, list skipped files as COMMENTs.
        flat = table.copy(copy_data=False)
        meta = table.meta
        flat.meta = {"MODEL": str(meta["model_name"]), "CKPT": str(meta["model_path"]),
                     "CROP": str(meta["preprocessing"]["crop"]),
                     "SIZE": meta["preprocessing"]["size"], "TTA": str(meta["tta"]),
                     "NIMAGES": meta["n_images"], "NSKIPPED": meta["n_skipped"],
                     "SCHEMA": meta["schema_version"],
                     "comments": [f"skipped {s['file']}: {s['reason']}"[:2000]
                                  for s in meta["skipped"]]}
        table = flat
    with atomic_path(out) as tmp:
        table.write(tmp, format=fmt, overwrite=True)


def save_table(table, out, fmt, writer):
    """Write ``table`` to ``out`` (renaming the streamed CSV where it is whole); on an
    OSError save it in the temporary folder instead and warn (never lose the rows)."""
    def write(path):
        if writer is not None and path == Path(out) and writer.error is None:
            writer.commit()
        else:
            write_table(table, path, fmt)

    path, reason = save_or_warn(write, out, f"the {len(table)} predictions", stacklevel=3)
    table.meta["out"] = None if path is None else str(path)
    if reason is not None:
        table.meta["out_error"] = reason
        if path is not None and writer is not None:
            writer.partial.unlink(missing_ok=True)  # the fallback holds every row


def save_report(report, skipped, n_images):
    rows = [{"file": f, "reason": r} for f, r in skipped]
    path, reason = save_or_warn(lambda p: write_skip_report(p, rows, n_images), report,
                                "the report", stacklevel=3)
    return {"report": None if path is None else str(path), "report_error": reason}
