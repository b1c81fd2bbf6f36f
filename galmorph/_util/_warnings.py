"""Where a warning points: the user's line, not galmorph's inside."""
import os
import sys

__all__ = ["caller_stacklevel"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def caller_stacklevel():
    """``stacklevel`` for :func:`warnings.warn` that names the first frame outside galmorph.

    Call it in the function that warns: ``warnings.warn(msg, stacklevel=caller_stacklevel())``.
    A fixed number breaks whenever a call is moved one function deeper (a warning of
    ``MorphologyClassifier.predict`` then names ``classifier.py`` instead of the script
    that called it); counting the frames keeps it on the caller's line however deep the
    warning is raised. Where every frame is galmorph's (the ``galmorph`` command), the
    outermost one is named.
    """
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    return level
