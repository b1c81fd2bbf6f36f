"""Binning, bootstrap and binomial-interval helpers shared by the evaluation metrics and
the merger and redshift diagnostics."""
import numpy as np

__all__ = ["in_bin", "bootstrap_statistic", "bootstrap_means", "bootstrap_mean_err",
           "jeffreys_interval", "probability_sum_interval", "prior_shift", "prior_shift_interval"]

# Values gathered at once by bootstrap_means (8 bytes each: 80 MB), so that resampling a
# whole survey never holds an (n_boot, N) index array.
BLOCK_VALUES = 10_000_000


def in_bin(values, lo, hi, last):
    """Mask of ``lo <= values < hi``; the last bin also takes ``values == hi``."""
    return (values >= lo) & ((values < hi) | (last & (values == hi)))


def bootstrap_statistic(values, n_boot, rng, statistic):
    """``statistic`` of ``n_boot`` resamples (with replacement) of ``values`` (N,) or (N, K).

    ``statistic`` takes a block of resamples, shape ``(B, N)`` or ``(B, N, K)``, and
    reduces their axis 1 (the rows of each resample). The indices are
    ``rng.integers(0, N, (n_boot, N))``, the same as ``rng.choice(values, (n_boot, N))``;
    they are drawn in blocks of at most :data:`BLOCK_VALUES` gathered values, which gives
    the same draws as one call.
    """
    values = np.asarray(values)
    n, n_boot = len(values), int(n_boot)
    block = max(1, BLOCK_VALUES // max(1, values.size))
    return np.concatenate([
        statistic(values[rng.integers(0, n, size=(min(block, n_boot - start), n))])
        for start in range(0, n_boot, block)])


def bootstrap_means(values, n_boot, rng):
    """Means of ``n_boot`` resamples (with replacement) of ``values`` (N,) or (N, K).

    Returns shape ``(n_boot,)`` or ``(n_boot, K)``; the draws are
    :func:`bootstrap_statistic`'s.
    """
    return bootstrap_statistic(values, n_boot, rng, lambda resamples: resamples.mean(axis=1))


def bootstrap_mean_err(values, n_boot, rng):
    """Bootstrap standard error of the mean of ``values`` (N,) or (N, K) along axis 0.

    NaN (shape of the mean) when ``n_boot`` is 0; see :func:`bootstrap_means`.
    """
    values = np.asarray(values)
    if not n_boot:
        return np.full(values.shape[1:], np.nan)
    return bootstrap_means(values, n_boot, rng).std(axis=0)


def jeffreys_interval(k, n, confidence):
    """Jeffreys interval of a binomial proportion: ``k`` successes out of ``n`` trials.

    The equal-tailed ``confidence`` interval of the posterior ``Beta(k + 1/2, n - k + 1/2)``
    under the Jeffreys prior, with the lower end set to 0 when ``k = 0`` and the upper end
    to 1 when ``k = n`` (the modification recommended by Brown, Cai & DasGupta 2001,
    Statistical Science 16, 101, section 4.1.2). Unlike a bootstrap of the flags, it does
    not collapse to ``[0, 0]`` when nothing was found: 0 of 5 gives ``[0, 0.171]`` at 68 %.

    Parameters
    ----------
    k, n : int or array-like of int
        Successes and trials (broadcast together); ``0 <= k <= n``.
    confidence : float
        Central probability of the interval, in (0, 1); 0.68 ~ 1 sigma.

    Returns
    -------
    (low, high) : float or numpy.ndarray
        NaN where ``n == 0``.
    """
    from scipy.special import betaincinv  # imported here: scipy takes ~0.5 s to import

    k, n = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    tail = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, betaincinv(k + 0.5, n - k + 0.5, tail), 0.0)
        high = np.where(k < n, betaincinv(k + 0.5, n - k + 0.5, 1 - tail), 1.0)
    empty = n == 0
    low, high = np.where(empty, np.nan, low), np.where(empty, np.nan, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def probability_sum_interval(p, n_boot=1000, confidence=0.68, *, seed=None):
    """Mean of calibrated probabilities ``p`` (N,) as a fraction of events, with an interval.

    A bootstrap that includes each row's own uncertainty: resample the rows with
    replacement, draw each one's event as Bernoulli(``p_i``), take the fraction. Every
    one of the n draws is then an independent Bernoulli(mean p) (a uniformly chosen row,
    then its coin), so a bootstrap sample's count is exactly Binomial(n, mean p): drawn
    directly, it costs O(``n_boot``) and never holds an (``n_boot``, n) array. The ends
    reach at least as far as the Jeffreys interval of 0 (or n) events in n, so that
    all-small probabilities do not give ``[0, 0]``.

    Parameters
    ----------
    p : array (N,)
        Probabilities in [0, 1], all finite.
    n_boot : int
        Bootstrap samples (0: no interval, NaN ends).
    confidence : float
        Central probability of the interval.
    seed : int or None
        Seed of a local random generator.

    Returns
    -------
    tuple of float
        ``(fraction, low, high)``; all NaN for no rows.
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return np.nan, np.nan, np.nan
    frac = float(p.mean())
    if not n_boot:
        return frac, np.nan, np.nan
    draws = np.random.default_rng(seed).binomial(n, frac, size=n_boot) / n
    return (frac, *_floored_interval(draws, n, confidence))


def _floored_interval(draws, n, confidence):
    """The central ``confidence`` percentile interval of bootstrap fractions of ``n`` rows,
    its ends reaching at least as far as the Jeffreys interval of 0 (or n) events in n:
    with every draw 0 it would be ``[0, 0]``, and n rows cannot pin a fraction down more
    tightly than seeing no event among them would."""
    tail = 50 * (1 - confidence)
    low, high = np.percentile(draws, [tail, 100 - tail])
    edge = jeffreys_interval(0, n, confidence)[1]
    return float(min(low, 1 - edge)), float(max(high, edge))


def prior_shift(p, prior, *, steps=36):
    """The event rate of a sample whose base rate differs from the one ``p`` was calibrated at.

    Probabilities calibrated on a population where the event has rate ``prior`` are
    shrunk toward that rate. For a sample selected by the event itself (label shift:
    the images of mergers look as they did, only their share differs), the sample's
    rate ``r`` is the maximum-likelihood mixture weight of Saerens, Latinne &
    Decaestecker (2002, Neural Computation 14, 21), the fixed point of their EM
    re-estimation: it maximises ``sum(log(r * p / prior + (1 - r) * (1 - p) / (1 -
    prior)))``, which is concave in ``r``, so its derivative is bisected on [0, 1].
    Probabilities calibrated at the sample's own rate give back about their mean.

    Parameters
    ----------
    p : array (..., N)
        Calibrated probabilities; the last axis is the sample (several samples at once).
    prior : float
        The event rate of the population the probabilities were calibrated on, in (0, 1).
    steps : int
        Bisection steps (36: to within 1.5e-11).

    Returns
    -------
    numpy.ndarray
        The estimated rate of each sample (shape of ``p`` without its last axis).
    """
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    a, b = p / prior, (1 - p) / (1 - prior)
    diff = a - b
    lo = np.zeros(p.shape[:-1])
    hi = np.ones(p.shape[:-1])
    for _ in range(steps):
        mid = (lo + hi) / 2
        rising = (diff / (b + mid[..., None] * diff)).sum(-1) > 0   # the likelihood climbs
        lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
    return (lo + hi) / 2


def prior_shift_interval(p, prior, n_boot=1000, confidence=0.68, *, seed=None):
    """:func:`prior_shift` of a sample with a bootstrap interval.

    Each bootstrap sample resamples the rows with replacement and re-estimates the
    rate, then draws the sample's count as Binomial(n, that rate), so that the interval
    holds the sample's own count noise as :func:`probability_sum_interval` does; its ends
    reach at least as far as the Jeffreys interval of 0 (or n) events in n. Resamples
    are drawn by :func:`bootstrap_statistic`.

    Parameters
    ----------
    p : array (N,)
        Calibrated probabilities in [0, 1], all finite.
    prior : float
        The rate they were calibrated at, in (0, 1).
    n_boot : int
        Bootstrap samples (0: no interval, NaN ends).
    confidence : float
    seed : int or None

    Returns
    -------
    tuple of float
        ``(fraction, low, high)``; all NaN for no rows.
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return np.nan, np.nan, np.nan
    frac = float(prior_shift(p, prior))
    if not n_boot:
        return frac, np.nan, np.nan
    rng = np.random.default_rng(seed)
    rates = bootstrap_statistic(p, n_boot, rng, lambda resamples: prior_shift(resamples, prior))
    draws = rng.binomial(n, np.clip(rates, 0, 1)) / n
    return (frac, *_floored_interval(draws, n, confidence))
