"""The error base every slimnas command shares, kept here so the deploy-only runtime has it too.

A :class:`SlimnasError` is bad input, not a bug: a CLI prints its message on one line and exits 2.
Messages are plain strings so the errors survive DataLoader worker re-raising.
"""

from __future__ import annotations


class SlimnasError(Exception):
    """Base of every user-facing error: bad input, not a bug."""


class DataError(SlimnasError):
    """An image or annotation file is missing, corrupt or inconsistent."""
