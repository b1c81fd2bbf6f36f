"""Workflows over the whole package: the offline demo, reports and survey classification.

- :mod:`.demo`: :func:`run_demo`, the shipped galaxies and then a synthetic run;
- :mod:`.report`: :func:`make_report`, a run or a catalogue as one HTML page;
- :mod:`.survey`: :func:`classify_survey` on Dask or LSDB, and
  :func:`write_survey` for its Parquet output, and
  :func:`~galmorph.workflows.survey.run_survey` for a whole run.

A workflow may use every layer below it (data, models, training, inference,
astro, plots); nothing in the package imports a workflow except the CLI. The
public names below are imported on first use, so ``import galmorph.workflows``
stays cheap.
"""
from galmorph._util._lazy import lazy_exports

__all__ = ["run_demo", "make_report", "classify_survey", "write_survey"]

_WHERE = {"run_demo": "demo", "make_report": "report", "classify_survey": "survey",
          "write_survey": "survey"}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
