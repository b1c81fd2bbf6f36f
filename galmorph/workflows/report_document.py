"""Deprecated: this module moved to :mod:`galmorph.workflows.report.document` (issue 29).

Importing it still gives the same names, with a :class:`DeprecationWarning`; import
them from ``galmorph.workflows.report.document`` instead.
"""
import warnings

from galmorph.workflows.report.document import *  # noqa: F401,F403
from galmorph.workflows.report.document import __all__  # noqa: F401

warnings.warn("galmorph.workflows.report_document is deprecated; import from "
              "galmorph.workflows.report.document", DeprecationWarning, stacklevel=2)
