"""The ``embedding`` column of :class:`~galmorph.astro.classifier.MorphologyClassifier`.

Plumbing of the classifier: ``predict`` with ``embedding=True`` keeps each chunk's
pooled features from the forward pass that gives the fractions (normalised by
:func:`galmorph.inference.embedding.features_to_embedding`, the one definition of an
embedding), and ``embed`` is that ``predict`` with only the embedding and the status
columns kept.
"""
from __future__ import annotations

import copy

import numpy as np

from galmorph.inference.embedding import (EMBEDDING_COLUMN, EMBEDDING_DESCRIPTION, NORM_COLUMN,
                                          NORM_DESCRIPTION, features_to_embedding)

__all__ = ["chunk_embedding", "add_embedding_column", "embed_table", "STATUS_COLUMNS"]

#: The columns ``embed`` keeps beside the input's and the embedding.
STATUS_COLUMNS = ("predict_ok", "predict_error", "input_note")
#: ``meta`` of ``predict`` about the merger and trust columns, which ``embed`` drops.
_TRUST_META = ("merger_rule", "merger_column", "merger_threshold", "intervals", "n_ood",
               "merger_flag_threshold", "merger_rule_note")


def chunk_embedding(clf, n, ok, details):
    """``(n, ok rows, (their embeddings (k, D), norms (k,)))`` of one chunk, or None when
    the classifier is not asked for embeddings; ``details`` is None where no row of the
    chunk had an image."""
    if not getattr(clf, "embedding", False):
        return None
    emb = None if details is None else features_to_embedding(details.features, clf.model_,
                                                             return_norm=True)
    return n, list(ok), emb


def add_embedding_column(out, parts):
    """Add the ``embedding`` (float32 (N, D)) and ``feature_norm`` (float32 (N,)) columns,
    NaN on failed rows, to ``out`` from the chunks' :func:`chunk_embedding` results;
    nothing when they are None. Input columns of those names become ``<name>_input``."""
    if not parts or parts[0] is None:
        return
    dim = next((p[2][0].shape[1] for p in parts if p[2] is not None), 0)
    rows, norms = [], []
    for n, ok, emb in parts:
        block, norm = np.full((n, dim), np.nan, np.float32), np.full(n, np.nan, np.float32)
        if emb is not None:
            block[ok], norm[ok] = emb
        rows.append(block)                                             # (n, D)
        norms.append(norm)
    for name, values, text in ((EMBEDDING_COLUMN, rows, EMBEDDING_DESCRIPTION),
                               (NORM_COLUMN, norms, NORM_DESCRIPTION)):
        if name in out.colnames:  # e.g. a table embedded before: keep it, renamed
            out.rename_column(name, name + "_input")
        out[name] = np.concatenate(values)
        out[name].description = text
    out.meta["embedding_dim"] = int(dim)


def embed_table(clf, x, **kwargs):
    """:meth:`MorphologyClassifier.embed <galmorph.astro.classifier.MorphologyClassifier.embed>`:
    ``predict`` with embeddings, keeping the input's columns, the embedding and the status.

    Parameters
    ----------
    clf : MorphologyClassifier
        Its settings are used; it is not changed (a copy asks for the embedding).
    x
        What ``predict`` takes.
    **kwargs
        ``predict``'s keywords (``image_column``, ``image_dir``, ``wrap_ra``).

    Returns
    -------
    astropy.table.Table
    """
    run = copy.copy(clf)
    run.embedding = True
    out = run.predict(x, **kwargs)
    for name in ("model_", "preprocessing_", "model_info_", "trust_", "precision_", "device_",
                 "heads_"):
        if hasattr(run, name) and not hasattr(clf, name):
            setattr(clf, name, getattr(run, name))  # loaded once: the next call reuses it
    added = set(out.colnames) - set(_input_columns(out, x))
    drop = [c for c in out.colnames if c in added and c not in (EMBEDDING_COLUMN, NORM_COLUMN)
            and c not in STATUS_COLUMNS]
    out.remove_columns(drop)
    for key in _TRUST_META:
        out.meta.pop(key, None)  # about the dropped merger and trust columns
    return out


def _input_columns(out, x):
    """The columns of ``out`` that came with the input (all before the 37 fractions)."""
    from galmorph import schema

    first = out.colnames.index(schema.KAGGLE_COLUMNS[0])
    return out.colnames[:first]
