"""Deprecated: this module moved to :mod:`galmorph.workflows.report.catalog` (issue 29).

Importing it still gives the same names, with a :class:`DeprecationWarning`; import
them from ``galmorph.workflows.report.catalog`` instead.
"""
import warnings

from galmorph.workflows.report.catalog import *  # noqa: F401,F403
from galmorph.workflows.report.catalog import __all__  # noqa: F401

warnings.warn("galmorph.workflows.report_catalog is deprecated; import from "
              "galmorph.workflows.report.catalog", DeprecationWarning, stacklevel=2)
