"""Embeddings: a network's pooled features, L2-normalised, one row per galaxy.

An embedding is what a galmorph network computes just before its head: the pooled
features of :meth:`forward_features`, which every network has (an
:class:`~galmorph.models.ensemble.Ensemble` gives its members' features side by side,
and so does its int8 form). Galaxies that look alike to the network lie close
together, by cosine distance; :mod:`galmorph.adapt` searches them.

Choices, and why (see :doc:`/embeddings` for the measurements):

- an ensemble's members are **concatenated**, not averaged: the shipped model's
  members have different widths (four give 256 features, one 512), so there is no
  common space to average in; D = 1536 for it;
- the vector is divided by its L2 norm, so that cosine distance is one minus a dot
  product; the norm is kept beside it (``feature_norm``), so that ``embedding *
  feature_norm`` are the pooled features again. Similarity search compares
  directions (what the network sees, whatever its overall activation); the anomaly
  score needs the norm too: a blank frame points the way faint compact galaxies do,
  and only its norm sets it apart;
- with ``tta="d8"`` the features are averaged over the 8 flips and quarter turns
  before the norm (by :func:`~galmorph.inference.engine.predict_arrays`): a galaxy and
  its copy rotated by 90 degrees or mirrored then have the same embedding, at 8x the
  cost. Without it the network's trained invariance alone holds them close.

One forward pass gives the fractions and the embedding together, so
:class:`~galmorph.astro.classifier.MorphologyClassifier` adds this column for the
price of a normalisation.
"""
from __future__ import annotations

import numpy as np

from galmorph.errors import CheckpointError

__all__ = ["EMBEDDING_COLUMN", "EMBEDDING_DESCRIPTION", "NORM_COLUMN", "NORM_DESCRIPTION",
           "normalize", "embed_arrays", "features_to_embedding"]

#: The name of the embedding column in every galmorph table.
EMBEDDING_COLUMN = "embedding"
#: Its description, as tables written by galmorph carry it.
EMBEDDING_DESCRIPTION = ("the network's pooled features, L2-normalised (an ensemble's members "
                         "side by side); NaN where the row failed")
#: The column of the pooled features' L2 norm (``embedding * feature_norm``: the features).
NORM_COLUMN = "feature_norm"
NORM_DESCRIPTION = "L2 norm of the pooled features that the embedding is the direction of"


def normalize(features, *, return_norm=False):
    """Rows of ``features`` divided by their L2 norm, as float32.

    Parameters
    ----------
    features : array-like, shape (N, D)
        Pooled features.
    return_norm : bool
        Also return the norms.

    Returns
    -------
    numpy.ndarray, float32, shape (N, D)
        Unit rows; a row of zeros stays zeros (no direction to give it).
    norm : numpy.ndarray, float32, shape (N,)
        With ``return_norm``.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {f.shape}")
    norm = np.linalg.norm(f, axis=1, keepdims=True)                  # (N, 1)
    unit = (f / np.where(norm > 0, norm, 1.0)).astype(np.float32)
    return (unit, norm[:, 0].astype(np.float32)) if return_norm else unit


def embed_arrays(model, images, *, batch_size=256, tta=None, device="auto", precision="auto",
                 progress=False):
    """The embeddings of preprocessed images.

    Parameters
    ----------
    model : torch.nn.Module or Checkpoint
        A galmorph network (anything with ``forward_details``), as for
        :func:`~galmorph.inference.engine.predict_arrays`.
    images : numpy.ndarray, uint8, shape (N, 3, H, W)
        Cropped and resized as the model's preprocessing says.
    batch_size, tta, device, precision, progress
        As for :func:`~galmorph.inference.engine.predict_arrays`; ``tta="d8"``
        makes the embeddings invariant to flips and quarter turns.

    Returns
    -------
    numpy.ndarray, float32, shape (N, D)
        L2-normalised pooled features (:func:`normalize`).

    Raises
    ------
    galmorph.errors.CheckpointError
        The model gives no pooled features (a foreign module without
        ``forward_details``).

    Examples
    --------
    >>> from galmorph.models import build_model
    >>> import numpy as np
    >>> x = np.zeros((2, 3, 80, 80), np.uint8)
    >>> embed_arrays(build_model("cnn"), x, device="cpu").shape     # doctest: +SKIP
    (2, 2304)
    """
    from galmorph.inference.engine import predict_arrays

    details = predict_arrays(model, images, batch_size=batch_size, tta=tta, device=device,
                             precision=precision, progress=progress, details=True)
    return features_to_embedding(details.features, model)


def features_to_embedding(features, model=None, *, return_norm=False):
    """:func:`normalize` the features of a :class:`~galmorph.inference.engine.Details`.

    Parameters
    ----------
    features : numpy.ndarray (N, F)
        The pooled features (``Details.features``).
    model : object, optional
        The model they came from, named in the error.
    return_norm : bool
        Also return each row's length before normalising.

    Returns
    -------
    numpy.ndarray (N, F) float32, or (embedding, norm)

    Raises
    ------
    galmorph.errors.CheckpointError
        The model gave no features (width 0): a foreign module without ``forward_details``.
    """
    if features.ndim != 2 or (features.shape[1] == 0 and len(features)):
        name = type(getattr(model, "model", model)).__name__
        raise CheckpointError(f"the model ({name}) gives no pooled features, so no embedding: "
                              f"a galmorph network has forward_features / forward_details; "
                              f"a foreign module has not")
    return normalize(features, return_norm=return_norm)
