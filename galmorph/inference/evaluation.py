"""Evaluate a trained model: RMSE per answer and per question, next to baselines.

The score is the Kaggle "Galaxy Zoo - The Galaxy Challenge" metric: the root
mean squared error over all galaxies and all 37 weighted vote fractions,

.. math:: \\mathrm{RMSE} = \\sqrt{\\frac{1}{37 N}\\sum_{i=1}^{N}\\sum_{j=1}^{37}
          (p_{ij} - a_{ij})^2}.

It is reported next to three baselines computed on the same galaxies, each
*fitted on the training part only* (the galaxies of the data that are not in
the evaluated split):

``mean``
    predict the mean training label for every galaxy (about 0.16-0.18 on
    Kaggle data);
``central_pixel``
    the idea of Kaggle's central-pixel benchmark: a least-squares linear
    regression of the 37 labels on the colour of the central pixels (mean of
    the central 2 x 2 pixels of the preprocessed image, per channel);
``zeros``
    predict 0 everywhere (a sanity floor).

References
----------
Willett K. W. et al., 2013, MNRAS 435, 2835.
Dieleman S., Willett K. W., Dambre J., 2015, MNRAS 450, 1441.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from galmorph._util._choices import EVALUATION_SPLITS
from galmorph.errors import DataError
from galmorph.inference.evaluation_result import Evaluation
from galmorph.rundir import RunDir
from galmorph.schema import KAGGLE_COLUMNS, QUESTIONS

# The metric and baselines live in metrics.py; they are re-exported here.
from galmorph.metrics import (BASELINES, baseline_rmses, central_pixel_colours,
                                       fit_central_pixel, rmse, rmse_interval,
                                       rmse_report)

__all__ = ["evaluate", "rmse_report", "central_pixel_colours",
           "fit_central_pixel", "baseline_rmses", "format_report", "BASELINES"]


# ---------------------------------------------------------------------------
# Evaluation of a checkpoint on a data set
# ---------------------------------------------------------------------------

def _load(checkpoint):
    from galmorph.models.resolve import resolve_model

    resolved = resolve_model(checkpoint)
    return resolved, resolved.path


def _open_data(data, preprocessing, progress, on_error="auto", cache_dir=None):
    """A data folder, a prepared cache or a PreparedData (or a list of them, combined)
    -> PreparedData with labels."""
    from galmorph.data import cache

    if isinstance(data, (list, tuple)):
        caches = cache_dir if isinstance(cache_dir, (list, tuple)) else [None] * len(data)
        return cache.combine([_open_data(d, preprocessing, progress, on_error, c)
                              for d, c in zip(data, caches)], on_error=on_error)
    if isinstance(data, cache.PreparedData):
        prepared = data
    else:
        path = Path(data)
        if not path.exists() and cache_dir is not None and _is_cache(Path(cache_dir)):
            path = Path(cache_dir)  # the run's images moved; their cache is still here
        if not path.exists():
            raise DataError(f"data {path} does not exist; give a data folder (Kaggle, GZ2 or "
                            f"synthetic layout) or a cache written by 'galmorph prepare'")
        if _is_cache(path):
            prepared = cache.open_prepared(path)
        else:
            prepared = cache.prepare(path, crop=preprocessing["crop"], size=preprocessing["size"],
                                     progress=progress, on_error=on_error, cache_dir=cache_dir)
    meta = prepared.meta or {}
    for key in ("crop", "size"):
        if key in meta and key in preprocessing and int(meta[key]) != int(preprocessing[key]):
            raise DataError(f"prepared cache {prepared.path} was made with {key}={meta[key]} but "
                            f"the checkpoint expects {key}={preprocessing[key]}; evaluate on the "
                            f"data folder instead, or prepare it with --{key} {preprocessing[key]}")
    if prepared.labels is None:
        raise DataError(f"data {prepared.path} has no labels to evaluate against (a test set?); "
                        f"use 'galmorph predict' for unlabelled images")
    return prepared


def _is_cache(path):
    return (path / "meta.json").is_file() and (path / "images.npy").is_file()


def _saved_validation_ids(ckpt, ckpt_path):
    """The validation IDs the run saved next to its checkpoint, or (None, why not)."""
    if ckpt_path is None:
        return None, "the checkpoint was given as an object, not a file in a run folder"
    split_file = RunDir.of_checkpoint(ckpt_path).split_file  # written by galmorph.training
    if not split_file.is_file():
        return None, f"no saved validation split (split.json) next to {ckpt_path}"
    try:
        saved = RunDir.of_checkpoint(ckpt_path).split()["val_ids"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{split_file} is not a galmorph split file ({err}); delete it or "
                        f"evaluate with --split all (split='all' in Python)") from None
    return np.asarray(saved), str(split_file)


def _run_data(ckpt_path, data):
    """``(data, cache_dir)``: the run's data folder(s) when ``data`` is None, and the run's
    cache folder(s) when the data is the run's own (prepare() reuses them while up to date)."""
    rundir = None if ckpt_path is None else RunDir.of_checkpoint(ckpt_path)
    if rundir is None or not rundir.config_file.is_file():
        if data is None:
            raise DataError(f"no data given and no run config.json next to {ckpt_path} to "
                            f"take it from; pass the labelled data folder")
        return data, None
    run = rundir.config()
    if data is None:
        data = run["data"]
    run_data = run["data"] if isinstance(run["data"], list) else [run["data"]]
    run_cache = run.get("cache")
    run_cache = run_cache if isinstance(run_cache, list) else [run_cache] * len(run_data)
    given = data if isinstance(data, (list, tuple)) else [data]
    if not all(isinstance(d, (str, Path)) for d in given):
        return data, None
    caches = {str(Path(d).resolve()): c for d, c in zip(run_data, run_cache)}
    cache_dir = [caches.get(str(Path(d).resolve())) for d in given]
    return data, (cache_dir if isinstance(data, (list, tuple)) else cache_dir[0])


