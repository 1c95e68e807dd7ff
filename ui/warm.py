"""A warm start: the server imports the app and starts reading its files before the first browser connects.

``streamlit run streamlit_app.py`` finds the ``st.App`` in that file and serves it; the app's lifespan starts
one thread here as the server starts. Without it, all of this waits for the first session's first run: torch's
import alone is about 1.2 s here. The thread imports the modules in the order the page's run does
(``ui.nav``, then ``ui.resources``), so the two never wait on each other's imports in opposite orders.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, AsyncIterator

_STARTED = threading.Event()


def _warm() -> None:
    from . import readahead  # no torch yet: the split's PNG decode (in C) overlaps torch's import below

    readahead.test_split()
    from . import nav  # noqa: F401 (the page's first import: streamlit, torch, the package)
    from . import resources

    resources.prefetch()  # the test split, the scan, dense and the default rung (ui/readahead.py)
    from . import explorer  # noqa: F401 (the Explorer page: plotly and the figures)
    _first_figures()


def _first_figures() -> None:
    """Plotly imports its figure classes and their validators on first use (about 0.06 s here): build one of each
    kind the first page draws, so the first session does not."""
    import torch

    from vggexplorer.figures import channel_detail, layer_mosaic, probability_bars

    layer_mosaic(torch.zeros(2, 2, 2), "conv0", "warm-up")
    channel_detail(torch.zeros(2, 2), torch.zeros(2, 2), "conv0", 0, 1.0)
    probability_bars({"warm-up": [1.0]}, ["class"])


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The ``st.App`` lifespan: start the warm-up (once per process) and serve."""
    if not _STARTED.is_set():
        _STARTED.set()
        threading.Thread(target=_warm, name="vggexplorer-warm-start", daemon=True).start()
    yield
