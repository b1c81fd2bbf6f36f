"""Reading the merger vote: the plumbing shared by :mod:`galmorph.astro.mergers` and
:mod:`galmorph.astro.merger_separation`.

The merger answer's column, the paper's threshold, the sample size below which a merger
diagnostic warns (:class:`SmallSampleWarning`) and :func:`merger_probability`, which reads
the vote fraction of each row from a table or an array. It sits below both public modules,
so that :mod:`~galmorph.astro.mergers` can re-export the separation bias without an import
cycle; use the names from :mod:`galmorph.astro.mergers`.
"""
from __future__ import annotations

import warnings

import numpy as np

from galmorph import schema
from galmorph._util._warnings import caller_stacklevel
from galmorph.errors import DataError

__all__ = ["DEFAULT_THRESHOLD", "MERGER_COLUMN", "MIN_SAMPLE", "SmallSampleWarning",
           "warn_small", "as_float", "merger_probability"]

#: The merger threshold on ``Class8.6`` picked by eye in the paper.
DEFAULT_THRESHOLD = schema.PAPER_MERGER_THRESHOLD
#: The GZ2 answer whose vote fraction is the merger probability ("Is the odd feature a merger?").
MERGER_COLUMN = schema.MERGER_COLUMN
#: Fewer usable galaxies than this make a merger diagnostic warn. At the GZ2 merger rate
#: (about 3 % by the paper's rule) 500 galaxies hold some 15 mergers; fewer leave a handful
#: per threshold step or separation bin, with Poisson errors above 25 %.
MIN_SAMPLE = 500


class SmallSampleWarning(UserWarning):
    """A merger diagnostic ran on too few galaxies for its answer to be more than a hint."""


def warn_small(message):
    """Warn ``message`` as a :class:`SmallSampleWarning`, pointing at the user's line."""
    warnings.warn(message, SmallSampleWarning, stacklevel=caller_stacklevel())


def as_float(values):
    """``values`` as a float64 array; masked entries (MaskedColumn, numpy.ma) become NaN,
    as failed predictions are."""
    return np.ma.filled(np.ma.asarray(values).astype(np.float64), np.nan)


def merger_probability(data, column=MERGER_COLUMN):
    """The merger vote fraction of each row as a float array.

    Parameters
    ----------
    data : astropy.table.Table, numpy.ndarray or sequence
        A table holding ``column`` (or ``p_merger``), an ``(N, 37)`` array of
        Kaggle fractions, or a 1-D array of merger probabilities. Masked values
        (a ``MaskedColumn`` or a ``numpy.ma`` array) become NaN.
    column : str
        Column to read from a table; any name :func:`galmorph.schema.column_index`
        accepts selects the column of an ``(N, 37)`` array.

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
    """
    if hasattr(data, "colnames"):
        name = column if column in data.colnames else None
        if name is None and column == MERGER_COLUMN and "p_merger" in data.colnames:
            name = "p_merger"
        if name is None:
            raise DataError(f"table has no column {column!r} (columns: "
                            f"{', '.join(data.colnames[:12])}); pass column= to name the "
                            f"merger probability, or classify the table first")
        return as_float(data[name])
    arr = as_float(data)
    if arr.ndim == 2 and arr.shape[1] == schema.N_ANSWERS:
        return arr[:, schema.column_index(column)]
    if arr.ndim == 1:
        return arr
    raise DataError(f"expected a table, an (N, {schema.N_ANSWERS}) array of Kaggle fractions "
                    f"or a 1-D array of merger probabilities, got shape {arr.shape}")
