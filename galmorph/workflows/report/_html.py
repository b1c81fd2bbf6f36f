"""Rendering of a :class:`~galmorph.workflows.report.Report`: Jinja2 template, embedded PNGs.

Also what the run and catalogue reports share: number cells, figure encoding
and the decision-tree section.
"""
from __future__ import annotations

import base64
import io
import time
from pathlib import Path

from galmorph.workflows.report.document import Cell, ReportFigure, ReportSection

__all__ = ["write_report", "render_html", "figure_png", "number", "text", "interval",
           "tree_section", "grid_figure", "prototype_figure"]

#: The template, in ``galmorph/workflows/report/templates`` (package data).
TEMPLATE = "report.html.j2"


def number(value, key=None, digits=4):
    """A numeric :class:`~galmorph.workflows.report.Cell`: ``-`` for None or NaN."""
    if value is None or value != value:
        return Cell("-", None)
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return Cell(f"{value:d}", key)
    return Cell(f"{float(value):.{digits}f}", key)


def interval(bounds, key=None, digits=4):
    """A cell for a ``(low, high)`` interval, ``-`` where there is none."""
    if not bounds or any(b is None or b != b for b in bounds):
        return Cell("-")
    return Cell(f"{bounds[0]:.{digits}f} - {bounds[1]:.{digits}f}", key)


def text(value, mono=False):
    """A text cell."""
    return Cell("-" if value is None else str(value), None, mono)


def figure_png(fig, dpi):
    """``(base64 PNG, width, height)`` of a matplotlib figure (the whole figure)."""
    buffer = io.BytesIO()
    fig.figure.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    # The PNG header holds the size: bytes 16-24 of the IHDR chunk.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return base64.b64encode(data).decode("ascii"), width, height


def grid_figure(figsize):
    """A Figure without a layout engine, for grids of many panels.

    Constrained layout costs seconds on a 37-panel grid; the report places
    such grids once with ``subplots_adjust`` instead.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def prototype_figure(plot, images, values, answers, n=4, **kwargs):
    """``plot(images, values, answers, n, ...)`` (a prototype mosaic) on a hand-laid grid."""
    height = 1.5 * len(answers) + 0.5
    fig = grid_figure((1.3 * n + 0.8, height))
    plot(images, values, list(answers), n=n, fig=fig, **kwargs)
    fig.subplots_adjust(left=0.9 / fig.get_figwidth(), right=0.98, bottom=0.01,
                        top=1 - 0.55 / height, wspace=0.08, hspace=0.3)
    return fig


def _view(item):
    """What the template reads of one section item."""
    if item.kind != "figure":
        return item
    png, width, height = figure_png(item.figure, item.dpi)
    return {"kind": "figure", "key": item.key, "alt": item.alt, "caption": item.caption,
            "png": png, "width": width, "height": height}


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("galmorph.workflows.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def render_html(report):
    """The HTML page of ``report`` (a str), its figures embedded as base64 PNG."""
    from galmorph import __version__

    sections = [{"key": s.key, "title": s.title, "parts": [_view(i) for i in s.items]}
                for s in report.sections]
    page = {"title": report.title, "subtitle": report.subtitle, "source": report.source,
            "sections": sections}
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return _environment().get_template(TEMPLATE).render(report=page, version=__version__,
                                                        created=created)


def tree_section(fractions, what):
    """The decision-tree section, shared with the catalogue report."""
    from galmorph.plots import plot_decision_tree

    fig = plot_decision_tree(fractions)
    return ReportSection("tree", "The GZ2 decision tree", [ReportFigure(
        "tree", fig, "The Galaxy Zoo 2 decision tree: questions as boxes, answers as lines",
        f"The GZ2 decision tree drawn from galmorph.schema: each box is a question, each line "
        f"an answer leading to the next question or ending the branch (dot); Q6 (anything "
        f"odd?) is asked of every galaxy. Line width and label give the mean weighted "
        f"fraction of {what}, the share of all galaxies whose votes went that way. Read: "
        f"which answers the data is rich in, and how few galaxies reach the deep questions "
        f"(bars, arms), whose RMSE rests on few votes.", dpi=80)])


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
    from galmorph._util._atomic import write_text_atomic

    out = Path(out)
    write_text_atomic(out, render_html(report))
    return out
