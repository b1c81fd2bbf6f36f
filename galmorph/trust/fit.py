"""Fit a model's trust calibration on labelled galaxies, and measure it honestly.

:func:`calibrate` is what ``galmorph calibrate MODEL DATA... --out NEW.pt`` and
``tools/ship_model.py`` run. Who fits what, and where it is measured:

- **intervals** are fitted on the labelled galaxies the networks did not train on
  (the checkpoint's ``val_ids`` in the folders it trained on; every galaxy of the
  other folders). Their coverage is measured by 2-fold cross-fitting on those
  galaxies: each half is scored with the calibration fitted on the other half, so
  no galaxy scores the calibration it helped fit. The shipped calibration is then
  fitted on both halves.
- **merger_prob** is fitted on the galaxies the networks trained on where they hold
  at least 10 mergers (two parameters need positives, and held-out sets hold few:
  5 in the shipped model's 800), else on the held-out ones; it is measured on the
  held-out galaxies when it was not fitted on them, and by 2-fold cross-fitting on
  them when it was (:func:`merger_cross_fit`). Its flag threshold is set, without
  labels, to find an expected 70 % of the mergers of the real population: the
  unlabelled ``reference`` galaxies where given, else the held-out ones.
- **the OOD reference** is the training galaxies' statistics; its threshold is fitted
  on a quarter (by GalaxyID hash) of ``reference``, a folder of unlabelled real
  galaxies, and the flag rate is measured on the other three quarters and on the
  held-out labelled galaxies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galmorph import schema
from galmorph.errors import DataError, ParameterError
from galmorph.rundir import RunDir
from galmorph.trust.calibration import TrustCalibration
from galmorph.trust.intervals import (REPORTED_LEVELS, fit_intervals, interval_coverage,
                                      predict_intervals, spread_kind)
from galmorph.trust.merger_calibration import (FLAG_RECALL, fit_merger_prob, merger_prob,
                                               merger_scores)
from galmorph.trust.ood import fit_ood, score_ood

__all__ = ["calibrate", "Predicted", "predict_folder", "cross_fitted_coverage",
           "width_adaptivity", "merger_cross_fit"]

_MIN_MERGERS = 10


@dataclass
class Predicted:
    """One folder's galaxies with one forward pass of the model over them."""

    name: str
    ids: np.ndarray
    images: np.ndarray        # (N, 3, S, S) uint8
    labels: np.ndarray | None  # (N, 37), NaN unknown
    mean: np.ndarray          # (N, 37)
    spread: np.ndarray        # (N, K, 37)
    features: np.ndarray      # (N, F)
    unselected: np.ndarray    # (N,) bool
    held_out: np.ndarray      # (N,) bool

    def take(self, rows):
        """These galaxies' ``rows`` only."""
        return dataclasses.replace(self, **{f: getattr(self, f)[rows] for f in _ROWS
                                            if getattr(self, f) is not None})


#: The per-galaxy fields of :class:`Predicted` (all but its name).
_ROWS = tuple(f.name for f in dataclasses.fields(Predicted) if f.name != "name")


def _concat(parts):
    rows = {f: None if getattr(parts[0], f) is None
            else np.concatenate([getattr(p, f) for p in parts]) for f in _ROWS}
    return Predicted("+".join(p.name for p in parts), **rows)


def predict_folder(checkpoint, folder, *, precision="fp32", progress=False):
    """Prepare ``folder`` as the checkpoint cuts images and predict it with details.

    Parameters
    ----------
    checkpoint : galmorph.models.checkpoint.Checkpoint
        A loaded checkpoint: its ``preprocessing`` gives the crop and size; its
        training data and validation IDs say which galaxies are held out.
    folder : path-like
        A data folder in any layout galmorph reads.
    precision : str
        Precision of the forward pass, as
        :func:`galmorph.inference.engine.predict_arrays` takes it (default ``"fp32"``).
    progress : bool
        Show progress bars.

    Returns
    -------
    Predicted
        The folder's galaxies with ``mean`` (N, 37), ``spread`` (N, K, 37) and
        ``features`` (N, F); ``held_out`` marks the galaxies the model did not train
        on (every one, in a folder it did not train on).
    """
    from galmorph.data.cache import prepare
    from galmorph.data.populations import unselected_mask
    from galmorph.inference.engine import predict_arrays

    prep = dict(checkpoint.preprocessing)
    data = prepare(folder, crop=prep.get("crop"), size=int(prep["size"]), progress=progress)
    images = np.asarray(data.images)
    det = predict_arrays(checkpoint, images, precision=precision, details=True,
                         progress=progress)
    ids = np.asarray(data.ids).astype(str)
    name = Path(folder).name if Path(folder).name != "images" else Path(folder).parent.name
    trained, val_ids = _training_of(checkpoint)
    if name in trained:
        if val_ids is None:
            raise DataError(f"{checkpoint.path} was trained on {name}, but neither its meta "
                            f"nor a split.json beside it says which of its galaxies were held "
                            f"out; calibrate on another labelled folder")
        held = np.isin(ids, val_ids)
    else:
        held = np.ones(len(ids), bool)
    labels = None if data.labels is None else np.asarray(data.labels, np.float64)
    return Predicted(name, ids, images, labels, det.mean, det.spread, det.features,
                     unselected_mask(name, ids), held)


