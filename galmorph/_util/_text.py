"""Wording helpers for messages."""
__all__ = ["count"]


def count(n, noun, plural=None):
    """``"1 row"``, ``"2 rows"``; ``plural`` for irregular nouns (``"galaxies"``)."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
