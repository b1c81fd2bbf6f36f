"""The Galaxy Zoo 2 decision tree as a figure, drawn from :mod:`galmorph.schema`.

Questions are the nodes and answers the edges: each answer runs from its
question to the questions it leads to (``Question.parent`` in the schema), or
to a leaf where the volunteer's path through that branch ends. Nothing is
hard-coded here, so a change to the schema changes the figure.
"""
from __future__ import annotations

import numpy as np

from galmorph import schema
from galmorph.plots._inputs import save_figure, new_figure

__all__ = ["tree_layout", "plot_decision_tree"]

# Horizontal distance between a question and the end of its answers (data units); the
# next question down the tree sits twice as far.
_STEP = 1.0


def _short_name(question):
    """``t01_smooth_or_features`` -> ``smooth or features`` (the GZ2 task name, derived)."""
    task = question.gz2_task or f"q{question.number}"
    head, _, rest = task.partition("_")
    return (rest or head).replace("_", " ")


def tree_layout(questions=None):
    """Positions of the questions (nodes) and answer ends (edges) of a GZ2-like tree.

    Each root question (no parent answer) starts a tree; questions sit at
    ``x = 2 * depth``, their answers end at ``x = 2 * depth + 1``. Every answer
    that ends the branch (no question follows it) takes a row of its own,
    top to bottom in column order; a question sits in the middle of its
    answers' rows, an answer that leads on in the middle of its questions'.

    Parameters
    ----------
    questions : sequence of galmorph.schema.Question, optional
        The tree; default :data:`galmorph.schema.QUESTIONS`.

    Returns
    -------
    nodes : dict
        Question number -> ``(x, y)``.
    edges : dict
        Kaggle column -> ``{"question", "children", "end"}``: the question the
        answer belongs to, the numbers of the questions it leads to (empty for a
        leaf) and the ``(x, y)`` where it ends. ``y`` grows downwards (rows).

    Raises
    ------
    ValueError
        A question's parent answer is not an answer of the tree.
    """
    questions = tuple(schema.QUESTIONS if questions is None else questions)
    answers = {a.kaggle for q in questions for a in q.answers}
    kids = {}
    for q in questions:
        if q.parent is not None:
            if q.parent not in answers:
                raise ValueError(f"Q{q.number}'s parent answer {q.parent!r} is not an answer "
                                 f"of the tree")
            kids.setdefault(q.parent, []).append(q)
    nodes, edges = {}, {}
    row = 0

    def place(q, depth):
        nonlocal row
        ys = []
        for a in q.answers:
            children = kids.get(a.kaggle, [])
            if children:
                cy = [place(c, depth + 1) for c in children]
                y = (min(cy) + max(cy)) / 2
            else:
                y, row = float(row), row + 1
            edges[a.kaggle] = {"question": q.number, "children": [c.number for c in children],
                               "end": (2 * _STEP * depth + _STEP, y)}
            ys.append(y)
        y = (min(ys) + max(ys)) / 2 if ys else float(row)
        nodes[q.number] = (2 * _STEP * depth, y)
        return y

    for q in questions:
        if q.parent is None:
            place(q, 0)
            row += 1  # a blank row between the trees of Q1 and Q6
    return nodes, edges