def _training_of(checkpoint):
    """``(names of the data folders it trained on, its held-out IDs as text or None)``: from
    the checkpoint's meta (a shipped model's), else the run folder's config.json and
    split.json beside it (``galmorph train``'s)."""
    meta = checkpoint.meta or {}
    data, val_ids = meta.get("data"), meta.get("val_ids")
    run = None if checkpoint.path is None else RunDir.of_checkpoint(checkpoint.path)
    if data is None and run is not None and run.config_file.is_file():
        data = run.config().get("data")
    if val_ids is None and run is not None and run.split_file.is_file():
        val_ids = run.split().get("val_ids")
    data = [data] if isinstance(data, (str, Path)) else list(data or [])
    names = {Path(str(d)).name for d in data}
    names |= {Path(str(d)).parent.name for d in data if Path(str(d)).name == "images"}
    return names, None if val_ids is None else [str(v) for v in val_ids]


def _folds(ids, k=2):
    """Fold of each ID, 0 .. k-1: a CRC-32 of its text, the same on every run and machine."""
    import zlib

    return np.array([zlib.crc32(str(i).encode()) % k for i in ids], dtype=int)


def cross_fitted_coverage(held, spread_source, levels=REPORTED_LEVELS):
    """Coverage of the intervals on held-out galaxies, each half scored with the
    calibration fitted on the other half: overall and unselected, per level.

    Parameters
    ----------
    held : Predicted
        Labelled galaxies the model did not train on; the halves are a CRC-32 of their IDs.
    spread_source : str
        ``"members"``, ``"tta"`` or ``"none"`` (:func:`~galmorph.trust.intervals.spread_kind`).
    levels : sequence of float
        Nominal coverages (default 0.5, 0.68, 0.9 and 0.95).

    Returns
    -------
    dict
        ``f"{level:g}"`` -> ``{"all": ..., "unselected": ...}``, each
        :func:`~galmorph.trust.intervals.interval_coverage` of the cross-fitted bounds;
        at 0.9 also ``rmse_ratio_widest_to_narrowest`` (:func:`width_adaptivity`).
    """
    fold = _folds(held.ids)
    out = {}
    for level in levels:
        lo = np.full(held.mean.shape, np.nan)
        hi = np.full(held.mean.shape, np.nan)
        for f in (0, 1):
            fit = fold != f
            cal = fit_intervals(held.mean[fit], held.spread[fit], held.labels[fit],
                                spread_source=spread_source)
            lo[~fit], hi[~fit] = predict_intervals(cal, held.mean[~fit], held.spread[~fit],
                                                   level)
        key = f"{level:g}"
        out[key] = {"all": interval_coverage(lo, hi, held.labels),
                    "unselected": interval_coverage(lo[held.unselected], hi[held.unselected],
                                                    held.labels[held.unselected])}
        if level == 0.9:
            out[key]["rmse_ratio_widest_to_narrowest"] = width_adaptivity(
                lo, hi, held.mean, held.labels)
    return out


def width_adaptivity(lo, hi, mean, labels):
    """RMSE of the galaxies in the widest quarter of mean interval width over that of the
    narrowest quarter (over each galaxy's known answers).

    Parameters
    ----------
    lo, hi : array (N, 37)
        The interval bounds.
    mean : array (N, 37)
        The predicted fractions.
    labels : array (N, 37)
        The volunteers' fractions (NaN: unknown, left out).

    Returns
    -------
    float
        Above 1 where the wider intervals go with larger errors (they adapt); about 1
        where they do not.
    """
    known = np.isfinite(labels)
    width = np.nanmean(np.where(known, hi - lo, np.nan), 1)
    err2 = np.nanmean(np.where(known, (mean - labels) ** 2, np.nan), 1)
    q1, q3 = np.nanquantile(width, [0.25, 0.75])
    return float(np.sqrt(np.nanmean(err2[width >= q3]) / np.nanmean(err2[width <= q1])))


