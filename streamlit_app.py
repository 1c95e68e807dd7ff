"""VGG Explorer: what a pruned VGG on CIFAR-10 latches onto.

Run with ``streamlit run streamlit_app.py``. This file and ``ui/`` only read widgets, call the
``vggexplorer`` package, and draw; ``ui/nav.py`` lists the pages.

Streamlit runs this file twice over: ``streamlit run`` first imports it to find its ``st.App`` (whose
lifespan starts the app's imports and file reads as the server starts: ``ui/warm.py``), then every
session runs it as a script (``__main__``), which draws the pages.
"""

import streamlit as st

if __name__ == "__main__":  # a session's run: the pages
    from ui import nav

    st.set_page_config(page_title="VGG Explorer", page_icon=":material/grid_view:", layout="wide")
    nav.run()
else:  # imported by `streamlit run` to find the app it serves
    from ui.warm import lifespan

    app = st.App(__file__, lifespan=lifespan)
