"""A report as data: sections holding tables, texts and matplotlib figures.

:func:`galmorph.workflows.report.make_report` builds a :class:`Report` of a run or a
catalogue, which tests and scripts can inspect, and
:func:`~galmorph.workflows.report.write_report` renders it to one HTML file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Cell", "Row", "ReportTable", "ReportText", "ReportFigure", "ReportSection", "Report"]


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
        :func:`~galmorph.inference.evaluation.evaluate` result's scores, a dict).
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
