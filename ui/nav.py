"""The app's navigation: which pages there are, and the run that draws one.

The Explorer lives at ``/explorer``, and the root URL shows it too: a hidden default page that draws the
Explorer with the link's parameters (``/?img=123&block=conv3`` is the same view as
``/explorer?img=123&block=conv3``). Streamlit serves a ``default=True`` page only at the root and does not
route its ``url_path``, so a default Explorer page would make ``/explorer`` a "Page not found". The root draws
the Explorer in place rather than handing over with ``st.switch_page``: a hand-over is a second script run,
about 0.2 s of every cold start (measured).

This module imports the pages; the pages never import it (they move between each other through
``ui/links.py``).
"""

from __future__ import annotations

import streamlit as st

from . import fragments, ladders, links, readahead, resources
from .pages import dead_filters, disagreements, explorer, models

links.register(links.EXPLORER, explorer.render)
links.register(links.DEAD_FILTERS, dead_filters.render)
links.register(links.DISAGREEMENTS, disagreements.render)
links.register(links.MODELS, models.render)


def run() -> None:
    fragments.freeze_once()
    readahead.first_page()  # the files of a first page, in parallel threads (ui/warm.py started them already)
    st.navigation([
        st.Page(explorer.render, title="VGG Explorer", url_path="home", default=True, visibility="hidden"),
        *(links.page(spec) for spec in links.PAGES),
    ]).run()
    fragments.FIRST_RUN_DONE.set()
    resources.prefetch_ladder(ladders.current()[0])
