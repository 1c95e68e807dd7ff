"""The app's pages by name, and the moves between them.

Pages link to each other through this module, never by importing each other or the navigation: ``ui/nav.py``
imports the pages and registers each page's draw function here (:func:`register`), once per process; a page
asks for a move by the target's name. So the imports run one way: nav -> pages -> links.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from . import state


@dataclass(frozen=True)
class PageSpec:
    """One page of the app: its URL path (``/explorer``), its title and icon."""

    url_path: str
    title: str
    icon: str


EXPLORER = PageSpec("explorer", "Explorer", ":material/search:")
DEAD_FILTERS = PageSpec("dead-filters", "Dead filters", ":material/block:")
DISAGREEMENTS = PageSpec("disagreements", "Disagreements", ":material/compare_arrows:")
MODELS = PageSpec("models", "Models", ":material/straighten:")
PAGES: tuple[PageSpec, ...] = (EXPLORER, DEAD_FILTERS, DISAGREEMENTS, MODELS)  # in the sidebar's order

_DRAW: dict[str, Callable[[], None]] = {}  # url_path -> the page's draw function (ui/nav.py registers them)


def register(spec: PageSpec, draw: Callable[[], None]) -> None:
    _DRAW[spec.url_path] = draw


def page(spec: PageSpec) -> st.Page:
    """A fresh ``st.Page`` for ``spec``. Page objects are made per run: ``st.navigation`` marks the one it returns
    as current, so a Page shared by every session (a module constant) would be a race between sessions."""
    return st.Page(_DRAW[spec.url_path], title=spec.title, icon=spec.icon, url_path=spec.url_path)


def open_in_explorer(block: str, ch: int, pruned: int | None = None) -> None:
    """Show ``block``'s channel ``ch`` (on rung ``pruned``, if given) across the ladder in the Explorer, the rest of
    the view unchanged."""
    extra = {} if pruned is None else {"pruned": pruned}
    st.switch_page(page(EXPLORER), query_params=state.link_params(block=block, ch=ch, panel="ladder", **extra))


def open_image(img: int) -> None:
    """Show test image ``img`` in the Explorer (block, channel and rung unchanged)."""
    st.switch_page(page(EXPLORER), query_params=state.link_params(img=img, source="test"))
