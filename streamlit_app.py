"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto.

Run with ``streamlit run streamlit_app.py``. This file and ``ui/`` only read widgets, call the
``vggexplorer`` package, and draw; ``ui/nav.py`` lists the pages.
"""

import streamlit as st

from ui import nav

st.set_page_config(page_title="VGG Explorer", page_icon=":material/grid_view:", layout="wide")
nav.run()
