"""The exceptions of weights I/O: one type, a message that names the file and what is wrong."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A weights file or folder that cannot be loaded (empty, truncated, refused, of another model...)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A path that does not exist, or a Hub file that can be neither downloaded nor found in the cache."""
