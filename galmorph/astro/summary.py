"""Readable summaries of a classified table: one galaxy's answers, or a catalogue's.

What ``galmorph classify`` prints, public for scripts and notebooks. Both read
the columns and ``meta`` of :meth:`MorphologyClassifier.predict
<galmorph.astro.classifier.MorphologyClassifier.predict>`: the answers (with
their intervals, when asked), ``p_merger`` and the calibrated ``merger_prob``,
``is_merger`` and the rule that set it, and ``is_ood``. Masked values (failed
rows, a model without a calibration) are said as such, never read as False.

Examples
--------
>>> from galmorph import MorphologyClassifier                     # doctest: +SKIP
>>> from galmorph.astro.summary import catalog_summary, position_summary
>>> result = MorphologyClassifier().predict(catalog)               # doctest: +SKIP
>>> print("\\n".join(catalog_summary(result)))                     # doctest: +SKIP
>>> print("\\n".join(position_summary(result[0], result.meta)))    # doctest: +SKIP
"""
from __future__ import annotations

__all__ = ["position_summary", "catalog_summary"]


def position_summary(row, meta):
    """Readable lines for one classified row.

    Each question's answers (``smooth 0.612 [0.51, 0.70]`` where intervals were
    asked), ``p_merger`` and the calibrated ``merger_prob``, the merger verdict
    with the rule behind it, and the out-of-distribution flag with its reason.

    Parameters
    ----------
    row : astropy.table.Row
        A row of :meth:`MorphologyClassifier.predict
        <galmorph.astro.classifier.MorphologyClassifier.predict>`'s table.
    meta : dict
        That table's ``meta`` (``merger_rule``, ``merger_threshold``, ...).

    Returns
    -------
    list of str
    """
    from galmorph import schema

    head = []
    if "ra" in row.colnames and "dec" in row.colnames:
        head.append(f"galaxy at RA {row['ra']:.5f} deg, Dec {row['dec']:+.5f} deg")
    head.append(f"model {meta.get('model_name')} ({meta.get('model_path') or 'in memory'})")
    if not row["predict_ok"]:
        return head + [f"FAILED: {row['predict_error']}"]
    level = meta.get("intervals")
    bounds = level is not None and f"{schema.KAGGLE_COLUMNS[0]}_lo" in row.colnames
    with_bounds = f"; [{100 * level:g} % interval] after each" if bounds else ""
    lines = head + [f"weighted vote fractions (Galaxy Zoo 2 decision tree{with_bounds}):"]
    for q in schema.QUESTIONS:
        answers = ", ".join(_answer(row, a.label, a.kaggle, bounds) for a in q.answers)
        lines.append(f"  Q{q.number:<2d} {q.text}\n       {answers}")
    return lines + _merger_lines(row, meta) + _ood_lines(row)


def _value(row, name):
    """``row[name]`` as a float, or None where it is missing, masked or not finite."""
    import numpy as np

    if name not in row.colnames or np.ma.is_masked(row[name]):
        return None
    value = float(row[name])
    return value if np.isfinite(value) else None


def _flag(row, name):
    """``row[name]`` as a bool, or None where it is missing or masked."""
    import numpy as np

    if name not in row.colnames or np.ma.is_masked(row[name]):
        return None
    return bool(row[name])


def _answer(row, label, column, bounds):
    """``smooth 0.612``, with `` [0.51, 0.70]`` when ``bounds`` and the row has them."""
    text = f"{label} {row[column]:.3f}"
    lo, hi = (_value(row, f"{column}_{end}") for end in ("lo", "hi")) if bounds else (None,) * 2
    return text if lo is None or hi is None else f"{text} [{lo:.2f}, {hi:.2f}]"


def _merger_lines(row, meta):
    """``p_merger``, ``merger_prob`` and the verdict, naming the rule that gave it."""
    from galmorph.schema import MERGER_COLUMN, PAPER_MERGER_THRESHOLD

    p, prob = _value(row, "p_merger"), _value(row, "merger_prob")
    lines = [f"p_merger = {p:.3f} ({MERGER_COLUMN}, the weighted fraction of volunteers who "
             f"would call it a merger)"]
    if prob is None:
        lines.append("merger_prob: not available (the model has no merger calibration)")
    else:
        lines.append(f"merger_prob = {prob:.3f} (calibrated probability that volunteers give "
                     f"{MERGER_COLUMN} >= {PAPER_MERGER_THRESHOLD:g})")
    verdict = {True: "MERGER", False: "not a merger", None: "no verdict"}[_flag(row, "is_merger")]
    return lines + [f"-> {verdict} ({_rule(meta)})"] + _rule_note(meta)


