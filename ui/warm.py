"""A warm start: as the server starts, import the app, read its files and fill the first model set's caches.

``streamlit run streamlit_app.py`` finds the ``st.App`` in that file and serves it; the app's lifespan starts
one thread here as the server starts. Without it, all of this waits for the first session's first run: torch's
import alone is about 1.2 s here. A session whose run starts meanwhile waits for the modules the thread is
importing (vggexplorer/ and ui/ have no import cycle, which ``tests/test_layers.py`` checks, so the two cannot
wait on each other), and for a cached value the thread is computing (Streamlit locks per key).
Measured on a cold start: 5.19 -> about 4.1 s to the first complete page (``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, AsyncIterator

from . import heap  # ctypes only

_STARTED = threading.Event()
_THREAD = "vggexplorer-warm-start"


def _warm() -> None:
    from . import readahead  # no torch yet

    readahead.first_page()  # the split's PNG decode (in C) overlaps torch's import; then the scan and first models
    from . import nav  # the page's first import: streamlit, the package and the pages
    del nav  # only the import is wanted
    from . import resources
    _first_figures()
    _first_model_set(resources)


def _first_model_set(resources) -> None:
    """Fill the shared caches (``st.cache_resource``) of the model set a new session shows first: the models,
    the test split, the scan's view of them (which checks the checkpoints' hashes) and their channels' statuses.
    Nothing here depends on an image: the first page still runs its own analysis."""
    from . import ladders
    from .modelset import model_set

    ladder, _ = ladders.app_ladder()
    ms = model_set(ladder, ladder.default.percent)
    resources.models(ms)
    resources.test_split()
    resources.scan(ms)
    resources.statuses(ms)


def _first_figures() -> None:
    """Plotly imports its figure classes and their validators on first use (about 0.06 s here): build one of each
    kind the first page draws, so the first session does not."""
    import torch

    from vggexplorer.views.figures import channel_detail, layer_mosaic, probability_bars

    layer_mosaic(torch.zeros(2, 2, 2), "conv0", "warm-up")
    channel_detail(torch.zeros(2, 2), torch.zeros(2, 2), "conv0", 0, 1.0)
    probability_bars({"warm-up": [1.0]}, ["class"])


class _NotThisThread(logging.Filter):
    """Streamlit warns "missing ScriptRunContext" when a cached function runs outside a session's script run:
    from this thread that is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The ``st.App`` lifespan: start the warm-up (once per process) and serve."""
    if not _STARTED.is_set():
        _STARTED.set()
        heap.limit_malloc_arenas()  # before the sessions' threads start
        logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotThisThread())
        threading.Thread(target=_warm, name=_THREAD, daemon=True).start()
    yield
