"""Inputs the model was not made for: an out-of-distribution score and flag per image.

The model was trained on SDSS gri composites centred on one galaxy at the GZ2 scale
(424 x 424 pixels at 0.02 petroR90_r arcsec per pixel, so that the galaxy's
petroR90_r is always about 50 pixels). An all-black frame, noise, a galaxy at the
wrong scale or off centre still get 37 fractions that look ordinary. Each image is
scored here on what it looks like and on what the networks make of it:

- **image statistics** of the model's input (the central crop, resized): contrast
  above the sky, saturated pixels, pixel-to-pixel roughness (noise, stripes), the
  offset of the light from the centre, the light-weighted radius (scale), how bright
  the centre is against the brightest part of the image, and the sky noise (exactly
  zero only in synthetic frames);
- **feature distance**: the Mahalanobis distance of the networks' pooled features
  from those of the training galaxies (Lee et al. 2018), with a Ledoit-Wolf
  covariance (scikit-learn);
- **disagreement**: the members' mean standard deviation over the 37 answers.

Each statistic becomes a one-sided tail probability against the training galaxies
(the share of them at least as extreme; in the outer 1 %, an exponential tail fitted
to it), and ``ood_score`` is ``-log10`` of
the smallest: 3 means "as unusual as one training galaxy in a thousand, on its most
unusual statistic". ``is_ood`` is ``ood_score`` above a threshold
fitted so that about 2 % of real, unselected galaxies exceed it; the statistic that
decided is named in the row's ``input_note``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["OODCalibration", "image_statistics", "ood_components", "fit_ood", "score_ood",
           "STATISTICS", "TARGET_RATE"]

#: The share of real galaxies the threshold lets through as out of distribution.
TARGET_RATE = 0.02
#: Principal axes of the pooled features that the feature distance is measured in.
FEATURE_COMPONENTS = 128

#: name -> (direction, what the note says). Direction +1: high is unusual.
STATISTICS = {
    "contrast": (-1, "almost no contrast (blank, constant or empty sky)"),
    "saturated": (+1, "saturated pixels"),
    "roughness": (+1, "noise-like pixel-to-pixel structure (noise, stripes)"),
    "offset": (+1, "the light is off centre"),
    "radius": (-1, "the galaxy is far smaller than at the GZ2 scale"),
    "centre": (-1, "no galaxy at the centre"),
    "sky_noise": (-1, "no sky noise (a synthetic or padded frame)"),
    "feature_distance": (+1, "unlike the training galaxies to the networks"),
    "disagreement": (+1, "the ensemble's members disagree"),
}


def _box3(a):
    # 3x3 box mean of (N, S, S), edges replicated.
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
    s = sum(p[:, i:i + a.shape[1], j:j + a.shape[2]] for i in range(3) for j in range(3))
    return s / 9.0


def image_statistics(images):
    """Image statistics of model inputs.

    Parameters
    ----------
    images : numpy.ndarray, uint8, shape (N, 3, S, S)
        The model's inputs (central crop resized to ``S``).

    Returns
    -------
    dict of str -> numpy.ndarray, shape (N,)
        ``contrast``, ``saturated``, ``roughness``, ``offset``, ``radius``,
        ``centre`` and ``sky_noise`` (module docstring); offsets and radii in
        units of the image side.
    """
    x = np.asarray(images, dtype=np.float32) / 255.0           # (N, 3, S, S)
    n, _, s, _ = x.shape
    lum = x.mean(1)                                             # (N, S, S)
    ring = max(s // 10, 2)
    border = np.concatenate([lum[:, :ring].reshape(n, -1), lum[:, -ring:].reshape(n, -1),
                             lum[:, :, :ring].reshape(n, -1), lum[:, :, -ring:].reshape(n, -1)],
                            1)
    sky = np.median(border, 1)                                  # (N,)
    sky_noise = 1.4826 * np.median(np.abs(border - sky[:, None]), 1)
    flat = lum.reshape(n, -1)
    contrast = np.percentile(flat, 99, axis=1) - sky
    saturated = (x.max(1) >= 250 / 255).reshape(n, -1).mean(1)
    smooth = _box3(lum)
    roughness = np.abs(lum - smooth).reshape(n, -1).mean(1) / (np.abs(contrast) + 0.02)
    light = np.clip(smooth - sky[:, None, None] - 3 * sky_noise[:, None, None], 0, None)
    total = light.reshape(n, -1).sum(1) + 1e-9
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) - (s - 1) / 2.0
    cy = (light * yy).reshape(n, -1).sum(1) / total
    cx = (light * xx).reshape(n, -1).sum(1) / total
    offset = np.hypot(cx, cy) / s
    r2 = (light * (xx ** 2 + yy ** 2)).reshape(n, -1).sum(1) / total
    radius = np.sqrt(r2) / s
    c = s // 2
    half = max(s // 16, 1)
    centre_light = light[:, c - half:c + half, c - half:c + half].reshape(n, -1).mean(1)
    centre = centre_light / (light.reshape(n, -1).max(1) + 1e-3)
    return {"contrast": contrast, "saturated": saturated, "roughness": roughness,
            "offset": offset, "radius": radius, "centre": centre, "sky_noise": sky_noise}


_GRID = np.linspace(0.0, 1.0, 257)
_TAIL = 0.01   # beyond this share of the training galaxies, an exponential tail


def _reference(values):
    """What :func:`_tail` needs of one statistic over the training galaxies: its quantiles
    on a grid and, for each tail, the mean excess beyond the 1st and 99th percentiles."""
    values = np.sort(np.asarray(values, np.float64))
    q = np.quantile(values, _GRID)
    lo, hi = np.quantile(values, [_TAIL, 1 - _TAIL])
    low_tail = max(float(np.mean(lo - values[values <= lo])), 1e-6)
    high_tail = max(float(np.mean(values[values >= hi] - hi)), 1e-6)
    return {"quantiles": q, "n": int(len(values)), "low_tail": low_tail, "high_tail": high_tail}


def _tail(ref, values, direction):
    """One-sided tail probability of ``values`` under the reference: the empirical share
    of training galaxies at least as extreme, and beyond their 1st (99th) percentile an
    exponential tail with the mean excess seen there (peaks over threshold; Pickands
    1975), so that it keeps falling past the most extreme training galaxy."""
    q = np.asarray(ref["quantiles"], np.float64)
    v = np.asarray(values, np.float64)
    if direction > 0:   # the share at least as high: ties count as extreme
        edge = np.interp(1 - _TAIL, _GRID, q)
        p = 1.0 - np.searchsorted(q, v, side="left") / len(q)
        far = v > edge
        p[far] = _TAIL * np.exp(-(v[far] - edge) / ref["high_tail"])
    else:
        edge = np.interp(_TAIL, _GRID, q)
        p = np.searchsorted(q, v, side="right") / len(q)
        far = v < edge
        p[far] = _TAIL * np.exp(-(edge - v[far]) / ref["low_tail"])
    return np.maximum(p, 1e-300)


@dataclass
class OODCalibration:
    """Reference statistics and the threshold (plain data, stored in a checkpoint).

    Attributes
    ----------
    reference : dict of str -> dict
        Per statistic, its distribution over the training galaxies (:func:`_reference`).
    feature_mean : numpy.ndarray, shape (F,)
    feature_basis : numpy.ndarray, shape (k, F)
        The training features' first ``k`` principal axes: distances are measured in
        that subspace, which keeps the stored model small (k x F, not F x F).
    feature_precision : numpy.ndarray, shape (k, k)
        Inverse Ledoit-Wolf covariance of the training galaxies' projected features.
    threshold : float
        ``is_ood`` is ``ood_score > threshold``.
    fitted_on : dict
    """

    reference: dict
    feature_mean: np.ndarray | None = None
    feature_basis: np.ndarray | None = None
    feature_precision: np.ndarray | None = None
    threshold: float = np.inf
    fitted_on: dict = field(default_factory=dict)

    def to_dict(self):
        out = {"reference": {k: {"quantiles": np.asarray(v["quantiles"], np.float32),
                                 "n": int(v["n"]), "low_tail": float(v["low_tail"]),
                                 "high_tail": float(v["high_tail"])}
                             for k, v in self.reference.items()},
               "threshold": float(self.threshold), "fitted_on": dict(self.fitted_on)}
        if self.feature_mean is not None:
            out["feature_mean"] = np.asarray(self.feature_mean, np.float32)
            out["feature_basis"] = np.asarray(self.feature_basis, np.float32)
            out["feature_precision"] = np.asarray(self.feature_precision, np.float32)
        return out

    @classmethod
    def from_dict(cls, data):
        arr = lambda k: (None if data.get(k) is None  # noqa: E731
                         else np.asarray(data[k], np.float64))
        return cls({k: dict(v) for k, v in data["reference"].items()},
                   arr("feature_mean"), arr("feature_basis"), arr("feature_precision"),
                   float(data.get("threshold", np.inf)), dict(data.get("fitted_on") or {}))


def _distance(features, cal):
    d = (np.asarray(features, np.float64) - cal.feature_mean) @ cal.feature_basis.T  # (N, k)
    return np.log1p(np.sqrt(np.maximum(((d @ cal.feature_precision) * d).sum(1), 0.0)))


def _disagreement(spread):
    spread = np.asarray(spread, np.float64)                     # (N, K, 37)
    return spread.std(1).mean(1) if spread.shape[1] > 1 else np.zeros(len(spread))


def ood_components(images, features=None, spread=None, calibration=None):
    """Raw statistics of each image: :func:`image_statistics`, plus ``feature_distance``
    (needs ``features`` of the calibration's width) and ``disagreement`` (needs
    ``spread`` from more than one member or view).

    Parameters
    ----------
    images : uint8 array (N, 3, S, S)
        The model's inputs.
    features : array (N, F), optional
        Pooled features from the same forward pass.
    spread : array (N, K, 37), optional
        The K outputs the prediction averages (members or TTA views).
    calibration : OODCalibration, optional
        Its feature mean, principal axes and precision give ``feature_distance``;
        without it (or its feature model) there is none.

    Returns
    -------
    dict of str -> numpy.ndarray, shape (N,)
        The statistics of :func:`image_statistics`; ``feature_distance``
        (``log1p`` of the Mahalanobis distance in the principal subspace) where
        ``features`` has the calibration's width F; ``disagreement`` (the members'
        standard deviation, averaged over the 37 answers) where K > 1.
    """
    stats = image_statistics(images)
    mean = None if calibration is None else calibration.feature_mean
    if features is not None and mean is not None and np.shape(features)[1] == len(mean):
        stats["feature_distance"] = _distance(features, calibration)
    if spread is not None and np.shape(spread)[1] > 1:
        stats["disagreement"] = _disagreement(spread)
    return stats


def fit_ood(train_images, train_features=None, train_spread=None, *, reference=None,
            fitted_on=None, rate=TARGET_RATE, n_components=FEATURE_COMPONENTS):
    """Fit the reference statistics on training galaxies and the threshold on real ones.

    Parameters
    ----------
    train_images : uint8 array (N, 3, S, S)
        Model inputs of (a sample of) the galaxies the model trained on.
    train_features, train_spread : arrays, optional
        Their features (N, F) and spread (N, K, 37) from the same forward pass.
    reference : tuple (images, features, spread), optional
        Real, unselected galaxies the threshold is fitted on, so that a share ``rate``
        of them exceed it; default the training galaxies themselves.
    rate : float
        The share of ``reference`` flagged (default 2 %).
    n_components : int
        Principal axes of the features kept for the distance.

    Returns
    -------
    OODCalibration
    """
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    mean = basis = precision = None
    if train_features is not None and np.shape(train_features)[1] > 0:
        f = np.asarray(train_features, np.float64)
        k = int(min(n_components, f.shape[1], len(f) - 1))
        pca = PCA(n_components=k, random_state=0).fit(f)
        mean, basis = pca.mean_, pca.components_
        precision = LedoitWolf().fit((f - mean) @ basis.T).precision_
    cal = OODCalibration({}, mean, basis, precision, np.inf, dict(fitted_on or {}))
    stats = ood_components(train_images, train_features, train_spread, cal)
    cal.reference = {name: _reference(values) for name, values in stats.items()}
    ref = reference or (train_images, train_features, train_spread)
    scores, _ = score_ood(cal, *ref)
    cal.threshold = float(np.quantile(scores, 1.0 - rate))
    cal.fitted_on.update({"rate": float(rate), "n_train": int(len(train_images)),
                          "n_reference": int(len(ref[0]))})
    return cal


def score_ood(calibration, images, features=None, spread=None):
    """``(ood_score (N,), reason (N,))``: ``-log10`` of the smallest one-sided tail
    probability over the statistics (3 means "as unusual as 1 training galaxy in 1,000
    on its most unusual statistic"), and the name of that statistic.

    Parameters
    ----------
    calibration : OODCalibration or dict
        The fitted reference (:func:`fit_ood`), or its ``to_dict()``. Only the
        statistics it has a reference for are scored.
    images : uint8 array (N, 3, S, S)
        The model's inputs.
    features : array (N, F), optional
        Pooled features from the same forward pass (for ``feature_distance``).
    spread : array (N, K, 37), optional
        The K outputs the prediction averages (for ``disagreement``, K > 1).

    Returns
    -------
    ood_score : numpy.ndarray, float32, shape (N,)
        ``is_ood`` is ``ood_score > calibration.threshold``.
    reason : numpy.ndarray of object (str), shape (N,)
        The key of :data:`STATISTICS` that decided; ``"contrast"`` for a blank frame.
    """
    if isinstance(calibration, dict):
        calibration = OODCalibration.from_dict(calibration)
    stats = ood_components(images, features, spread, calibration)
    names = [k for k in stats if k in calibration.reference]
    logp = np.stack([np.log10(_tail(calibration.reference[k], stats[k], STATISTICS[k][0]))
                     for k in names], 1)                        # (N, n_stats)
    worst = np.array([names[i] for i in np.argmin(logp, 1)], dtype=object)
    worst[stats["contrast"] <= 1.0 / 255] = "contrast"   # a blank frame: say so, not its radius
    return (-logp.min(1)).astype(np.float32), worst
