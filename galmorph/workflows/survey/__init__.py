"""Survey-scale classification on a Dask cluster or an LSDB catalogue.

- :mod:`.classify`: :func:`classify_survey`, a Dask DataFrame (or LSDB Catalog) in and a
  lazy one out, with the 37 GZ2 fractions and the classifier's flags per row;
- :mod:`.write`: :func:`write_survey`, one Parquet file per partition, resumable, and its
  :class:`SurveyReport`;
- :func:`run_survey`: the whole run of ``galmorph classify CATALOG --scheduler ...
  --out DIR/``: open the catalogue, connect to the scheduler, classify and write.

Dask and LSDB are optional extras; this package imports without them, and its public
names are imported on first use.

Examples
--------
>>> from galmorph.workflows.survey import run_survey
>>> run_survey("catalog.parquet", "local", "out/")         # doctest: +SKIP
"""
from galmorph._util._lazy import lazy_exports

__all__ = ["classify_survey", "classify_partition", "SurveySettings", "MissingExtraError",
           "require_dask", "require_lsdb", "is_lsdb_catalog", "result_columns",
           "write_survey", "SurveyReport", "run_survey"]

_WHERE = {"classify_survey": "classify", "classify_partition": "classify",
          "SurveySettings": "classify", "MissingExtraError": "classify",
          "require_dask": "classify", "require_lsdb": "classify",
          "is_lsdb_catalog": "classify", "result_columns": "classify",
          "write_survey": "write", "SurveyReport": "write", "run_survey": "_run"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
