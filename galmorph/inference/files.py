"""Predict the 37 GZ2 vote fractions for image files and write them out.

:func:`predict_files` streams: it decodes, crops and resizes one chunk of
files (in a pool of worker processes while the network works on the chunk
before), predicts it with :func:`galmorph.inference.engine.predict_arrays`,
appends the rows to the output and moves on. Unreadable images are skipped
and reported; they never abort the rest.

Output formats, chosen by the file name:

``.csv``
    the Kaggle submission format: ``GalaxyID`` and the 37 columns
    ``Class1.1`` ... ``Class11.6``, exactly the header of Kaggle's
    ``central_pixel_benchmark.csv``; rows are appended chunk by chunk.
``.ecsv`` / ``.fits``
    an astropy Table with an ID column, the image file, the 37 columns
    (dimensionless, each described by :func:`galmorph.schema.describe_column`)
    and the model, preprocessing and skipped files in its metadata.

While running, the output is written to ``<out>.partial`` and renamed when
complete, so an interrupted run keeps its rows without passing for a full one.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from galmorph.errors import DataError
from galmorph.schema import ID_COLUMN, KAGGLE_COLUMNS, N_ANSWERS

__all__ = ["predict_files", "OUTPUT_FORMATS"]

#: Output file endings and the format each selects.
OUTPUT_FORMATS = {".csv": "kaggle-csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits"}
#: Files decoded per chunk: large enough to keep the pool busy, small enough that
#: the float batch and the decoded chunk stay small in memory.
DEFAULT_CHUNK = 1024


def _catalog(inputs, recursive):
    """Image files named by ``inputs`` (folders, globs, files) as a Catalog; never raises
    for single missing or duplicate files, which land in ``catalog.skipped``."""
    from galmorph.data.catalogs import CatalogWarning, read_images

    with warnings.catch_warnings():
        # predict_files reports every skipped file itself, once, at the end.
        warnings.simplefilter("ignore", CatalogWarning)
        return read_images(inputs, on_error="skip", check_images=False, recursive=recursive)


def _decode_one(task):
    """Worker: one file -> (uint8 (3, size, size) or None, error message or None)."""
    from galmorph.data.images import crop_and_resize

    path, crop, size = task
    try:
        return crop_and_resize(path, crop=crop, size=size), None
    except DataError as err:
        return None, str(err)
    except Exception as err:  # a foreign decoder failure must not abort the other files
        return None, f"cannot read image {path}: {type(err).__name__}: {err}"


class _Decoder:
    """Decodes chunks of files, in a process pool (double-buffered) or in-process."""

    def __init__(self, workers, crop, size):
        self.crop, self.size = crop, size
        self.pool = None
        if workers and workers > 0:
            import multiprocessing as mp

            # spawn: the children never inherit torch's thread pools (fork + OpenMP can hang).
            self.pool = mp.get_context("spawn").Pool(workers)

    def submit(self, paths):
        tasks = [(str(p), self.crop, self.size) for p in paths]
        if self.pool is None:
            results = [_decode_one(t) for t in tasks]
            return lambda: results
        handle = self.pool.map_async(_decode_one, tasks, chunksize=max(1, len(tasks) // 64))
        return handle.get

    def close(self, abort=False):
        if self.pool is not None:
            if abort:
                self.pool.terminate()  # Ctrl-C or an error: do not wait for the queue
            else:
                self.pool.close()
            self.pool.join()


def _default_workers(n_files):
    if n_files < 256:
        return 0  # starting processes costs more than it saves
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def _output_format(out):
    name = str(out).lower()
    for ending, fmt in OUTPUT_FORMATS.items():
        if name.endswith(ending):
            return fmt
    raise DataError(f"cannot tell the output format of {out}: its name must end in "
                    f"{', '.join(OUTPUT_FORMATS)} (.csv is the Kaggle submission format)")


def _model_and_info(checkpoint_or_model, preprocessing):
    """(nn.Module, description dict) from a checkpoint path, a Checkpoint or a model."""
    import torch

    from galmorph.models.checkpoint import load_checkpoint

    source = None
    if isinstance(checkpoint_or_model, (str, os.PathLike)):
        source = str(checkpoint_or_model)
        checkpoint_or_model = load_checkpoint(checkpoint_or_model)
    if isinstance(checkpoint_or_model, torch.nn.Module):
        model, name, prep = checkpoint_or_model, type(checkpoint_or_model).__name__, None
    else:  # a loaded Checkpoint
        model = checkpoint_or_model.model
        name = checkpoint_or_model.name
        prep = dict(checkpoint_or_model.preprocessing)
        source = source or str(getattr(checkpoint_or_model, "path", "") or "") or None
    if prep is None:  # a bare model: its own input size where it has one
        size = getattr(getattr(model, "config", None), "input_size", None) or 80
        prep = {"crop": 224, "size": int(size)}
    prep = dict(preprocessing or prep)
    return model, {"checkpoint": source, "model": name,
                   "preprocessing": {"crop": prep["crop"], "size": int(prep["size"])}}


class _CsvWriter:
    """Appends rows in the Kaggle submission format to ``<out>.partial``."""

    def __init__(self, out):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.partial, "w", newline="")
        self.fh.write(",".join((ID_COLUMN,) + KAGGLE_COLUMNS) + "\n")

    def append(self, ids, pred):
        for gid, row in zip(ids, pred):
            self.fh.write(f"{gid}," + ",".join(f"{v:.6f}" for v in row) + "\n")
        self.fh.flush()

    def finish(self):
        self.fh.close()
        os.replace(self.partial, self.out)

    def abandon(self):
        self.fh.close()


def _build_table(ids, files, pred, info, skipped, tta, n_images):
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
    table.meta.update(info)
    table.meta.update({
        "tta": tta, "n_images": n_images, "n_predicted": len(table),
        "n_skipped": len(skipped),
        "skipped": [{"file": f, "reason": r} for f, r in skipped],
        "schema_version": SCHEMA_VERSION, "galmorph_version": __version__,
    })
    return table


def _write_table(table, out, fmt):
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "fits":
        # FITS headers hold scalars: flatten the metadata, list skipped files as COMMENTs.
        flat = table.copy(copy_data=False)
        meta = table.meta
        flat.meta = {"MODEL": str(meta["model"]), "CKPT": str(meta["checkpoint"]),
                     "CROP": str(meta["preprocessing"]["crop"]),
                     "SIZE": meta["preprocessing"]["size"], "TTA": str(meta["tta"]),
                     "NIMAGES": meta["n_images"], "NSKIPPED": meta["n_skipped"],
                     "SCHEMA": meta["schema_version"],
                     "comments": [f"skipped {s['file']}: {s['reason']}"[:2000]
                                  for s in meta["skipped"]]}
        flat.write(partial, format="fits", overwrite=True)
    else:
        table.write(partial, format=fmt, overwrite=True)
    os.replace(partial, out)


def _write_report(report, skipped, n_images):
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"file": f, "reason": r} for f, r in skipped]
    if report.suffix.lower() == ".json":
        report.write_text(json.dumps({"n_images": n_images, "n_skipped": len(rows),
                                      "skipped": rows}, indent=2) + "\n")
    else:
        lines = [f"# {len(rows)} of {n_images} images skipped"]
        lines += [f"{r['file']}\t{r['reason']}" for r in rows]
        report.write_text("\n".join(lines) + "\n")


def predict_files(checkpoint_or_model, inputs, *, out=None, batch_size=256, tta=None,
                  device="auto", precision="auto", progress=True, workers=None,
                  chunk_size=DEFAULT_CHUNK, report=None, preprocessing=None, recursive=False):
    """Predict the 37 GZ2 weighted vote fractions for image files.

    Parameters
    ----------
    checkpoint_or_model : path-like, Checkpoint or torch.nn.Module
        A checkpoint file (its ``preprocessing`` gives crop and size), a
        loaded :class:`~galmorph.models.checkpoint.Checkpoint` or a bare model
        (then ``preprocessing`` applies, else crop 224 and the model's
        ``config.input_size``, else 80).
    inputs : path-like, str or list of them
        Folders (e.g. Kaggle's ``images_test_rev1``), glob patterns
        (``"cutouts/*.png"``) or image files, in any mix (see
        :func:`galmorph.data.catalogs.read_images`).
    out : path-like, optional
        Output file; ``.csv`` (Kaggle submission), ``.ecsv`` or ``.fits``.
        ``None`` only returns the table.
    batch_size : int
        Images per forward pass (default 256).
    tta : None, "d8" or int
        Test-time augmentation (see :func:`~galmorph.inference.engine.predict_arrays`).
    device, precision : str
        ``"auto"`` by default (see :mod:`galmorph.runtime`).
    progress : bool
        Show a progress bar on stderr (default True).
    workers : int, optional
        Decoding processes; ``0`` decodes in this process. Default: one fewer
        than the CPU count (at most 8), or 0 for fewer than 256 files.
    chunk_size : int
        Files decoded and predicted per step (default 1024).
    report : path-like, optional
        Also write the skipped files and reasons here (``.json`` or text).
    preprocessing : dict, optional
        ``{"crop": 224, "size": 80}`` overriding the checkpoint's.
    recursive : bool
        Search input folders recursively.

    Returns
    -------
    astropy.table.Table
        ``GalaxyID`` (integer where every file stem is an integer, else the
        stem), ``file`` and the 37 columns ``Class1.1`` ... ``Class11.6``.
        ``table.meta["skipped"]`` lists ``{"file", "reason"}`` of every image
        that could not be read; the metadata also names the model.

    Raises
    ------
    galmorph.errors.DataError
        Unknown output format, no inputs, or no image could be read at all.

    Examples
    --------
    >>> t = predict_files("runs/gz2/best.pt", "kaggle/images_test_rev1",
    ...                   out="submission.csv", tta="d8")          # doctest: +SKIP
    >>> t.meta["skipped"]                                          # doctest: +SKIP
    []
    """
    from galmorph.augment import check_tta
    from galmorph.inference.engine import predict_arrays

    fmt = None if out is None else _output_format(out)       # fail before any work
    tta = check_tta(tta)
    model, info = _model_and_info(checkpoint_or_model, preprocessing)
    catalog = _catalog(inputs, recursive)
    paths, ids = catalog.paths, catalog.ids
    skipped = [(str(item), reason) for item, reason in catalog.skipped]
    n_inputs = len(paths) + len(skipped)
    if not paths:
        raise DataError("no readable images: " + "; ".join(f"{f}: {r}" for f, r in skipped[:3]))
    crop, size = info["preprocessing"]["crop"], info["preprocessing"]["size"]
    chunk_size = max(1, int(chunk_size))
    chunks = [paths[i:i + chunk_size] for i in range(0, len(paths), chunk_size)]
    workers = _default_workers(len(paths)) if workers is None else int(workers)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), unit="img", desc="predict", file=sys.stderr)
    writer = _CsvWriter(out) if fmt == "kaggle-csv" else None
    decoder = _Decoder(workers, crop, size)
    kept, preds = [], []
    try:
        pending = decoder.submit(chunks[0])
        for k, chunk in enumerate(chunks):
            results = pending()
            if k + 1 < len(chunks):
                pending = decoder.submit(chunks[k + 1])  # decode ahead while predicting
            good = [i for i, (arr, _) in enumerate(results) if arr is not None]
            skipped += [(str(chunk[i]), err) for i, (arr, err) in enumerate(results) if arr is None]
            if good:
                images = np.stack([results[i][0] for i in good])       # (B, 3, size, size)
                pred = predict_arrays(model, images, batch_size=batch_size, tta=tta,
                                      device=device, precision=precision)   # (B, 37)
                index = k * chunk_size + np.asarray(good)
                kept.append(index)
                preds.append(pred)
                if writer is not None:
                    writer.append(ids[index], pred)
            if bar is not None:
                bar.update(len(chunk))
    except BaseException:
        decoder.close(abort=True)
        if writer is not None:
            writer.abandon()  # keep <out>.partial with the rows done so far
        raise
    else:
        decoder.close()
    finally:
        if bar is not None:
            bar.close()

    if report is not None:
        _write_report(report, skipped, n_inputs)
    if not kept:
        if writer is not None:
            writer.abandon()
            writer.partial.unlink()
        first = "; ".join(f"{f}: {r}" for f, r in skipped[:3])
        raise DataError(f"none of the {n_inputs} images could be read ({first})")
    index = np.concatenate(kept)
    pred = np.concatenate(preds) if preds else np.empty((0, N_ANSWERS), np.float32)
    table = _build_table(ids[index], [str(paths[i]) for i in index], pred, info, skipped, tta,
                         n_inputs)
    if writer is not None:
        writer.finish()
    elif fmt is not None:
        _write_table(table, out, fmt)
    if skipped:
        warnings.warn(f"{len(skipped)} of {n_inputs} images could not be read and were "
                      f"skipped (first: {skipped[0][0]}: {skipped[0][1]}); the list is in "
                      f"table.meta['skipped']", stacklevel=2)
    return table
