"""Deprecated: this module moved to :mod:`galmorph.workflows.report.run` (issue 29).

Importing it still gives the same names, with a :class:`DeprecationWarning`; import
them from ``galmorph.workflows.report.run`` instead.
"""
import warnings

from galmorph.workflows.report.run import *  # noqa: F401,F403
from galmorph.workflows.report.run import __all__  # noqa: F401

warnings.warn("galmorph.workflows.report_run is deprecated; import from "
              "galmorph.workflows.report.run", DeprecationWarning, stacklevel=2)
