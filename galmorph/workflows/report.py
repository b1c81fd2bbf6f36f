"""One self-contained HTML page of a training run or of a classified catalogue.

``galmorph report RUN_DIR`` and ``galmorph report CATALOG.ecsv`` call
:func:`make_report`, which dispatches to

- :func:`~galmorph.workflows.report_run.report_run`: the resolved config and
  data, the learning curves, the evaluation table (the numbers of
  ``galmorph evaluate --json``, with intervals and the baselines), predicted
  against true for the 37 answers, true and predicted prototypes, the first-layer
  kernels, the GZ2 decision tree and where the files are;
- :func:`~galmorph.workflows.report_catalog.report_catalog`: the vote-fraction
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

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cell", "Row", "ReportTable", "ReportText", "ReportFigure", "ReportSection", "Report",
           "write_report", "make_report", "default_output", "report_run", "report_catalog",
           "build_run_report", "build_catalog_report"]

_LAZY = {"report_run": "report_run", "build_run_report": "report_run",
         "report_catalog": "report_catalog", "build_catalog_report": "report_catalog"}


@dataclass
class Cell:
    """One table cell: its text and, for numbers a program checks, a ``data-key``.

    ``key`` is written as the cell's ``data-key`` attribute: a ``/``-separated
    path into the result it comes from (``"per_answer/Class1.1"`` is
    ``evaluate(...)["per_answer"]["Class1.1"]``).
    """

    text: str
    key: str | None = None
    mono: bool = False


@dataclass
class Row:
    """A table row; ``muted`` rows (e.g. a question unknown in the data) are shown grey."""

    cells: list
    muted: bool = False


@dataclass
class ReportTable:
    """A table: ``header`` names, :class:`Row` rows; columns in ``numeric`` align right."""

    key: str
    caption: str
    header: list
    rows: list
    numeric: tuple = ()
    kind = "table"

    def column(self, name):
        """The texts of the column headed ``name``."""
        j = self.header.index(name)
        return [row.cells[j].text for row in self.rows]


@dataclass
class ReportText:
    """A paragraph; ``note=True`` sets it apart (a caveat, or why a part is missing)."""

    text: str
    note: bool = False

    @property
    def kind(self):
        return "note" if self.note else "text"


@dataclass
class ReportFigure:
    """A matplotlib figure with its alt text and a caption saying what to read from it."""

    key: str
    figure: object
    alt: str
    caption: str
    dpi: int = 90
    kind = "figure"


@dataclass
class ReportSection:
    """A titled part of a report (one ``<h2>``); ``items`` are tables, texts and figures."""

    key: str
    title: str
    items: list = field(default_factory=list)


@dataclass
class Report:
    """A report before rendering.

    Attributes
    ----------
    title : str
        The page's ``<h1>``.
    kind : {"run", "catalog"}
    source : str
        The run folder or catalogue file reported.
    subtitle : list of str
        Lines under the title.
    sections : list of ReportSection
    data : dict
        The numbers behind the tables (for a run, ``data["evaluation"]`` is the
        :func:`~galmorph.inference.evaluation.evaluate` result).
    """

    title: str
    kind: str
    source: str
    subtitle: list = field(default_factory=list)
    sections: list = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def section(self, key):
        """The section with ``key``."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; the report has {[s.key for s in self.sections]}")

    def _items(self, kind):
        return {i.key: i for s in self.sections for i in s.items if i.kind == kind}

    @property
    def figures(self):
        """Figure key -> :class:`ReportFigure`, in page order."""
        return self._items("figure")

    @property
    def tables(self):
        """Table key -> :class:`ReportTable`, in page order."""
        return self._items("table")


def write_report(report, out):
    """Render ``report`` to HTML and write it to ``out`` atomically; returns the path.

    Parameters
    ----------
    report : Report
    out : path-like
        The HTML file; a reader sees the old file or the whole new one.

    Returns
    -------
    pathlib.Path
    """
    from galmorph._atomic import write_text_atomic
    from galmorph.workflows._report_html import render_html

    out = Path(out)
    write_text_atomic(out, render_html(report))
    return out


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
        Passed to :func:`~galmorph.workflows.report_run.report_run` or
        :func:`~galmorph.workflows.report_catalog.report_catalog`.

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
        from galmorph.workflows.report_run import report_run

        return report_run(path, data, out=out, **kwargs)
    if data is not None:
        raise ParameterError(f"data= is for a run report, but {path} is a table; its "
                             f"predictions are reported as they are")
    from galmorph.workflows.report_catalog import report_catalog

    return report_catalog(path, out=out, images=images, **kwargs)


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"galmorph.workflows.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'galmorph.workflows.report' has no attribute {name!r}")