def _rule(meta):
    """The rule that set ``is_merger``, as ``meta`` records it."""
    rule, flag_threshold = meta.get("merger_rule", "paper"), meta.get("merger_flag_threshold")
    if rule == "prob" and flag_threshold is not None:
        why = f"merger_prob >= {flag_threshold:.4f}, the model's calibrated flag threshold"
    else:
        why = f"p_merger >= {meta['merger_threshold']:g}, the paper's rule"
    return f"merger rule {rule!r}: {why}"


def _rule_note(meta):
    """Why the paper's rule was used where ``"prob"`` was asked (a model without a merger
    calibration), as a line; none otherwise."""
    return [f"   ({meta['merger_rule_note']})"] if meta.get("merger_rule_note") else []


def _ood_lines(row):
    """The out-of-distribution flag, with the reason from ``input_note`` when flagged."""
    flag, score = _flag(row, "is_ood"), _value(row, "ood_score")
    if flag is None:
        return ["out of distribution: not checked (the model has no OOD calibration)"]
    if not flag:
        return [f"in distribution (ood_score {score:.1f}): like the galaxies the model was "
                f"trained on"]
    note = str(row["input_note"]) if "input_note" in row.colnames else ""
    return [f"OUT OF DISTRIBUTION, treat the answers with care: "
            f"{note or f'ood_score {score:.1f}'}"]


def catalog_summary(result):
    """Readable lines for a classified catalogue.

    The rows classified, the merger fraction from ``merger_prob`` (with its
    interval) and by the paper's rule, the rows ``is_merger`` flags under the rule
    used, the rows flagged out of distribution, the first failures and any
    redshift bias found.

    Parameters
    ----------
    result : astropy.table.Table
        :meth:`MorphologyClassifier.predict
        <galmorph.astro.classifier.MorphologyClassifier.predict>`'s table.

    Returns
    -------
    list of str
    """
    n, n_ok = len(result), int(result["predict_ok"].sum())
    lines = [f"classified {n_ok} of {n} rows with model {result.meta['model_name']} "
             f"({result.meta['model_path'] or 'in memory'})"]
    if n_ok:
        lines += _merger_summary(result) + _ood_summary(result)
    lines += [f"  failed: {row['predict_error']}" for row in result[~result["predict_ok"]][:5]]
    flags = result.meta.get("redshift_trends", {}).get("flags") or {}
    lines += [f"redshift bias: {msg}" for msg in flags.get("messages", [])]
    return lines


def _merger_summary(result):
    """The merger fraction from ``merger_prob`` (with its interval), the paper-rule count,
    and how many rows ``is_merger`` flags under the rule used."""
    import numpy as np

    from galmorph.astro.mergers import merger_fraction

    meta = result.meta
    lines = []
    prob = result["merger_prob"] if "merger_prob" in result.colnames else None
    if prob is not None and np.ma.count(np.ma.masked_invalid(prob)):
        lines.append(str(merger_fraction(result, method="prob", seed=0)))
    else:
        lines.append("merger_prob: not available (the model has no merger calibration)")
    lines.append(str(merger_fraction(result, threshold=meta["merger_threshold"],
                                     method="rule", seed=0)))
    flags = np.ma.asarray(result["is_merger"])  # masked on failed rows: not counted
    lines.append(f"is_merger flags {int(np.ma.filled(flags, False).sum())} of {flags.count()} "
                 f"rows ({_rule(meta)})")
    return lines + _rule_note(meta)


def _ood_summary(result):
    """How many rows are flagged out of distribution (``meta["n_ood"]``)."""
    import numpy as np

    if "is_ood" not in result.colnames or not np.ma.asarray(result["is_ood"]).count():
        return ["out of distribution: not checked (the model has no OOD calibration)"]
    n_ood = int(result.meta.get("n_ood", np.ma.filled(result["is_ood"], False).sum()))
    n_ok = int(result["predict_ok"].sum())
    return [f"{n_ood} of {n_ok} rows flagged out of distribution (is_ood; the reason is in "
            f"input_note)"]
