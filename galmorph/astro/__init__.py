"""Astronomy-facing tools: the classifier, SDSS cutouts, catalog cuts and science diagnostics.

- :mod:`.classifier`: :class:`MorphologyClassifier`, the 37 GZ2 fractions, merger flags
  and redshift columns for a table, positions, image files or arrays;
- :mod:`.settings`: :class:`ClassifierSettings`, the classifier's arguments and their
  defaults, defined once (the survey settings and ``galmorph classify``'s flags use them);
- :mod:`.io`: catalogue files and typed positions in, result tables and their failed
  rows out (:func:`~.io.read_catalog`, :func:`~.io.write_result`, ...);
- :mod:`.summary`: readable summaries of a classified galaxy or catalogue;
- :mod:`.cutouts`: GZ2-style SDSS colour cutouts by RA/Dec (:func:`fetch_cutouts`);
- :mod:`.catalog`: the GZ2 main-sample cuts (:func:`gz2_selection`) and SDSS queries
  (:func:`query_gz2_sample`);
- :mod:`.mergers`, :mod:`.merger_threshold`: merger flags and fractions, and a merger
  threshold proposed from the data;
- :mod:`.separation`, :mod:`.merger_separation`: the separation to the nearest neighbour
  and the angular-separation bias of the merger vote;
- :mod:`.redshift`: the redshift (classification) bias.

The modules whose names start with an underscore are their plumbing. The public names
below are imported on first use, so ``import galmorph.astro`` stays cheap.
"""
from galmorph._util._lazy import lazy_exports

__all__ = ["MorphologyClassifier", "ClassifierSettings", "fetch_cutout", "fetch_cutouts",
           "gz2_selection", "query_gz2_sample", "merger_flags", "merger_fraction",
           "separation_bias", "measure_separations", "redshift_trends"]

_WHERE = {"MorphologyClassifier": "classifier", "ClassifierSettings": "settings",
          "fetch_cutout": "cutouts", "fetch_cutouts": "cutouts", "gz2_selection": "catalog",
          "query_gz2_sample": "catalog",
          "merger_flags": "mergers", "merger_fraction": "mergers",
          "separation_bias": "merger_separation", "measure_separations": "separation",
          "redshift_trends": "redshift"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
