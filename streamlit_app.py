"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto.

Run with ``streamlit run streamlit_app.py``. This file and ``ui/`` only read widgets, call the
``vggexplorer`` package, and draw.
"""

import streamlit as st

st.set_page_config(page_title="VGG Explorer", page_icon=":material/grid_view:", layout="wide")


def explorer_page() -> None:
    from ui import explorer

    explorer.render()


def dead_filters_page() -> None:
    from ui import dead_filters

    dead_filters.render()


def model_page() -> None:
    from ui import model_view

    model_view.render()


PAGES = [
    st.Page(explorer_page, title="Explorer", icon=":material/search:", url_path="explorer", default=True),
    st.Page(dead_filters_page, title="Dead filters", icon=":material/block:", url_path="dead-filters"),
    st.Page(model_page, title="Models", icon=":material/straighten:", url_path="models"),
]
st.session_state["_pages"] = PAGES
st.navigation(PAGES).run()