def _mean_fractions(fractions, n_answers):
    values = np.asarray(fractions, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != n_answers:
        raise ValueError(f"fractions must have shape (N, {n_answers}) or ({n_answers},), got "
                         f"{np.shape(fractions)}")
    known = np.isfinite(values)
    counts = known.sum(axis=0)
    total = np.where(known, values, 0.0).sum(axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)  # NaN: unknown answer


def plot_decision_tree(fractions=None, *, questions=None, ax=None, filename=None):
    """The GZ2 decision tree: questions as boxes, answers as the lines between them.

    Parameters
    ----------
    fractions : array-like (N, 37) or (37,), optional
        Weighted vote fractions (or their means). Each answer's line is then as
        thick as its mean fraction -- the share of all galaxies whose
        volunteers took that path -- and its label gives the mean. NaN
        (unknown) cells are left out of the mean; an answer unknown for every
        galaxy is drawn dashed.
    questions : sequence of galmorph.schema.Question, optional
        The tree to draw; default :data:`galmorph.schema.QUESTIONS`.
    ax : matplotlib.axes.Axes, optional
    filename : path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.galmorph_tree`` holds the drawn layout (:func:`tree_layout`'s
        ``nodes`` and ``edges``, each edge with its ``"value"``, the mean
        fraction or None). In ``fig.axes[0]`` each question's box is a text
        with gid ``"Q<n>"`` and each answer's line a ``Line2D`` with the
        answer's Kaggle column as gid.

    Examples
    --------
    >>> fig = plot_decision_tree()
    >>> ax = fig.axes[0]
    >>> sum(t.get_gid() is not None and t.get_gid().startswith("Q") for t in ax.texts)
    11
    >>> len([line for line in ax.lines if line.get_gid() in schema.KAGGLE_COLUMNS])
    37
    """
    questions = tuple(schema.QUESTIONS if questions is None else questions)
    answers = [a for q in questions for a in q.answers]
    nodes, edges = tree_layout(questions)
    means = None if fractions is None else _mean_fractions(fractions, len(answers))
    n_rows = 1 + max(y for _, y in list(nodes.values()) + [e["end"] for e in edges.values()])
    width = 2 * _STEP * (1 + max(x for x, _ in nodes.values()) / (2 * _STEP)) + 1.6
    fig = new_figure(ax=ax, figsize=(1.15 * width + 0.4, 0.24 * n_rows + 0.9))
    ax = ax or fig.add_subplot()
    colour = {q.number: f"C{k % 10}" for k, q in enumerate(questions)}
    for k, a in enumerate(answers):
        edge = edges[a.kaggle]
        x0, y0 = nodes[edge["question"]]
        x1, y1 = edge["end"]
        value = None if means is None or not np.isfinite(means[k]) else float(means[k])
        edge["value"] = value
        width_pt = 1.2 if means is None else (0.6 + 6.0 * value if value is not None else 0.8)
        ax.plot([x0, x1], [y0, y1], color=colour[edge["question"]], lw=width_pt,
                ls="--" if means is not None and value is None else "-",
                solid_capstyle="round", gid=a.kaggle, zorder=2)
        name = f"{a.kaggle.removeprefix('Class')} {a.label}"
        if value is not None:
            name += f"  {value:.2f}"
        if edge["children"]:
            for child in edge["children"]:
                cx, cy = nodes[child]
                ax.plot([x1, cx], [y1, cy], color="0.55", lw=0.8, gid=f"to-Q{child}",
                        zorder=1)
            ax.text(x1, y1 - 0.18, name, ha="center", va="bottom", fontsize=6.5,
                    color=colour[edge["question"]], zorder=4,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85))
        else:
            ax.plot([x1], [y1], "o", ms=2.5, color=colour[edge["question"]], zorder=3)
            ax.text(x1 + 0.06, y1, name, ha="left", va="center", fontsize=6.5, zorder=4)
    for q in questions:
        x, y = nodes[q.number]
        ax.text(x, y, f"Q{q.number}\n{_short_name(q)}", ha="center", va="center",
                fontsize=7, gid=f"Q{q.number}", zorder=5,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=colour[q.number], lw=1.2))
    ax.set_xlim(-0.6, width - 0.6)
    ax.set_ylim(n_rows - 0.3, -0.9)  # rows run downwards
    ax.set_axis_off()
    roots = ", ".join(f"Q{q.number}" for q in questions if q.parent is None)
    title = (f"Galaxy Zoo 2 decision tree: {len(questions)} questions, {len(answers)} answers "
             f"(roots {roots})")
    if means is not None:
        title += "\nline width and label: mean weighted vote fraction"
    ax.set_title(title, fontsize="small")
    fig.galmorph_tree = {"nodes": nodes, "edges": edges}
    return save_figure(fig, filename)
