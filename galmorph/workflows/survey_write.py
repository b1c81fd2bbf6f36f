"""Deprecated: this module moved to :mod:`galmorph.workflows.survey.write` (issue 29).

Importing it still gives the same names, with a :class:`DeprecationWarning`; import
them from ``galmorph.workflows.survey.write`` instead.
"""
import warnings

from galmorph.workflows.survey.write import *  # noqa: F401,F403
from galmorph.workflows.survey.write import __all__  # noqa: F401

warnings.warn("galmorph.workflows.survey_write is deprecated; import from "
              "galmorph.workflows.survey.write", DeprecationWarning, stacklevel=2)
