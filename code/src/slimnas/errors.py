"""One error base for everything a user can get wrong.

CLIs catch :class:`SlimnasError`, print its message on one line and exit with code 2. Each subclass
names the culprit (a file, a YAML entry, a layer) in its message, so the message alone says what to fix.
Messages are plain strings so the errors survive DataLoader worker re-raising.
"""

from __future__ import annotations

from slimnas_runtime.errors import DataError, SlimnasError  # the base lives with the runtime, which needs it too

__all__ = ["CheckpointError", "ConfigError", "DataError", "SlimnasError"]


class ConfigError(SlimnasError):
    """A YAML/JSON config is missing, malformed, or has an entry with wrong arguments."""


class CheckpointError(SlimnasError):
    """A checkpoint cannot be read or does not match the model it claims to hold."""
