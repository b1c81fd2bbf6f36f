"""The merger, interval and out-of-distribution columns of an output table.

:class:`galmorph.astro.classifier.MorphologyClassifier` and ``galmorph predict``
(:class:`TrustOutputs`, handed to :func:`galmorph.inference.files.predict_files`)
both write them here, the same way. A row that failed gets masked values, never a
flag that reads as an answer.
"""
from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn

from galmorph import schema
from galmorph.trust.calibration import TrustCalibration, TrustColumns, trust_columns
from galmorph.trust.intervals import check_intervals
from galmorph.trust.merger_calibration import MERGER_PRIOR_META

__all__ = ["MERGER_RULES", "TrustSettings", "interval_columns", "add_trust_columns",
           "ood_notes", "TrustOutputs"]

#: ``merger_rule`` choices: the calibrated ``merger_prob`` (default) or the paper's cut.
MERGER_RULES = ("prob", "paper")


class TrustSettings:
    """What the trust columns are asked for: ``intervals`` (a nominal coverage or None),
    ``merger_rule`` (:data:`MERGER_RULES`) and the paper's ``merger_threshold``.

    Parameters
    ----------
    intervals : float or None
        Nominal coverage of the ``<answer>_lo`` / ``<answer>_hi`` columns, strictly
        between 0 and 1 (such as 0.9); None (default) for none.
    merger_rule : {"prob", "paper"}
        What ``is_merger`` follows: ``"prob"`` (default), the model's calibrated
        ``merger_prob`` at its stored flag threshold, where the model has a merger
        calibration (else the paper's rule); ``"paper"``, ``p_merger >=
        merger_threshold``.
    merger_threshold : float
        The paper's threshold on the predicted ``Class8.6`` fraction (default 0.54).

    Raises
    ------
    ValueError
        ``intervals`` is not None nor a number between 0 and 1, or ``merger_rule`` is
        not one of :data:`MERGER_RULES`.
    """

    def __init__(self, intervals=None, merger_rule="prob",
                 merger_threshold=schema.PAPER_MERGER_THRESHOLD):
        self.intervals = check_intervals(intervals)
        if merger_rule not in MERGER_RULES:
            raise ValueError(f"merger_rule must be one of {MERGER_RULES}, not "
                             f"{merger_rule!r}")
        self.merger_rule, self.merger_threshold = merger_rule, float(merger_threshold)


def _flags(values, threshold):
    # Failed rows (NaN) are masked by the caller; here they are simply not flagged.
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.asarray(values, np.float64), nan=-1.0) >= threshold

_MERGER = schema.MERGER_COLUMN


def interval_columns(intervals):
    """``Class1.1_lo``, ``Class1.1_hi``, ... (answer order), or none without intervals."""
    if intervals is None:
        return []
    return [f"{c}_{end}" for c in schema.KAGGLE_COLUMNS for end in ("lo", "hi")]


def _masked(values, failed, description, unit=None):
    col = MaskedColumn(values, mask=failed.copy())
    col.description = description
    if unit is not None:
        col.unit = unit
    return col


def _merger_rule(settings, calibration):
    """The rule ``is_merger`` follows: ``"prob"`` where the model can, else ``"paper"``."""
    if settings.merger_rule == "prob" and calibration.mergers is not None:
        return "prob"
    return "paper"