def _select(split, ckpt, ckpt_path, ids):
    """Row numbers to evaluate and a note on how they were chosen."""
    every = np.arange(len(ids))
    if not isinstance(split, str):  # explicit galaxy IDs, e.g. a model card's split
        wanted = np.asarray(list(split)).astype(str)
        index = np.flatnonzero(np.isin(np.asarray(ids).astype(str), wanted))
        if len(index) == 0:
            raise DataError(f"none of the {len(wanted)} galaxy IDs to evaluate are in this data")
        note = f"the {len(index)} given galaxy IDs"
        if len(index) < len(wanted):
            note += f"; {len(wanted) - len(index)} of them are not in this data"
        return index, note
    if split == "all":
        return every, "all galaxies of the data"
    saved, where = _saved_validation_ids(ckpt, ckpt_path)
    if saved is None:
        return every, f"evaluated on all galaxies: {where}"
    # Compare as text so int IDs saved in JSON match int64 or str IDs alike.
    index = np.flatnonzero(np.isin(np.asarray(ids).astype(str), saved.astype(str)))
    if len(index) == 0:
        return every, (f"evaluated on all galaxies: none of the {len(saved)} validation IDs "
                       f"of the run ({where}) are in this data")
    note = f"the run's validation split ({len(index)} galaxies, from {where})"
    if len(index) < len(saved):
        note += f"; {len(saved) - len(index)} of its IDs are not in this data"
    return index, note


def _id_subset(ids, index, id_max):
    try:
        numeric = np.asarray(ids)[index].astype(np.int64)
    except ValueError:
        raise DataError(f"--id-max {id_max} (id_max= in Python) needs integer galaxy IDs, but this data has IDs "
                        f"such as {np.asarray(ids)[index][0]!r}") from None
    return numeric <= id_max


def _subset_scores(part, index, pred, labels, train, colours):
    """RMSE, interval, per-question RMSE and baselines of the evaluated galaxies in ``part``."""
    if not part.any():
        return {"n_galaxies": 0, "rmse": None, "rmse_ci95": None, "baselines": {},
                "per_question": {}}
    sel = index[part]
    return {"n_galaxies": int(part.sum()), "rmse": rmse(pred[part], labels[sel]),
            "rmse_ci95": list(rmse_interval(pred[part], labels[sel])),
            "per_question": rmse_report(pred[part], labels[sel])["per_question"],
            "baselines": baseline_rmses(labels[train], colours[train], labels[sel],
                                        colours[sel])}


