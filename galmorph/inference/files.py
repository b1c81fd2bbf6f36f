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
The output folder is checked for writing before any work; a write that still
fails at the end (disk full, folder removed) saves the table to a file in the
system temporary folder instead, with an :class:`~galmorph._util._io.OutputWarning`
naming it (and ``table.meta["out"]``, ``table.meta["out_error"]``).
"""
from __future__ import annotations

import warnings

import numpy as np

from galmorph._util._io import check_writable
from galmorph._util._workers import default_workers
from galmorph.data.images import CONVERT_CHOICES
from galmorph.errors import DataError, ParameterError
from galmorph.inference._writers import (OUTPUT_FORMATS, CsvWriter, build_table, output_format,
                                         save_report, save_table)
from galmorph.schema import N_ANSWERS

__all__ = ["predict_files", "OUTPUT_FORMATS", "ImageDecoder", "decode_workers"]

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
    """Worker: one file -> (uint8 (3, size, size) or None, error or None, conversion note)."""
    from galmorph.data.images import crop_and_resize

    path, crop, size, convert = task
    try:
        arr, note = crop_and_resize(path, crop=crop, size=size, convert=convert,
                                    return_note=True)
        return arr, None, note
    except DataError as err:
        return None, str(err), ""
    except Exception as err:  # a foreign decoder failure must not abort the other files
        return None, f"cannot read image {path}: {type(err).__name__}: {err}", ""


class ImageDecoder:
    """Decodes chunks of files, in a process pool (double-buffered) or in-process.

    ``submit(paths)`` starts decoding and returns a function that waits for the
    ``(uint8 (3, size, size) or None, error or None, conversion note)`` of each path;
    submitting the next chunk before predicting this one keeps the workers busy
    while the model runs. ``close(abort=True)`` after an error or Ctrl-C.

    Parameters
    ----------
    workers : int
        Processes (or threads); 0 decodes in this process, at ``submit``.
    crop, size : int
        Central square kept and output side, pixels (the model's preprocessing).
    convert : {"flag", "refuse"}
        Images that are not g, r, i colour: converted with a note, or failed.
    threads : bool
        Threads instead of spawned processes (Pillow decodes without the GIL, and a
        user's script then needs no ``if __name__ == "__main__"`` guard).
    """

    def __init__(self, workers, crop, size, convert="flag", threads=False):
        self.crop, self.size, self.convert = crop, size, convert
        self.pool = self.threads = None
        if workers and workers > 0 and threads:
            from concurrent.futures import ThreadPoolExecutor

            # Pillow decodes and resizes without the GIL; threads also need no __main__
            # guard in the user's script, as spawned processes do.
            self.threads = ThreadPoolExecutor(workers, thread_name_prefix="galmorph-decode")
        elif workers and workers > 0:
            from galmorph._util._workers import worker_pool

            # spawn: the children never inherit torch's thread pools (fork + OpenMP can hang).
            # They ignore Ctrl-C: this process handles it and terminates them (close(abort)).
            self.pool = worker_pool(workers, start_method="spawn")

    def submit(self, paths):
        tasks = [(str(p), self.crop, self.size, self.convert) for p in paths]
        from galmorph._util._workers import wait_futures, wait_result

        if self.threads is not None:
            futures = [self.threads.submit(_decode_one, t) for t in tasks]
            return lambda: wait_futures(futures)
        if self.pool is None:
            results = [_decode_one(t) for t in tasks]
            return lambda: results
        handle = self.pool.map_async(_decode_one, tasks, chunksize=max(1, len(tasks) // 64))
        return lambda: wait_result(handle)

    def close(self, abort=False):
        if self.threads is not None:
            self.threads.shutdown(wait=True, cancel_futures=abort)
        if self.pool is not None:
            if abort:
                self.pool.terminate()  # Ctrl-C or an error: do not wait for the queue
            else:
                self.pool.close()
            self.pool.join()


def _check_convert(convert):
    if convert not in CONVERT_CHOICES:
        raise ParameterError(f"convert must be one of {', '.join(CONVERT_CHOICES)}, not "
                             f"{convert!r} (--convert on the command line)")


def decode_workers(n_files):
    """Decoding processes for ``n_files`` images: 0 (this process) for fewer than 256."""
    # One core stays with this process (it runs the model); starting processes for fewer
    # than 256 files costs more than it saves.
    return default_workers(n_files, min_tasks=256, cap=8, reserve=1)


def _model_and_info(checkpoint_or_model, preprocessing, device, precision, n_images):
    """(nn.Module, description dict) from a checkpoint path, a Checkpoint or a model,
    ready for ``device`` in the precision that pays (inference/loading.py)."""
    from galmorph.inference.loading import load_for_inference

    r, prec, dev = load_for_inference(checkpoint_or_model, preprocessing, device=device,
                                      precision=precision, n_images=n_images)
    # The keys of MorphologyClassifier's meta, so both outputs read the same way.
    from galmorph.inference.loading import trust_meta

    return r.model, {"model_path": None if r.path is None else str(r.path),
                     "model_name": r.name, "preprocessing": r.preprocessing,
                     "precision": prec, "device": str(dev)}, trust_meta(r)


def _check_arguments(out, report, tta, convert):
    """``(format of out, tta)``, or the error of a bad argument, before any work is done."""
    from galmorph.augment import check_tta

    fmt = None if out is None else output_format(out)
    if out is not None:
        check_writable(out, "out")
    if report is not None:
        check_writable(report, "report")
    _check_convert(convert)
    return fmt, check_tta(tta)


def predict_files(checkpoint_or_model, inputs, *, out=None, batch_size=256, tta=None,
                  device="auto", precision="auto", progress=True, workers=None,
                  chunk_size=DEFAULT_CHUNK, report=None, preprocessing=None, recursive=False,
                  convert="flag", extra_columns=None):
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
        Also write the skipped files and reasons here (``.json`` or text, see
        :func:`galmorph._util._io.write_skip_report`).
    preprocessing : dict, optional
        ``{"crop": 224, "size": 80}`` overriding the checkpoint's.
    recursive : bool
        Search input folders recursively.
    convert : {"flag", "refuse"}
        Images that are not g, r, i colour (greyscale, RGBA, one-band FITS):
        convert them by :mod:`galmorph.data.images`' colour rules and say so
        in the ``input_note`` column (default), or skip them with the reason.
    extra_columns : object, optional
        More columns from the same forward pass: its ``add(details, images,
        trust_meta, where)`` is called with each chunk's
        :class:`~galmorph.inference.engine.Details`, model inputs and the model's
        stored trust calibration, and its ``finish(table)`` at the end, as
        :class:`galmorph.trust.columns.TrustOutputs` does (``galmorph predict``
        passes one).

    Returns
    -------
    astropy.table.Table
        ``GalaxyID`` (integer where every file stem is an integer, else the
        stem), ``file``, the 37 columns ``Class1.1`` ... ``Class11.6`` and
        ``input_note`` (how the image was converted; empty for colour input).
        ``table.meta["skipped"]`` lists ``{"file", "reason"}`` of every image
        that could not be read; the metadata also names the model.
        ``table.meta["out"]`` is the file written: ``out``, or a file in the
        temporary folder where writing ``out`` failed at the end (then
        ``meta["out_error"]`` says why and an ``OutputWarning`` is issued);
        likewise ``meta["report"]`` and ``meta["report_error"]``.

    Raises
    ------
    galmorph.errors.DataError
        Unknown output format, no inputs, or no image could be read at all.
    galmorph._util._io.OutputError
        ``out`` or ``report`` cannot be written (checked before any work).

    Examples
    --------
    >>> t = predict_files("runs/gz2/best.pt", "kaggle/images_test_rev1",
    ...                   out="submission.csv", tta="d8")          # doctest: +SKIP
    >>> t.meta["skipped"]                                          # doctest: +SKIP
    []
    """
    fmt, tta = _check_arguments(out, report, tta, convert)   # fail before any work
    catalog = _catalog(inputs, recursive)
    paths, ids = catalog.paths, catalog.ids
    skipped = [(str(item), reason) for item, reason in catalog.skipped]
    n_inputs = len(paths) + len(skipped)
    if not paths:
        raise DataError("no readable images: " + "; ".join(f"{f}: {r}" for f, r in skipped[:3]))
    model, info, trust = _model_and_info(checkpoint_or_model, preprocessing, device,
                                         precision, len(paths))
    crop, size = info["preprocessing"]["crop"], info["preprocessing"]["size"]
    chunk_size = max(1, int(chunk_size))
    chunks = [paths[i:i + chunk_size] for i in range(0, len(paths), chunk_size)]
    workers = decode_workers(len(paths)) if workers is None else int(workers)

    bar = None
    if progress:
        from galmorph._util._progress import progress_bar

        bar = progress_bar(total=len(paths), unit="img", desc="predict")
    writer = CsvWriter(out) if fmt == "kaggle-csv" else None
    decoder = ImageDecoder(workers, crop, size, convert)
    try:
        kept, preds, notes, failed = _predict_chunks(
            chunks, decoder, writer, bar, ids, model,
            dict(batch_size=batch_size, tta=tta, device=info["device"],
                 precision=info["precision"]),
            None if extra_columns is None else (extra_columns, trust,
                                                info["model_path"] or info["model_name"]))
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
    skipped += failed

    saved_report = {} if report is None else save_report(report, skipped, n_inputs)
    if not kept:
        if writer is not None:
            writer.abandon()
            writer.partial.unlink(missing_ok=True)
        first = "; ".join(f"{f}: {r}" for f, r in skipped[:3])
        raise DataError(f"none of the {n_inputs} images could be read ({first})")
    index = np.concatenate(kept)
    pred = np.concatenate(preds) if preds else np.empty((0, N_ANSWERS), np.float32)
    table = build_table(ids[index], [str(paths[i]) for i in index], pred, info, skipped, tta,
                         n_inputs, notes)
    if extra_columns is not None:
        table = extra_columns.finish(table)
    if fmt is not None:
        save_table(table, out, fmt, writer)
    table.meta.update(saved_report)
    if skipped:
        warnings.warn(f"{len(skipped)} of {n_inputs} images could not be read and were "
                      f"skipped (first: {skipped[0][0]}: {skipped[0][1]}); the list is in "
                      f"table.meta['skipped']", stacklevel=2)
    return table


def _predict_chunks(chunks, decoder, writer, bar, ids, model, options, extra=None):
    """Decode and predict ``chunks`` of paths in turn, decoding the next while predicting.

    Returns the positions kept (one array per chunk), their predictions ``(B, 37)``, their
    input notes and the ``(file, reason)`` of the images that failed to decode. Rows go to
    the streamed CSV ``writer`` (if any) as each chunk finishes. ``extra`` is
    ``(extra_columns, trust meta, model name)`` (see :func:`predict_files`).
    """
    from galmorph.inference.engine import predict_arrays

    kept, preds, notes, failed = [], [], [], []
    chunk_size = len(chunks[0])
    pending = decoder.submit(chunks[0])
    for k, chunk in enumerate(chunks):
        results = pending()
        if k + 1 < len(chunks):
            pending = decoder.submit(chunks[k + 1])  # decode ahead while predicting
        good = [i for i, (arr, _, _) in enumerate(results) if arr is not None]
        failed += [(str(chunk[i]), err) for i, (arr, err, _) in enumerate(results)
                   if arr is None]
        notes += [results[i][2] for i in good]
        if good:
            images = np.stack([results[i][0] for i in good])           # (B, 3, size, size)
            pred = predict_arrays(model, images, details=extra is not None, **options)
            if extra is not None:                                       # a Details
                extra[0].add(pred, images, extra[1], extra[2])
                pred = pred.mean
            index = k * chunk_size + np.asarray(good)
            kept.append(index)
            preds.append(pred)
            if writer is not None:
                writer.append(ids[index], pred)
        if bar is not None:
            bar.update(len(chunk))
    return kept, preds, notes, failed
