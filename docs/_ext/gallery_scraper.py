"""sphinx-gallery image scraper for galmorph's figures.

galmorph's plotting functions return bare :class:`matplotlib.figure.Figure` objects (no
pyplot state), which sphinx-gallery's own matplotlib scraper never sees. This scraper shows
every figure that a code block left in a variable (a Figure, or an Axes of one), once.
"""
__all__ = ["galmorph_figures"]

_SHOWN = {}   # source file -> figures already shown (kept alive, so identity stays unique)


def galmorph_figures(block, block_vars, gallery_conf):
    """Save the new figures of ``block_vars["example_globals"]``; return their reST."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from sphinx_gallery.scrapers import figure_rst

    shown = _SHOWN.setdefault(block_vars["src_file"], [])
    paths = []
    for value in list(block_vars["example_globals"].values()):
        fig = value.figure if isinstance(value, (Axes, SubFigure)) else value
        if isinstance(fig, SubFigure):
            fig = fig.figure
        if not isinstance(fig, Figure) or any(fig is f for f in shown):
            continue
        shown.append(fig)
        path = next(block_vars["image_path_iterator"])
        fig.savefig(path, dpi=90)
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