#: The population subsets evaluate() reports first, where the data is the shared Kaggle data.
REAL_POPULATION, CONFIDENT, UNTOUCHED = "real population", "confident", "untouched split"


def _population_parts(prepared, index):
    """``{"real population": mask, "confident": mask, "untouched split": mask}`` over the
    evaluated rows, where a folder is one of the shared labelled sets (else empty): the
    unselected galaxies stand for the population astronomers point a model at."""
    from galmorph.data.populations import LABELLED_DATA, unselected_mask, untouched_mask

    sources = ([str(p["source"]) for p in prepared.parts] if prepared.parts
               else [str(prepared.meta.get("source") or prepared.path)])
    if not any(Path(s).name in LABELLED_DATA for s in sources):
        return {}
    folder = prepared.folder_index[index] if prepared.parts else np.zeros(len(index), int)
    ids = np.asarray(prepared.ids)[index]
    unselected, untouched = np.zeros(len(index), bool), np.zeros(len(index), bool)
    for k, source in enumerate(sources):
        rows = folder == k
        unselected[rows] = unselected_mask(source, ids[rows])
        untouched[rows] = untouched_mask(source, ids[rows])
    return {REAL_POPULATION: unselected, CONFIDENT: ~unselected, UNTOUCHED: untouched}


def evaluate(checkpoint, data=None, *, split="validation", tta=None, id_max=None, subsets=None,
             batch_size=256, device="auto", precision="auto", progress=False, on_error="auto",
             extra=None):
    """Score a checkpoint on labelled data: Kaggle RMSE, per answer and question, baselines.

    Parameters
    ----------
    checkpoint : path-like or Checkpoint
        A checkpoint file (e.g. ``runs/gz2/best.pt``) or a loaded checkpoint.
    data : path-like, PreparedData or None
        A labelled data folder (prepared on the fly, with the checkpoint's
        crop and size, and cached), a cache folder from ``galmorph prepare``
        or an opened :class:`~galmorph.data.cache.PreparedData`. ``None``
        takes the data folder of the checkpoint's run (its ``config.json``).
    split : {"validation", "all"} or sequence of IDs
        ``"validation"`` (default) scores the run's held-out galaxies, read
        from the run folder of the checkpoint; where there is no saved split
        or none of its IDs are in ``data`` it falls back to all galaxies and
        says so in ``result["split_note"]``. ``"all"`` scores every galaxy;
        a sequence of galaxy IDs scores those.
    tta : None, "d8" or int
        Test-time augmentation (see :func:`~galmorph.inference.engine.predict_arrays`).
    id_max : int, optional
        Also report the scores of the galaxies with ``ID <= id_max`` (for the
        real Kaggle 5k data, 115091 selects its unselected part).
    subsets : dict of str -> array-like of IDs, optional
        Also report the scores of these named sets of galaxy IDs (those in
        the evaluated split). Where ``data`` is several folders, each folder is
        reported too, as ``"folder:<name>"``.
    batch_size, device, precision, progress
        Passed to :func:`~galmorph.inference.engine.predict_arrays`.
    on_error : {"auto", "raise", "skip"}
        What preparing a data folder does with a bad label row or an
        unreadable image, and combining several with a galaxy also in an
        earlier one: stop with a :class:`~galmorph.errors.DataError`
        (``"raise"``) or leave it out (``"skip"``). ``"auto"`` (default) stops
        too, except at a GZ2 release's rows that break the tree by more than
        its rounding, which it skips with one warning (see
        :func:`galmorph.data.catalogs.read_gz2`).
    extra : object, optional
        More measurements from the same forward pass: its ``measure(details,
        labels)`` is called once with the evaluated galaxies'
        :class:`~galmorph.inference.engine.Details` (the members' outputs where
        the model has ``forward_details``; else ``spread`` is the mean alone,
        ``(N, 1, 37)``, and ``features`` empty) and their labels (``float64 (N,
        37)``, NaN unknown), and must return a JSON-able dict, stored as
        ``result["trust"]``. :class:`galmorph.trust.measure.TrustMeasure` does so
        (``galmorph evaluate`` passes one for a checkpoint with a trust
        calibration).

    Returns
    -------
    Evaluation
        The scores, read as a dict (``result["rmse"]``; ``result.to_dict()``
        gives the plain JSON-able dict), with the predictions, rows, labels
        and data they come from (:class:`Evaluation`). The scores: ``rmse``,
        ``rmse_ci95`` (a 95 % bootstrap interval over galaxies,
        :func:`~galmorph.metrics.rmse_interval`),
        ``n_galaxies``, ``per_answer`` (column -> RMSE),
        ``per_question`` (``"Q1"`` -> RMSE), ``baselines`` (name -> RMSE, fitted
        on the galaxies outside the split), ``split``, ``split_note``, ``tta``,
        ``model`` and ``data`` (what was used), ``subsets`` (for the shared
        Kaggle data ``"real population"``, its unselected galaxies, then
        ``"confident"`` and ``"untouched split"``, see
        :mod:`galmorph.data.populations`; the ``id_max`` part, if asked; each
        with ``per_question``), ``labels_note`` (what GZ2-release labels are, for a
        GZ2-layout folder; else ``None``) and ``seconds``; with ``extra``,
        ``trust`` (what its ``measure`` returned).

    Examples
    --------
    >>> r = evaluate("runs/gz2/best.pt", "gz-kaggle-5k", tta="d8", id_max=115091)  # doctest: +SKIP
    >>> r["rmse"], r["baselines"]["mean"]                                          # doctest: +SKIP
    (0.101, 0.167)
    """
    from galmorph.augment import check_tta
    from galmorph.inference.engine import RowSelection, predict_arrays

    if isinstance(split, str) and split not in EVALUATION_SPLITS:
        raise ValueError(f"split must be 'validation', 'all' or a list of galaxy IDs, "
                         f"not {split!r}")
    tta = check_tta(tta)
    start = time.perf_counter()
    ckpt, ckpt_path = _load(checkpoint)
    data, cache_dir = _run_data(ckpt_path, data)
    prepared = _open_data(data, ckpt.preprocessing, progress, on_error, cache_dir)
    index, note = _select(split, ckpt, ckpt_path, prepared.ids)
    pred = predict_arrays(ckpt.model, RowSelection(prepared.images, index),
                          batch_size=batch_size, tta=tta, device=device, precision=precision,
                          progress=progress, details=extra is not None)
    labels = np.asarray(prepared.labels, dtype=np.float64)              # (N, 37)
    if extra is not None:
        trust = extra.measure(pred, labels[index])
        pred = pred.mean                                                 # (n, 37)
    result = {"rmse": None, "n_galaxies": int(len(index))}
    result.update(rmse_report(pred, labels[index]))
    result["rmse_ci95"] = list(rmse_interval(pred, labels[index]))

    # Baselines are fitted on the rest of the data; with nothing left, in-sample.
    train = np.ones(len(labels), dtype=bool)
    train[index] = False
    if not train.any():
        train[:] = True
        note += "; baselines fitted on the same galaxies (no training part left)"
    colours = central_pixel_colours(prepared.images)                    # (N, 3)
    result["baselines"] = baseline_rmses(labels[train], colours[train], labels[index],
                                         colours[index])
    result["subsets"] = {}
    parts = _population_parts(prepared, index)
    if id_max is not None:
        parts[f"id<={id_max}"] = _id_subset(prepared.ids, index, id_max)
    for k, part in enumerate(prepared.parts):
        parts[f"folder:{Path(part['source']).name}"] = prepared.folder_index[index] == k
    ids_text = np.asarray(prepared.ids)[index].astype(str)
    for name, members in (subsets or {}).items():
        parts[name] = np.isin(ids_text, np.asarray(list(members)).astype(str))
    for key, part in parts.items():
        result["subsets"][key] = _subset_scores(part, index, pred, labels, train, colours)
    result.update({
        "split": split if isinstance(split, str) else "ids", "split_note": note, "tta": tta,
        "model": {"checkpoint": None if ckpt_path is None else str(ckpt_path),
                  "name": ckpt.name, "preprocessing": dict(ckpt.preprocessing)},
        "data": {"path": str(prepared.meta.get("source")
                             or " + ".join(p["source"] for p in prepared.parts) or prepared.path),
                 "cache": str(prepared.path), "layout": prepared.meta.get("layout"),
                 "n_total": int(len(prepared)),
                 "n_skipped": len(prepared.meta.get("skipped") or [])},
        "seconds": round(time.perf_counter() - start, 3),
    })
    result["labels_note"] = GZ2_LABELS_NOTE if result["data"]["layout"] == "gz2" else None
    if extra is not None:
        result["trust"] = trust
    return Evaluation(result, predictions=pred, rows=np.asarray(index, dtype=np.int64),
                      labels=labels[index], data=prepared,
                      baseline_rows=np.flatnonzero(train), subset_masks=parts)


