"""The columns of a finetuned model's own labels, from the one forward pass.

A :class:`~galmorph.models.finetuned.Finetuned` model's heads read the pooled
features that :func:`~galmorph.inference.engine.predict_arrays` returns with
``details=True``, so the classifier gets its labels from the same pass as the
37 GZ2 fractions (an int8 model's features too). Columns are named after the
label: a probability for binary, ``<label>_<class>`` per class plus ``<label>``
(the most probable class) for multiclass, the value for regression.
"""
from __future__ import annotations

import numpy as np

__all__ = ["label_heads", "head_values", "add_label_columns"]


def label_heads(resolved):
    """The :class:`~galmorph.models.finetuned.LabelHeads` of a resolved model, or None.

    Parameters
    ----------
    resolved : galmorph.models.resolve.ResolvedModel
        Where the model is an int8 one (its heads not kept with it), the
        checkpoint file is read for them.
    """
    model = getattr(resolved.model, "module", resolved.model)
    heads = getattr(model, "label_heads", None)
    if heads is not None:
        return heads.eval()
    if getattr(getattr(model, "config", None), "name", None) != "finetuned" \
            and resolved.name != "finetuned":
        return None
    from galmorph.models.checkpoint import load_checkpoint

    return load_checkpoint(resolved.path).model.label_heads.eval()


def head_values(heads, n, ok, details):
    """``float32 (n, K)``: the heads' outputs of the rows ``ok`` (NaN elsewhere), or None.

    Parameters
    ----------
    heads : LabelHeads or None
    n : int
        Rows of the chunk.
    ok : sequence of int
        The rows predicted, in the order of ``details``.
    details : galmorph.inference.engine.Details or None
        From ``predict_arrays(..., details=True)`` (None when no row was predicted).
    """
    if heads is None:
        return None
    import torch

    out = np.full((n, sum(heads.widths)), np.nan, np.float32)
    if details is not None and len(ok):
        with torch.inference_mode():
            features = torch.from_numpy(np.ascontiguousarray(details.features))
            out[np.asarray(ok)] = heads.outputs(heads(features)).numpy()
    return out


def add_label_columns(out, values, failed, heads, config):
    """Add the label columns to the table ``out``, masked on failed rows; says what in meta.

    Parameters
    ----------
    out : astropy.table.Table
    values : list of numpy.ndarray or None
        :func:`head_values` of each chunk.
    failed : numpy.ndarray of bool
    heads : LabelHeads or None
        Nothing is added without heads.
    config : FinetunedConfig or None
        The model's config: where its encoder was trained, the 37 GZ2 columns are
        masked (they would come from a changed network) and ``meta`` says so.
    """
    if heads is None:
        return
    from astropy.table import MaskedColumn

    import warnings

    from galmorph._util._warnings import caller_stacklevel
    from galmorph.models.finetuned import output_columns

    for name in output_columns(heads.heads):
        if name in out.colnames:
            warnings.warn(f"input column {name!r} renamed to {name + '_input'!r}: galmorph "
                          f"writes the model's {name} under that name",
                          stacklevel=caller_stacklevel())
            out.rename_column(name, name + "_input")
    values = np.concatenate(values)                                  # (N, K)
    col = 0
    for head, width in zip(heads.heads, heads.widths):
        label, part = head["label"], values[:, col:col + width]
        col += width
        if head["task"] == "multiclass":
            for j, name in enumerate(head["classes"]):
                out[f"{label}_{name}"] = MaskedColumn(part[:, j], mask=failed)
                out[f"{label}_{name}"].description = f"probability that {label} is {name}"
            best = np.array(head["classes"], dtype=str)[np.nan_to_num(part).argmax(1)]
            out[label] = MaskedColumn(best, mask=failed)
            out[label].description = f"most probable {label}"
        else:
            out[label] = MaskedColumn(part[:, 0], mask=failed)
            out[label].description = (f"probability that {label} is {head['classes'][1]}"
                                      if head["task"] == "binary" else f"predicted {label}")
    encoder = getattr(config, "encoder", "frozen")
    kept = encoder == "frozen"
    out.meta["finetuned"] = {"labels": [h["label"] for h in heads.heads],
                             "tasks": [h["task"] for h in heads.heads], "encoder": encoder,
                             "gz2_answers": "kept: the network is the base's, unchanged" if kept
                             else "masked: the network was trained on the new labels, so its "
                                  "37 GZ2 answers are no longer the base's"}
    if not kept:
        from galmorph import schema

        for name in (*schema.KAGGLE_COLUMNS, "p_merger", "merger_prob", "is_merger"):
            if name in out.colnames:
                out[name] = MaskedColumn(out[name], mask=np.ones(len(out), bool))
