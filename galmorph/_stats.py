"""Binning and bootstrap helpers shared by the evaluation metrics and the
merger and redshift diagnostics."""
import numpy as np

__all__ = ["in_bin", "bootstrap_means", "bootstrap_mean_err"]

# Values gathered at once by bootstrap_means (8 bytes each: 80 MB), so that resampling a
# whole survey never holds an (n_boot, N) index array.
BLOCK_VALUES = 10_000_000


def in_bin(values, lo, hi, last):
    """Mask of ``lo <= values < hi``; the last bin also takes ``values == hi``."""
    return (values >= lo) & ((values < hi) | (last & (values == hi)))


def bootstrap_means(values, n_boot, rng):
    """Means of ``n_boot`` resamples (with replacement) of ``values`` (N,) or (N, K).

    Returns shape ``(n_boot,)`` or ``(n_boot, K)``. The indices are
    ``rng.integers(0, N, (n_boot, N))``, the same as ``rng.choice(values,
    (n_boot, N))``; they are drawn in blocks of at most :data:`BLOCK_VALUES`
    gathered values, which gives the same draws as one call.
    """
    values = np.asarray(values)
    n, n_boot = len(values), int(n_boot)
    block = max(1, BLOCK_VALUES // max(1, values.size))
    return np.concatenate([
        values[rng.integers(0, n, size=(min(block, n_boot - start), n))].mean(axis=1)
        for start in range(0, n_boot, block)])


def bootstrap_mean_err(values, n_boot, rng):
    """Bootstrap standard error of the mean of ``values`` (N,) or (N, K) along axis 0.

    NaN (shape of the mean) when ``n_boot`` is 0; see :func:`bootstrap_means`.
    """
    values = np.asarray(values)
    if not n_boot:
        return np.full(values.shape[1:], np.nan)
    return bootstrap_means(values, n_boot, rng).std(axis=0)