def add_trust_columns(out, fractions, trust, failed, calibration, settings):
    """Write ``p_merger``, ``merger_prob``, ``is_merger``, ``ood_score``, ``is_ood`` and the
    intervals into ``out``; returns the entries for its ``meta``.

    Parameters
    ----------
    out : astropy.table.Table
    fractions : array (N, 37)
    trust : TrustColumns
    failed : bool array (N,)
        Rows that failed: masked in every column written here.
    calibration : TrustCalibration
    settings : TrustSettings
    """
    if trust.lo is not None:   # right after the 37 fractions
        for j, name in enumerate(schema.KAGGLE_COLUMNS):
            for end, values in (("lo", trust.lo), ("hi", trust.hi)):
                out[f"{name}_{end}"] = _masked(
                    values[:, j], failed, f"{'lower' if end == 'lo' else 'upper'} end of the "
                    f"{100 * settings.intervals:g} % interval of {name} (split-conformal)",
                    u.dimensionless_unscaled)
    p = fractions[:, schema.column_index(_MERGER)]
    out["p_merger"] = _masked(p, failed, f"predicted {_MERGER}: the weighted fraction of "
                              f"volunteers who would call it a merger (the paper's quantity)",
                              u.dimensionless_unscaled)
    mergers = calibration.mergers
    out["merger_prob"] = _masked(
        trust.merger_prob, failed | ~np.isfinite(trust.merger_prob),
        f"calibrated probability that volunteers give {_MERGER} >= "
        f"{schema.PAPER_MERGER_THRESHOLD} (galmorph.trust.merger_calibration; masked where the model "
        f"has no merger calibration)", u.dimensionless_unscaled)
    rule = _merger_rule(settings, calibration)
    if rule == "prob":
        flags = _flags(trust.merger_prob, mergers.flag_threshold)
        text = (f"merger_prob >= {mergers.flag_threshold:.4f} (the model's calibrated flag "
                f"threshold)")
    else:
        flags = _flags(p, settings.merger_threshold)
        text = f"p_merger >= {settings.merger_threshold:g} (the paper's rule)"
    out["is_merger"] = _masked(flags, failed | ~np.isfinite(p), text)
    has_ood = calibration.ood is not None
    out["ood_score"] = _masked(trust.ood_score, failed | ~np.isfinite(trust.ood_score),
                               "how unlike the training galaxies the input is: the largest "
                               "robust z-score of its image statistics, feature distance and "
                               "members' disagreement (galmorph.trust.ood)")
    threshold = calibration.ood.threshold if has_ood else float("nan")
    out["is_ood"] = _masked(trust.is_ood, failed | (not has_ood),
                            f"ood_score > {threshold:.3g}: outside what the model was made "
                            f"for (the reason is in input_note)")
    meta = {"merger_rule": rule, "merger_column": _MERGER,
            "merger_threshold": settings.merger_threshold,
            "intervals": settings.intervals, "n_ood": int((trust.is_ood & ~failed).sum()),
            "trust": calibration.summary()}
    if mergers is not None and mergers.prior is not None:
        meta[MERGER_PRIOR_META] = mergers.prior
    if rule == "prob":
        meta["merger_flag_threshold"] = float(mergers.flag_threshold)
    elif settings.merger_rule == "prob":
        meta["merger_rule_note"] = "the model has no merger calibration: the paper's rule used"
    return meta


def ood_notes(trust, failed):
    """The ``input_note`` text of each row flagged as out of distribution.

    Parameters
    ----------
    trust : TrustColumns
        The rows' ``ood_score``, ``ood_reason`` and ``is_ood``.
    failed : bool array (N,)
        Rows that failed: they get no note.

    Returns
    -------
    list of str, length N
        ``"out of distribution (ood_score S): <reason>"`` for a flagged row, ``""``
        for the others.
    """
    return [f"out of distribution (ood_score {s:.1f}): {why}" if flag and not bad else ""
            for s, why, flag, bad in zip(trust.ood_score, trust.ood_reason, trust.is_ood,
                                         failed)]


class TrustOutputs:
    """The trust columns of ``galmorph predict``: given to
    :func:`galmorph.inference.files.predict_files` as ``extra_columns``, it is fed each
    chunk's forward pass (:meth:`add`) and writes the columns into the table at the end
    (:meth:`finish`).

    Parameters
    ----------
    settings : TrustSettings
    """

    def __init__(self, settings):
        self.settings, self.parts = settings, []
        self.calibration = None

    def add(self, details, images, trust_meta, where="the model"):
        """Compute the trust columns of one chunk's forward pass and keep them.

        Parameters
        ----------
        details : galmorph.inference.engine.Details
            The chunk's ``mean`` (N, 37), ``spread`` (N, K, 37) and ``features`` (N, F).
        images : uint8 array (N, 3, S, S)
            The model's inputs for the chunk.
        trust_meta : dict or None
            The checkpoint's ``meta["trust"]``; read on the first call only.
        where : str
            What the model is (its path), named in the error.

        Raises
        ------
        galmorph.errors.CheckpointError
            Intervals were asked for and the model has no interval calibration.
        """
        if self.calibration is None:
            self.calibration = TrustCalibration.from_dict(trust_meta, where)
        self.parts.append(trust_columns(self.calibration, details, images,
                                        intervals=self.settings.intervals))

    def finish(self, table):
        """``table`` with the columns added after its fractions (its rows are the chunks'
        rows, in order), the OOD reasons appended to its ``input_note`` (kept last), and
        its ``meta`` updated."""
        n = len(table)
        calibration = self.calibration or TrustCalibration()
        trust = TrustColumns.concat(self.parts) if self.parts else None
        if trust is None:
            from galmorph.trust.calibration import empty_trust

            trust = empty_trust(n, self.settings.intervals)
        fractions = np.stack([np.asarray(table[c], np.float64)
                              for c in schema.KAGGLE_COLUMNS], 1)
        failed = np.zeros(n, bool)
        meta = add_trust_columns(table, fractions, trust, failed, calibration, self.settings)
        if "input_note" in table.colnames:
            notes = [";  ".join(t for t in pair if t).replace(";  ", "; ")
                     for pair in zip(table["input_note"], ood_notes(trust, failed))]
            description = table["input_note"].description
            table["input_note"] = np.array(notes, dtype=str)
            table["input_note"].description = description
        table.meta.update(meta)
        if "input_note" in table.colnames:      # last, as in the classifier's output
            table = table[[c for c in table.colnames if c != "input_note"] + ["input_note"]]
        return table
