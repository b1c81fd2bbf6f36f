"""One self-contained HTML page of a training run or of a classified catalogue.

``galmorph report RUN_DIR`` and ``galmorph report CATALOG.ecsv`` call
:func:`make_report`, which dispatches to

- :func:`~galmorph.workflows.report.run.report_run`: the resolved config and
  data, the learning curves, the evaluation table (the numbers of
  ``galmorph evaluate --json``, with intervals and the baselines), predicted
  against true for the 37 answers, true and predicted prototypes, the first-layer
  kernels, the GZ2 decision tree and where the files are;
- :func:`~galmorph.workflows.report.catalog.report_catalog`: the vote-fraction
  histograms and correlations, the decision tree with the mean fractions, the
  merger analysis, the redshift trends and prototypes per answer.

A report is built as a :class:`Report` -- sections holding tables, texts and
matplotlib figures, which tests and scripts can inspect -- and then rendered
from the Jinja2 template ``templates/report.html.j2`` into one HTML file with
the figures embedded as PNG: it opens offline and fetches no script, font or
style. Every figure has alt text and a caption saying what to read from it.
The output is checked for writing before any work and written atomically, so
bad input never leaves a half-written file.

Examples
--------
>>> from galmorph.workflows.report import make_report
>>> make_report("runs/gz2")                     # doctest: +SKIP
PosixPath('runs/gz2/report.html')
>>> make_report("result.ecsv", out="result.html")   # doctest: +SKIP
PosixPath('result.html')
"""
from __future__ import annotations

from pathlib import Path

from galmorph._util._lazy import lazy_exports
# The report as data and its writer, re-exported here where users build and inspect reports.
from galmorph.workflows.report._html import write_report
from galmorph.workflows.report.document import (Cell, Report, ReportFigure, ReportSection,
                                                ReportTable, ReportText, Row)

__all__ = ["Cell", "Row", "ReportTable", "ReportText", "ReportFigure", "ReportSection", "Report",
           "write_report", "make_report", "default_output", "report_run", "report_catalog",
           "build_run_report", "build_catalog_report"]

_LAZY = {"report_run": "galmorph.workflows.report.run",
         "build_run_report": "galmorph.workflows.report.run",
         "report_catalog": "galmorph.workflows.report.catalog",
         "build_catalog_report": "galmorph.workflows.report.catalog"}


def default_output(path):
    """Where :func:`make_report` writes by default.

    ``RUN_DIR/report.html`` for a run folder, ``<name>-report.html`` beside a
    catalogue file (``result.ecsv`` -> ``result-report.html``).
    """
    path = Path(path)
    if path.is_dir():
        return path / "report.html"
    return path.with_name(f"{path.stem}-report.html")


def make_report(path, out=None, *, data=None, images=None, **kwargs):
    """Report a run folder or a catalogue file, whichever ``path`` is.

    Parameters
    ----------
    path : path-like
        A run folder written by ``galmorph train`` (holding ``metrics.csv``),
        or a table of predictions (ECSV, FITS, CSV) written by
        ``galmorph classify`` or ``galmorph predict``.
    out : path-like, optional
        The HTML file; default :func:`default_output`.
    data : path-like or list, optional
        Run reports only: the labelled data to evaluate on (default: the run's).
    images : str or sequence, optional
        Catalogue reports only: the column holding each row's image file, or
        the files themselves.
    **kwargs
        Passed to :func:`~galmorph.workflows.report.run.report_run` or
        :func:`~galmorph.workflows.report.catalog.report_catalog`.

    Returns
    -------
    pathlib.Path
        The report written.
    """
    from galmorph.errors import DataError, ParameterError

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; give a run folder written by 'galmorph train' "
                        f"or a table written by 'galmorph classify' / 'galmorph predict'")
    if path.is_dir():
        if images is not None:
            raise ParameterError(f"images= is for a catalogue report, but {path} is a run "
                                 f"folder")
        from galmorph.workflows.report.run import report_run

        return report_run(path, data, out=out, **kwargs)
    if data is not None:
        raise ParameterError(f"data= is for a run report, but {path} is a table; its "
                             f"predictions are reported as they are")
    from galmorph.workflows.report.catalog import report_catalog

    return report_catalog(path, out=out, images=images, **kwargs)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
