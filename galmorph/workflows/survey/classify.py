"""Classify a survey catalogue on a Dask cluster: a Dask DataFrame in, a lazy one out.

:func:`classify_survey` maps the single-process
:class:`~galmorph.astro.classifier.MorphologyClassifier` over the partitions of
a Dask DataFrame (or of an LSDB :class:`lsdb.Catalog`, which stays a Catalog)
and returns the result lazily: nothing is read or classified until it is
computed or written with :func:`~galmorph.workflows.survey.write.write_survey`.
Each row keeps its input columns and gains the 37 GZ2 fractions
``Class1.1`` ... ``Class11.6`` (and, with ``intervals``, their ``_lo``/``_hi``
bounds), ``p_merger``, ``merger_prob``, ``is_merger``, ``ood_score``,
``is_ood``, ``predict_ok``, ``predict_error`` and ``input_note``, as
``MorphologyClassifier.predict`` gives them; a bad row (a missing image, NaN
coordinates, no cutout) fails alone, with its partition and index label in
``predict_error``.

The classifier's masked values become pandas' missing values, the same in every
partition and in the meta: the float columns (fractions, bounds, ``p_merger``,
``merger_prob``, ``ood_score``) are float32 with NaN, and the flags
``is_merger`` and ``is_ood`` are pandas' nullable ``"boolean"``, ``<NA>`` on a
failed row (not False: a row that failed is not a non-merger). ``predict_ok`` is
a plain bool.

Each worker process loads the model once (a worker plugin when a
``distributed`` client is running, else a per-process cache on first use), and
sets its torch threads so that the workers of one machine share its cores
instead of oversubscribing them (:mod:`galmorph.workflows.survey._cluster`).

Dask (``pip install "galmorph-gz2[dask]"``) and LSDB (``pip install
"galmorph-gz2[lsdb]"``) are optional; without them this module still imports
and says which extra to install when it is used.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace

import numpy as np

from galmorph import schema
from galmorph._util._tables import find_column
from galmorph.astro.classifier import OUTPUT_COLUMNS
from galmorph.astro._classify_inputs import DEC_NAMES, PATH_NAMES, PETRO_NAMES, RA_NAMES
from galmorph.astro.settings import ClassifierSettings
from galmorph.errors import DataError, GalmorphError, ParameterError
from galmorph.inference.embedding import EMBEDDING_COLUMN, NORM_COLUMN
from galmorph.trust.columns import interval_columns

__all__ = ["classify_survey", "classify_partition", "SurveySettings", "MissingExtraError",
           "require_dask", "require_lsdb", "is_lsdb_catalog", "result_columns"]

_ROW = re.compile(r"^row (\d+)")
#: Result columns (beside the fractions and their bounds) that are float32, NaN where masked.
_FLOATS = ("p_merger", "merger_prob", "ood_score")
#: Result columns that are flags: pandas' nullable "boolean", <NA> where masked (failed rows).
_FLAGS = ("is_merger", "is_ood")
_DASK_HINT = 'pip install "galmorph-gz2[dask]"'
_LSDB_HINT = 'pip install "galmorph-gz2[lsdb]"'


class MissingExtraError(GalmorphError, ImportError):
    """An optional dependency (an extra of galmorph) is not installed; the message says
    which ``pip install`` brings it."""


def _require(modules, needs, hint):
    """The first of ``modules``, imported; all must import, else :class:`MissingExtraError`."""
    from importlib import import_module

    try:
        loaded = [import_module(name) for name in modules]
    except ImportError as err:
        raise MissingExtraError(f"{needs} ({err}); install {'them' if len(modules) > 1 else 'it'}"
                                f" with: {hint}") from None
    return loaded[0]


def require_dask():
    """Import and return ``dask.dataframe``, or raise :class:`MissingExtraError`."""
    # pyarrow: Dask's Parquet and string engine.
    return _require(("dask.dataframe", "pyarrow"), "classifying a survey on Dask needs "
                    "dask[distributed] and pyarrow", _DASK_HINT)


def require_lsdb():
    """Import and return ``lsdb``, or raise :class:`MissingExtraError`."""
    return _require(("lsdb",), "LSDB/HATS catalogues need lsdb", _LSDB_HINT)


def is_lsdb_catalog(x):
    """True for an LSDB Catalog (checked without importing lsdb)."""
    return type(x).__module__.split(".")[0] == "lsdb" and hasattr(x, "map_partitions")


@dataclass(frozen=True, kw_only=True)
class SurveySettings(ClassifierSettings):
    """Everything a worker needs to classify a partition (plain, picklable, hashable).

    The classifier's settings (:class:`~galmorph.astro.settings.ClassifierSettings`:
    ``model`` is the resolved checkpoint path, ``progress`` False on the workers), plus
    the resolved input columns (``kind`` is ``"images"`` or ``"coords"``) and
    ``threads``, the torch threads per worker process (None: the worker's share of its
    machine's cores). The fields of its own are keyword-only.
    """

    kind: str
    image_column: str | None = None
    ra_column: str | None = None
    dec_column: str | None = None
    petro_column: str | None = None
    image_dir: str | None = None
    threads: int | None = None

    def classifier_kwargs(self):
        """The MorphologyClassifier arguments (the ClassifierSettings fields)."""
        return self.as_kwargs()


def result_columns(intervals=None, embedding=False):
    """The columns a classified partition gains, in order.

    Parameters
    ----------
    intervals : float or None
        The nominal coverage asked of :func:`classify_survey`; when set, the 74
        bounds ``Class1.1_lo``, ``Class1.1_hi``, ... follow the fractions.
    embedding : bool
        Whether ``embedding`` and ``feature_norm`` come before ``predict_ok``.

    Returns
    -------
    list of str
        The 37 fractions, their bounds (with ``intervals``), then the
        classifier's ``OUTPUT_COLUMNS``: ``p_merger``, ``merger_prob``,
        ``is_merger``, ``ood_score``, ``is_ood``, ``predict_ok``,
        ``predict_error``, ``input_note``.
    """
    out = list(schema.KAGGLE_COLUMNS) + interval_columns(intervals) + list(OUTPUT_COLUMNS)
    if embedding:
        out[out.index("predict_ok"):out.index("predict_ok")] = [EMBEDDING_COLUMN, NORM_COLUMN]
    return out


def classify_survey(catalog, *, model=None, image_column=None, image_dir=None, device="cpu",
                    threads=None, client=None, **options):
    """Classify every row of a Dask DataFrame or LSDB Catalog, lazily.

    Parameters
    ----------
    catalog : dask.dataframe.DataFrame or lsdb.Catalog
        One row per galaxy, with an image-path column (``path``, ``file``,
        ``filename``, ``image``, ... or ``image_column=``), else ``ra``/``dec`` in
        degrees (cutouts are fetched; a ``petroR90_r`` column in arcsec sets the
        GZ2 scale). Other columns, ``z`` included, are carried through.
    model : str, path or None
        Checkpoint; None resolves ``$GALMORPH_MODEL``, the registered default or
        the shipped model *here*, so that every worker uses the same file.
    image_column, image_dir : str, optional
        As for :meth:`MorphologyClassifier.predict
        <galmorph.astro.classifier.MorphologyClassifier.predict>`; the image files
        must be readable on the workers.
    device : str
        As for :class:`~galmorph.astro.classifier.MorphologyClassifier`, but the default
        is ``"cpu"``: a cluster's workers share their machine's cores.
    **options
        The other arguments of the classifier, by name and with its defaults
        (:class:`~galmorph.astro.settings.ClassifierSettings`; all but ``progress``:
        workers draw no progress bars). Of note here:

        - ``backend``, ``cache_dir``, ``timeout``, ``retries``, ``workers``: cutouts for
          ra/dec rows (``workers`` are threads per partition);
        - ``intervals``: nominal coverage (such as 0.9) of an interval for each answer,
          float32 columns ``<answer>_lo`` and ``<answer>_hi`` after the fractions; the
          model must carry an interval calibration;
        - ``merger_rule``: ``is_merger`` from the calibrated ``merger_prob`` and the model's
          flag threshold (``"prob"``), or the paper's ``p_merger >= merger_threshold``; a
          model without a merger calibration uses the paper's;
        - ``embedding``: also write each row's ``embedding`` (a list of D float32,
          L2-normalised) and ``feature_norm``, from the same forward pass
          (:doc:`/embeddings`).
    threads : int, optional
        Torch threads per worker process (default: the process's share of its
        machine's cores, e.g. 1 for two 1-thread workers on 2 cores).
    client : distributed.Client, optional
        Cluster to prepare (default: the current client, if any). Its workers
        get a plugin that sets their torch threads and loads the model once.

    Returns
    -------
    dask.dataframe.DataFrame or lsdb.Catalog
        Lazy; the input's type. Compute it, or write it with
        :func:`~galmorph.workflows.survey.write.write_survey`.

    Raises
    ------
    MissingExtraError
        Dask (or, for LSDB input, lsdb) is not installed.
    DataError
        No image-path column and no ra/dec columns.
    ParameterError
        ``intervals`` outside (0, 1), or an unknown ``merger_rule``.
    TypeError
        A name in ``options`` that is no setting of the classifier.

    Examples
    --------
    >>> import dask.dataframe as dd                                  # doctest: +SKIP
    >>> from galmorph.workflows.survey import classify_survey         # doctest: +SKIP
    >>> result = classify_survey(dd.read_parquet("catalog.parquet"))  # doctest: +SKIP
    >>> result[["merger_prob", "is_merger", "is_ood"]].compute()      # doctest: +SKIP
    """
    require_dask()
    lsdb_input = is_lsdb_catalog(catalog)
    if not lsdb_input and not hasattr(catalog, "map_partitions"):
        raise ParameterError(f"classify_survey needs a Dask DataFrame or an LSDB Catalog, not "
                             f"a {type(catalog).__name__}; for an astropy or pandas table use "
                             f"MorphologyClassifier().predict, or dask.dataframe.from_pandas")
    meta_in = (catalog.to_dask_dataframe() if lsdb_input else catalog)._meta
    settings = _settings(meta_in, model=model, image_column=image_column, image_dir=image_dir,
                         threads=threads, wanted=_wanted(device, options))
    from galmorph.workflows.survey._cluster import current_client, prepare_workers

    client = client if client is not None else current_client()
    if client is not None:
        prepare_workers(client, settings)
    meta = _attach(meta_in, _empty_outputs(settings.intervals, settings.embedding), None)
    if lsdb_input:
        return catalog.map_partitions(_classify_pixel, settings, meta=meta, include_pixel=True)
    return catalog.map_partitions(classify_partition, settings, meta=meta)


def _wanted(device, options):
    """The classifier settings asked of :func:`classify_survey` (a TypeError names a wrong
    one), with ``intervals`` checked here, once, rather than on every worker."""
    from galmorph.trust.columns import TrustSettings

    if "progress" in options:
        raise TypeError("classify_survey() takes no progress: workers draw no progress bars")
    wanted = ClassifierSettings.bind("classify_survey", device=device, progress=False,
                                     **options)
    try:
        intervals = TrustSettings(wanted.intervals, wanted.merger_rule,
                                  wanted.merger_threshold).intervals
    except ValueError as err:
        raise ParameterError(str(err)) from None
    return replace(wanted, intervals=intervals, embedding=bool(wanted.embedding))


def _settings(meta, *, model, image_column, image_dir, threads, wanted):
    from galmorph.paths import resolve_model_path

    if model is not None and not isinstance(model, (str, bytes)) and \
            not hasattr(model, "__fspath__"):
        raise ParameterError(f"model must be a checkpoint path (or None for the default) on a "
                             f"cluster, not a {type(model).__name__}: workers load it from the "
                             f"file")
    path = str(resolve_model_path(model))
    cols = [str(c) for c in meta.columns]
    if image_column is not None and image_column not in meta.columns:
        raise DataError(f"image column {image_column!r} not in the catalogue (columns: "
                        f"{', '.join(cols[:12])})")
    image = image_column or find_column(meta, PATH_NAMES)
    if image is not None and meta[image].dtype.kind not in "OSU" \
            and "str" not in str(meta[image].dtype):
        if image_column is not None:
            raise DataError(f"image column {image_column!r} holds {meta[image].dtype} values, "
                            f"not file names; name the right column")
        image = None  # e.g. an integer 'image' ID next to ra/dec, as the classifier does
    kw = {**wanted.as_kwargs(skip=("model",)), "image_dir": image_dir, "threads": threads}
    if image is not None:
        return SurveySettings(model=path, kind="images", image_column=image,
                              petro_column=find_column(meta, PETRO_NAMES), **kw)
    ra, dec = find_column(meta, RA_NAMES), find_column(meta, DEC_NAMES)
    if ra is None or dec is None:
        raise DataError(f"the catalogue has no image-path column ({', '.join(PATH_NAMES[:4])}, "
                        f"or image_column=) and no ra/dec columns (columns: "
                        f"{', '.join(cols[:12])}); give one of them")
    return SurveySettings(model=path, kind="coords", ra_column=ra, dec_column=dec,
                          petro_column=find_column(meta, PETRO_NAMES), **kw)


def classify_partition(part, settings, partition_info=None):
    """Classify one partition (a pandas DataFrame) on the worker it runs on.

    Returns ``part`` with the :func:`result_columns` added (an input column of
    the same name is renamed ``<name>_input``). Errors of single rows are kept
    in ``predict_error`` as ``"partition P, row LABEL: why"``, LABEL the row's
    index label.

    Parameters
    ----------
    part : pandas.DataFrame
        The partition's rows, with the columns named in ``settings``.
    settings : SurveySettings
        The model, the resolved input columns and the classifier settings.
    partition_info : dict, optional
        As Dask's ``map_partitions`` passes it; its ``"number"`` names the
        partition in ``predict_error``. None leaves the partition unnamed.

    Returns
    -------
    pandas.DataFrame
        ``part`` with the result columns added, in the same row order.
    """
    where = None if partition_info is None else f"partition {partition_info['number']}"
    return _classify(part, settings, where)


def _classify_pixel(part, pixel, settings):
    """:func:`classify_partition` for an LSDB partition, named by its HEALPix pixel."""
    order, npix = getattr(pixel, "order", "?"), getattr(pixel, "pixel", "?")
    return _classify(part, settings, f"HEALPix order {order} pixel {npix}")


def _classify(part, settings, where):
    n = len(part)
    if n == 0:
        return _attach(part, _empty_outputs(settings.intervals, settings.embedding), settings)
    from galmorph.workflows.survey._cluster import classifier_for

    clf = classifier_for(settings)
    with warnings.catch_warnings():  # per-row failures are in the columns, not warnings
        warnings.simplefilter("ignore", UserWarning)
        out = clf.predict(_inputs(part, settings), image_column=settings.image_column,
                          image_dir=settings.image_dir)
    cols = {name: _as_meta(out[name], empty.dtype)
            for name, empty in _empty_outputs(settings.intervals, settings.embedding).items()}
    labels = list(part.index)
    cols["predict_error"] = np.array([_relabel(str(e), labels, where)
                                      for e in cols["predict_error"]], dtype=object)
    return _attach(part, cols, settings)


def _relabel(error, labels, where):
    """``row 3: ...`` (position in the partition) -> ``partition 7, row 1203: ...``."""
    if not error:
        return ""
    m = _ROW.match(error)
    if m is None:
        return f"{where}: {error}" if where else error
    label = labels[int(m.group(1))]
    head = f"{where}, row {label}" if where else f"row {label}"
    return head + error[m.end():]


def _inputs(part, settings):
    """The few columns the classifier reads, as an astropy Table (degrees made explicit, so
    a small sky region is never mistaken for radians)."""
    from astropy import units as u
    from astropy.table import Table

    t = Table()
    if settings.kind == "images":
        t[settings.image_column] = np.array([None if _missing(v) else str(v)
                                             for v in part[settings.image_column]], dtype=object)
    else:
        t["ra"] = _floats(part[settings.ra_column]) * u.deg
        t["dec"] = _floats(part[settings.dec_column]) * u.deg
    if settings.petro_column is not None:
        t["petroR90_r"] = _floats(part[settings.petro_column])
    return t


def _missing(v):
    return v is None or (isinstance(v, float) and np.isnan(v)) or type(v).__name__ in (
        "NAType", "NaTType")


def _floats(series):
    import pandas as pd

    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _empty_outputs(intervals=None, embedding=False):
    """The result columns with no rows: the dtypes of the meta, which every partition keeps.

    float32 for the fractions, their bounds, ``p_merger``, ``merger_prob`` and
    ``ood_score``; pandas' nullable "boolean" for ``is_merger`` and ``is_ood``; bool for
    ``predict_ok``; object for the text (``predict_error``, ``input_note``).
    """
    import pandas as pd

    floats = set(schema.KAGGLE_COLUMNS) | set(interval_columns(intervals)) | set(_FLOATS) | {
        NORM_COLUMN}
    cols = {}
    for name in result_columns(intervals, embedding):
        if name in floats:
            cols[name] = np.zeros(0, np.float32)
        elif name in _FLAGS:
            cols[name] = pd.array([], dtype="boolean")
        else:
            cols[name] = np.zeros(0, bool if name == "predict_ok" else object)
    return cols


def _as_meta(column, dtype):
    """A classifier column (masked where the row failed) as the meta's ``dtype``: NaN in
    a float column, <NA> in a "boolean" one."""
    import pandas as pd

    if isinstance(dtype, pd.BooleanDtype):
        mask = np.array(np.ma.getmaskarray(column), dtype=bool)
        return pd.arrays.BooleanArray(np.asarray(np.ma.filled(column, False), dtype=bool), mask)
    if dtype.kind == "f":
        return np.asarray(np.ma.filled(column, np.nan), dtype=dtype)
    if dtype.kind == "b":
        return np.asarray(np.ma.filled(column, False), dtype=bool)
    if np.ndim(column) == 2:  # the embedding: one float32 array per row (Parquet: a list)
        out = np.empty(len(column), dtype=object)
        out[:] = list(np.asarray(column, np.float32))
        return out
    return np.asarray(column).astype(dtype, copy=False)


def _attach(part, cols, settings):
    """``part`` with ``cols`` added, renaming input columns that clash to ``<name>_input``."""
    clash = {c: f"{c}_input" for c in cols if c in part.columns}
    out = part.rename(columns=clash) if clash else part.copy()
    if clash and settings is None:  # building the meta on the client: say it once
        warnings.warn(f"input columns {', '.join(clash)} renamed to <name>_input: galmorph "
                      f"writes its predictions under those names", stacklevel=4)
    import pandas as pd

    new = pd.DataFrame({k: pd.Series(v, index=out.index, dtype=object if v.dtype.kind in "OUS"
                                     else v.dtype) for k, v in cols.items()})  # as the meta
    return pd.concat([out, new], axis=1)
