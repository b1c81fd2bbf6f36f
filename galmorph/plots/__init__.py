"""The paper's figures, for your own data and training runs.

Every function takes arrays (or tables, run directories, models), draws a
:class:`matplotlib.figure.Figure` and returns it. They never call
``plt.show()`` and never write a file unless given ``filename``; figures are
made without pyplot, so they work under any backend (including ``Agg`` on a
headless machine) and do not pile up in pyplot's figure list. In a notebook,
a returned figure displays as the cell's result. Given ``ax=`` (or an empty
``fig=``), a function draws there and returns that axes' figure -- a
:class:`~matplotlib.figure.SubFigure` where the axes lives in one.

Answers are chosen by Kaggle column (``"Class8.6"``), readable label
(``"merger"``), column index or whole question (``"Q8"``); names, labels and
the question layout come from :mod:`galmorph.schema`.

=================================  ==============================================
:func:`plot_label_histograms`      vote-fraction histograms, one panel per answer
:func:`plot_label_covariance`      37 x 37 correlation / covariance of the labels
:func:`plot_prototypes`            galaxies with the highest fraction per answer
:func:`plot_conv_kernels`          a model's first-layer kernels as RGB tiles
:func:`plot_loss_curves`           train / validation RMSE and learning rate
:func:`plot_predicted_vs_true`     prediction against truth per answer, with RMSE
:func:`plot_predicted_prototypes`  galaxies the model is most confident about
:func:`plot_galaxy_grid`           galaxies in a grid, each with its own caption
:func:`plot_redshift_trends`       mean fractions against redshift (classification bias)
:func:`plot_decision_tree`         the GZ2 decision tree (questions, answers), from the schema
:func:`plot_interval_reliability`  nominal against empirical coverage of the intervals
:func:`new_figure`                 the figure to draw on: ``ax``'s, ``fig`` or a new one
=================================  ==============================================

Examples
--------
>>> from galmorph.plots import plot_loss_curves
>>> fig = plot_loss_curves("runs/cnn", paper="cnn")   # doctest: +SKIP
>>> fig.savefig("loss.png", dpi=150)                  # doctest: +SKIP
"""
from galmorph.plots._inputs import new_figure
from galmorph.plots.calibration import plot_interval_reliability
from galmorph.plots.galaxies import (DEFAULT_PROTOTYPE_ANSWERS, plot_galaxy_grid,
                                     plot_predicted_prototypes, plot_prototypes, top_galaxies)
from galmorph.plots.labels import plot_label_covariance, plot_label_histograms
from galmorph.plots.redshift import plot_redshift_trends
from galmorph.plots.tree import plot_decision_tree, tree_layout
from galmorph.plots.training import (PAPER_VAL_RMSE, first_conv, plot_conv_kernels,
                                     plot_loss_curves, plot_predicted_vs_true, read_metrics_csv)

__all__ = ["plot_label_histograms", "plot_label_covariance", "plot_prototypes",
           "plot_predicted_prototypes", "plot_conv_kernels", "plot_loss_curves",
           "plot_predicted_vs_true", "read_metrics_csv", "first_conv", "top_galaxies",
           "PAPER_VAL_RMSE", "DEFAULT_PROTOTYPE_ANSWERS", "plot_galaxy_grid",
           "plot_redshift_trends", "plot_decision_tree", "tree_layout",
           "plot_interval_reliability", "new_figure"]