def _merger_event_count(d):
    j = schema.column_index(schema.MERGER_COLUMN)
    return int(np.nansum(d.labels[:, j] >= schema.PAPER_MERGER_THRESHOLD))


def merger_cross_fit(ids, p_merger, labels_merger, *, flag_recall=FLAG_RECALL, k=2,
                     min_mergers=_MIN_MERGERS):
    """``merger_prob`` fitted on held-out galaxies, measured on them by k-fold cross-fitting.

    The galaxies are split by CRC-32 of their IDs; each fold is scored with the
    calibration fitted on the others (its flag threshold set on those others too), so no
    galaxy scores a fit it took part in.

    Parameters
    ----------
    ids : array (N,)
    p_merger, labels_merger : array (N,)
        Predicted and volunteers' ``Class8.6`` (or the release's odd x merger fraction).
    flag_recall : float
        As :func:`~galmorph.trust.merger_calibration.fit_merger_prob`.
    k : int
    min_mergers : int
        Each fold's fitting galaxies need this many mergers.

    Returns
    -------
    dict
        ``cross_fitted``: :func:`~galmorph.trust.merger_calibration.merger_scores` of the
        flags over all folds; ``folds``: per fold its ``n``, ``true_fraction``,
        ``fitted_on_mergers`` and ``merger_fraction_0.68``/``_0.95`` (estimate, low,
        high) with ``holds_truth_0.68``/``_0.95``.

    Raises
    ------
    ValueError
        A fold's fitting galaxies hold too few mergers.
    """
    from galmorph._util._stats import probability_sum_interval

    fold = _folds(ids, k)
    prob, flags = np.full(len(ids), np.nan), np.zeros(len(ids), bool)
    y = np.asarray(labels_merger, dtype=np.float64)
    folds = []
    for f in range(k):
        fit, score = fold != f, fold == f
        cal = fit_merger_prob(p_merger[fit], y[fit], min_mergers=min_mergers,
                              flag_recall=flag_recall)
        prob[score] = merger_prob(cal, p_merger[score])
        flags[score] = prob[score] >= cal.flag_threshold
        known = score & np.isfinite(y) & np.isfinite(prob)
        true = float(np.mean(y[known] >= cal.threshold))
        entry = {"n": int(known.sum()), "true_fraction": true,
                 "fitted_on_mergers": int(cal.fitted_on["n_mergers"])}
        for conf in (0.68, 0.95):
            est, low, high = probability_sum_interval(prob[known], 1000, conf, seed=0)
            entry[f"merger_fraction_{conf:g}"] = [est, low, high]
            entry[f"holds_truth_{conf:g}"] = bool(low <= true <= high)
        folds.append(entry)
    return {"cross_fitted": merger_scores(flags, prob, y), "folds": folds}


def _merger_part(train, held, population, flag_recall):
    j = schema.column_index(schema.MERGER_COLUMN)
    fitted_on_train = train is not None and _merger_event_count(train) >= _MIN_MERGERS
    fit_on = train if fitted_on_train else held
    pop, pop_name = ((population.mean[:, j], population.name) if population is not None
                     else (held.mean[:, j], f"{held.name} (held out)"))
    try:
        cal = fit_merger_prob(fit_on.mean[:, j], fit_on.labels[:, j], min_mergers=_MIN_MERGERS,
                              fitted_on={"data": fit_on.name,
                                         "galaxies": "trained on" if fitted_on_train
                                         else "held out from training"},
                              flag_recall=flag_recall, population=pop,
                              population_name=pop_name)
    except ValueError as err:   # too few mergers (or no Class8.6): intervals and OOD still fit
        return None, {"skipped": str(err)}
    if fitted_on_train:
        prob = merger_prob(cal, held.mean[:, j])
        return cal, {"held_out": merger_scores(prob >= cal.flag_threshold, prob,
                                               held.labels[:, j]),
                     "paper_rule": merger_scores(
                         held.mean[:, j] >= schema.PAPER_MERGER_THRESHOLD, prob,
                         held.labels[:, j])}
    try:      # fitted on the held-out galaxies: measured on them by cross-fitting
        return cal, merger_cross_fit(held.ids, held.mean[:, j], held.labels[:, j],
                                     flag_recall=flag_recall)
    except ValueError as err:
        return cal, {"not_measured": f"too few mergers to cross-fit: {err}"}


