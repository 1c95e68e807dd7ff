"""User text (file names, URL values) made inert in Streamlit markdown."""

from __future__ import annotations

_MD_SPECIAL = set("\\`*_[]<>#$~|")  # what can start formatting mid-line (newlines are removed)


def md_escape(text: str, limit: int = 80) -> str:
    """User text shown as typed, shortened: a file named ``[win](http://x)`` or ``$\\huge x$`` is not a link or maths."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text.replace("\n", " "))


def md_code(text: str, limit: int = 40) -> str:
    """User text shown as inline code: only a backtick could end the span, so none survives."""
    text = str(text).replace("`", "'").replace("\n", " ")
    return f"`{text[:limit]}{'…' if len(text) > limit else ''}`"