#: Said of GZ2-release labels (measured by benchmarks/gz2_release.py on the 33 gz2-1k
#: galaxies that are also in the Kaggle data).
GZ2_LABELS_NOTE = ("GZ2 release vote fractions, not the Kaggle challenge's labels: for the same "
                   "galaxies the two differ by RMSE 0.100, so a model trained on Kaggle labels "
                   "(as the shipped one is) is scored on that difference too")


def _short(text, width):
    """``text`` cut at a word boundary to fit ``width`` characters, with '...'."""
    if len(text) <= width:
        return text
    return text[:width - 3].rsplit(" ", 1)[0] + "..."


def _interval(ci):
    return "" if not ci else f"  (95 % CI {ci[0]:.4f}-{ci[1]:.4f})"


def format_report(result):
    """A readable text table of an :func:`evaluate` result.

    Its ``trust`` part, where there is one, is written by
    :func:`galmorph.trust.measure.format_trust` (``galmorph evaluate`` prints both).
    """
    from galmorph.schema import ANSWER_LABELS

    model, data = result["model"], result["data"]
    lines = [f"model      {model['name']}  ({model['checkpoint']})",
             f"data       {data['path']}  ({data['n_total']} galaxies)",
             f"split      {result['split']}: {result['n_galaxies']} galaxies -- "
             f"{result['split_note']}",
             f"TTA        {result['tta'] or 'none'}"]
    if result.get("labels_note"):
        lines.append(f"labels     {result['labels_note']}")
    lines += ["", f"{'':28s}{'RMSE':>8s}"]
    subsets = dict(result.get("subsets", {}))
    real = subsets.pop(REAL_POPULATION, None)
    if real and real["rmse"] is not None:   # the figure to compare with published ones first
        lines.append(f"{'model, real population':28s}{real['rmse']:8.4f}"
                     + _interval(real.get("rmse_ci95")) + f"   ({real['n_galaxies']} "
                     f"unselected galaxies; " + "".join(
                         f"{n} {v:.4f} " for n, v in real["baselines"].items()).strip() + ")")
    lines += [f"{'model, all' if real else 'model':28s}{result['rmse']:8.4f}"
              + _interval(result.get("rmse_ci95"))]
    lines += [f"{'baseline: ' + name:28s}{value:8.4f}" for name, value in
              result["baselines"].items()]
    for key, part in subsets.items():
        if part["rmse"] is None:
            lines.append(f"{key}: no galaxies in the split")
            continue
        lines.append(f"{key + ' (' + str(part['n_galaxies']) + ')':28s}{part['rmse']:8.4f}"
                     + _interval(part.get("rmse_ci95"))
                     + "".join(f"   {n} {v:.4f}" for n, v in part["baselines"].items()))
    counts = result.get("questions") or {}
    scored = [q for q, v in result["per_question"].items() if v is not None]
    if len(scored) < len(result["per_question"]):
        lines += ["", f"scored    {', '.join(scored)} (known labels only; the other questions "
                      f"are unknown in this data)"]
    real_q = (real or {}).get("per_question") or {}
    lines += ["", "per question" + ("  (galaxies scored)" if counts else "")
              + ("; then on the real population" if real_q else "")]
    lines += [f"  {q:5s}{_short(QUESTIONS[int(q[1:]) - 1].text, 60):62s}{_num(v)}"
              + (f"  ({counts[q]})" if q in counts else "")
              + (f"  real population {_num(real_q.get(q)).strip()}" if real_q else "")
              for q, v in result["per_question"].items()]
    lines += ["", "per answer"]
    lines += [f"  {c:11s}{ANSWER_LABELS[i]:56s}{_num(result['per_answer'][c])}"
              for i, c in enumerate(KAGGLE_COLUMNS)]
    return "\n".join(lines)


def _num(value):
    return f"{'-':>8s}" if value is None else f"{value:8.4f}"
