"""The package's error types. Every error a user can act on derives from :class:`VGGExplorerError`,
and its message names the problem and the next step; the CLI and the app catch this base only,
so a bug (a plain ``ValueError``, ``KeyError`` ...) still shows as a bug.
"""

from __future__ import annotations


class VGGExplorerError(Exception):
    """Base of every user-actionable error in vggexplorer."""


class ConfigError(VGGExplorerError, ValueError):
    """Bad options: an out-of-range argument, a resumed run with other settings."""
