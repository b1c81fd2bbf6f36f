"""Binning and bootstrap helpers shared by the merger and redshift diagnostics."""
import numpy as np

__all__ = ["in_bin", "bootstrap_mean_err"]


def in_bin(values, lo, hi, last):
    """Mask of ``lo <= values < hi``; the last bin also takes ``values == hi``."""
    return (values >= lo) & ((values < hi) | (last & (values == hi)))


def bootstrap_mean_err(values, n_boot, rng):
    """Bootstrap standard error of the mean of ``values`` (N,) or (N, K) along axis 0.

    NaN (shape of the mean) when ``n_boot`` is 0. Draws ``rng.integers(0, N,
    (n_boot, N))``, the same indices as ``rng.choice(values, (n_boot, N))``.
    """
    values = np.asarray(values)
    if not n_boot:
        return np.full(values.shape[1:], np.nan)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    return values[idx].mean(axis=1).std(axis=0)