def _ood_part(train, held, reference, rate):
    base = train if train is not None else held
    if reference is not None:
        quarter = _folds(reference.ids, 4) == 0
        ref, rest = reference.take(quarter), reference.take(~quarter)
    else:
        ref, rest = held, None
    cal = fit_ood(base.images, base.features, base.spread,
                  reference=(ref.images, ref.features, ref.spread), rate=rate,
                  fitted_on={"statistics": base.name, "threshold": ref.name})
    rates = {}
    for what, d in (("held_out_labelled", held), ("reference_rest", rest)):
        if d is not None and len(d.ids):
            score, _ = score_ood(cal, d.images, d.features, d.spread)
            rates[what] = {"n": int(len(score)),
                           "flagged": float(np.mean(score > cal.threshold))}
    return cal, rates


def calibrate(model, data, *, reference=None, out=None, precision="fp32", rate=0.02,
              merger_recall=FLAG_RECALL, progress=True):
    """Fit and measure the trust calibration of a checkpoint.

    Parameters
    ----------
    model : path-like
        A galmorph checkpoint.
    data : path-like or list of path-like
        Labelled data folders (any layout galmorph reads).
    reference : path-like, optional
        A folder of unlabelled images of the real population, for the OOD threshold.
    out : path-like, optional
        Write a copy of the checkpoint that carries the calibration here (it may be
        ``model`` itself).
    precision : str
        Precision of the forward pass the calibration is fitted on.
    rate : float
        The share of real galaxies the OOD threshold flags.
    merger_recall : float
        ``is_merger``'s threshold finds this share of the expected mergers of the
        real population: ``reference`` where given, else the held-out galaxies.
    progress : bool

    Returns
    -------
    TrustCalibration
        With ``measured``: cross-fitted interval coverage, merger scores and OOD rates.

    Raises
    ------
    galmorph.errors.DataError
        No labelled galaxy that the model did not train on.
    galmorph.errors.ParameterError
        ``merger_recall`` outside (0, 1].
    """
    from galmorph.models.checkpoint import load_checkpoint, update_meta

    if not 0 < merger_recall <= 1:
        raise ParameterError(f"merger_recall must be in (0, 1], not {merger_recall!r}")
    checkpoint = load_checkpoint(model)
    folders = [data] if isinstance(data, (str, Path)) else list(data)
    parts = [predict_folder(checkpoint, f, precision=precision, progress=progress)
             for f in folders]
    missing = [p.name for p in parts if p.labels is None]
    if missing:
        raise DataError(f"galmorph calibrate needs labelled folders; {', '.join(missing)} "
                        f"has no labels (pass unlabelled images as --reference)")
    every = _concat(parts)
    held = every.take(every.held_out)
    train = every.take(~every.held_out) if (~every.held_out).any() else None
    if not len(held.ids):
        raise DataError(f"none of the {len(every.ids)} labelled galaxies in "
                        f"{', '.join(str(f) for f in folders)} is held out from {model}'s "
                        f"training (its meta lists {len(checkpoint.meta.get('val_ids') or [])}"
                        f" validation IDs); calibrate on galaxies it did not train on")
    source = spread_kind(held.spread.shape[1], None)
    intervals = fit_intervals(held.mean, held.spread, held.labels, spread_source=source,
                              fitted_on={"data": held.name, "n": int(len(held.ids)),
                                         "galaxies": "held out from training"})
    coverage = cross_fitted_coverage(held, source)
    intervals.coverage = {k: {"all": v["all"]["coverage"],
                              "unselected": v["unselected"]["coverage"]}
                          for k, v in coverage.items()}
    ref = None if reference is None else predict_folder(checkpoint, reference,
                                                        precision=precision, progress=progress)
    mergers, merger_measured = _merger_part(train, held, ref, merger_recall)
    ood, ood_rates = _ood_part(train, held, ref, rate)
    measured = {"intervals": coverage, "mergers": merger_measured, "ood": ood_rates,
                "n_held_out": int(len(held.ids)),
                "n_held_out_unselected": int(held.unselected.sum())}
    trust = TrustCalibration(intervals, mergers, ood, measured)
    if out is not None:
        update_meta(checkpoint.path, out, trust=trust.to_dict())
    return trust
