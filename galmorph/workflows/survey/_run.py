"""``galmorph classify CATALOG --scheduler ADDRESS|local --out DIR/``: the whole survey run.

:func:`run_survey` opens the catalogue (:func:`open_catalog`: a Parquet file or
folder through Dask, or a HATS catalogue through LSDB), connects to the
scheduler (:func:`connect`: an existing cluster's address, or ``local`` for a
:class:`distributed.LocalCluster` on this machine), classifies lazily with
:func:`~galmorph.workflows.survey.classify_survey` and writes with
:func:`~galmorph.workflows.survey.write.write_survey`. The CLI only maps its
flags onto this function.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from galmorph.errors import DataError, ParameterError
from galmorph.workflows.survey.classify import require_dask, require_lsdb

__all__ = ["run_survey", "open_catalog", "connect", "is_hats"]


def is_hats(path):
    """True for a HATS catalogue or collection folder (``properties``, ``hats.properties``
    or ``collection.properties`` inside)."""
    path = Path(path)
    names = ("collection.properties", "hats.properties", "properties")
    return path.is_dir() and any((path / n).is_file() for n in names)


def open_catalog(path, *, partitions=None, flag=None):
    """A Parquet file or folder as a Dask DataFrame, or a HATS folder as an LSDB Catalog.

    Parameters
    ----------
    path : path-like
    partitions : int, optional
        Repartition a Dask DataFrame into this many partitions (default: as
        read, one per Parquet row group or file). Not for HATS catalogues, whose
        partitions are HEALPix pixels.
    flag : str, optional
        The command-line argument that named ``path``, for messages.
    """
    path = Path(path).expanduser()
    label = f"{flag} {path}" if flag else str(path)
    if not path.exists():
        raise DataError(f"{label}: does not exist")
    if is_hats(path):
        if partitions is not None:
            raise ParameterError(f"{label} is a HATS catalogue, partitioned by HEALPix pixel; "
                                 f"drop --partitions")
        lsdb = require_lsdb()
        return lsdb.open_catalog(str(path)) if hasattr(lsdb, "open_catalog") \
            else lsdb.read_hats(str(path))
    if path.is_file() and path.suffix.lower() not in (".parquet", ".pq", ".parq"):
        raise DataError(f"{label}: a survey run reads Parquet (a .parquet file or a folder of "
                        f"them) or a HATS catalogue; convert it, e.g. "
                        f"astropy.table.Table.read(...).to_pandas().to_parquet(...)")
    dd = require_dask()
    try:
        df = dd.read_parquet(str(path), split_row_groups="infer")
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{label}: cannot read it as Parquet ({exc})") from None
    if partitions is not None:
        df = df.repartition(npartitions=int(partitions))
    return df


@contextmanager
def connect(scheduler, *, n_workers=None, threads_per_worker=1):
    """A ``distributed.Client`` for ``scheduler``: an address (``tcp://host:8786``) or
    ``"local"`` (a LocalCluster of ``n_workers`` processes, default one per core,
    closed on exit)."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == "local":
        from galmorph._util._workers import sigint_held, usable_cores

        n = n_workers or max(1, usable_cores() // threads_per_worker)
        # Started with Ctrl-C held, the worker processes ignore it (as galmorph's pools do):
        # this process handles it, and closing the cluster stops them, without tracebacks.
        with sigint_held("spawn"):
            cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker,
                                   processes=True, host="127.0.0.1", dashboard_address=None,
                                   silence_logs=logging.ERROR)
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"--scheduler {scheduler}: cannot connect ({exc}); give the "
                             f"scheduler's address (tcp://HOST:8786) or 'local'") from None
    with client:
        yield client


def run_survey(catalog, scheduler, out_dir, *, partitions=None, print_fn=print, **options):
    """Classify the catalogue file ``catalog`` on ``scheduler`` into ``out_dir``.

    What ``galmorph classify CATALOG --scheduler ... --out DIR/`` runs, public as
    :func:`galmorph.workflows.survey.run_survey` for scripts.

    Parameters
    ----------
    catalog : path-like
        A Parquet file or folder, or a HATS catalogue folder (:func:`open_catalog`).
    scheduler : str
        A running scheduler's address, or ``"local"`` for a cluster on this machine.
    out_dir : path-like
        The output folder: one Parquet file per partition, and its manifest.
    partitions : int, optional
        Repartition a Parquet catalogue into this many partitions.
    print_fn : callable, optional
        Where the progress and summary lines go (default: :func:`print`).
    **options
        Passed to :func:`~galmorph.workflows.survey.classify_survey` (``model``,
        ``image_column``, ``device``, ``batch_size``, ...).

    Returns
    -------
    SurveyReport
        What was written, skipped and failed
        (:class:`~galmorph.workflows.survey.write.SurveyReport`).
    """
    from galmorph._util._io import check_writable
    from galmorph.workflows.survey.classify import classify_survey
    from galmorph.workflows.survey.write import write_survey

    check_writable(out_dir, "--out", folder=True)
    data = open_catalog(catalog, partitions=partitions, flag="CATALOG")
    with connect(scheduler) as client:
        n = len(client.scheduler_info().get("workers", {}))
        print_fn(f"classifying {catalog} ({data.npartitions} partitions) on {n} workers "
                 f"({client.scheduler.address})")
        result = classify_survey(data, client=client, **options)
        report = write_survey(result, out_dir, client=client,
                              source=str(Path(catalog).resolve()), flag="--out",
                              settings=_row_settings(options))
    for line in report.lines():
        print_fn(line)
    return report


#: classify_survey arguments that decide the rows' flags without changing the columns.
_ROW_SETTINGS = ("merger_rule", "merger_threshold", "intervals")


def _row_settings(options):
    """The :data:`_ROW_SETTINGS` of a run (its ``options``, else the classifier's defaults),
    recorded in the output folder's manifest so that a resumed run keeps the same rule."""
    from galmorph.astro.settings import ClassifierSettings

    defaults = ClassifierSettings()
    return {k: options.get(k, getattr(defaults, k)) for k in _ROW_SETTINGS}
