"""The UI layer's plain helpers (no Streamlit session needed)."""

import pytest

from ui.markup import md_code, md_escape

SHIPPED_PERCENTS = [55, 75, 90, 95]  # the shipped ladder's rungs, as a link names them


@pytest.mark.parametrize("raw", ["[win](https:evil).png", "*bold* _it_ $x^2$ ~~s~~ <b>", "a|b # c `code`"])
def test_md_escape_leaves_no_markdown_syntax_unescaped(raw):
    out = md_escape(raw)
    assert out.replace("\\", "") == raw  # the user sees exactly what they typed
    for i, ch in enumerate(out):
        if ch in "[]*_$~<>|#`":
            assert out[i - 1] == "\\", (raw, out)


def test_md_escape_shortens_and_flattens():
    assert md_escape("a\nb") == "a b"
    assert md_escape("x" * 100, limit=10) == "x" * 10 + "…"


def test_md_code_cannot_be_closed_early():
    assert md_code("ch=`[x](y)`") == "`ch='[x](y)'`"
    assert md_code("y" * 50, limit=5) == "`yyyyy…`"


def test_view_round_trips_through_the_url():
    from ui.state import View, parse_url

    v = View(img=123, block="conv3", ch=200, pruned=90, scale="split-max", panel="ladder")
    assert parse_url(v.params(), 10_000, View(), SHIPPED_PERCENTS) == (v, [])


@pytest.mark.parametrize("params, field, default", [
    ({"img": "banana"}, "img", 6000), ({"img": "10000"}, "img", 6000), ({"block": "conv8"}, "block", "conv0"),
    ({"ch": "64"}, "ch", 0), ({"ch": "-1"}, "ch", 0), ({"pruned": "50"}, "pruned", 55), ({"pruned": "p75"}, "pruned", 55),
    ({"panel": "weights"}, "panel", "channel"), ({"scale": "log"}, "scale", "shared"), ({"scale": ""}, "scale", "shared"),
])
def test_a_bad_url_value_falls_back_with_a_notice_naming_it(params, field, default):
    from ui.state import View, parse_url

    v, notices = parse_url(params, 10_000, View(img=1, block="conv0", ch=3, pruned=75, scale="minmax",
                                                panel="similarity"), SHIPPED_PERCENTS)
    assert getattr(v, field) == default
    (notice,) = notices
    key, raw = next(iter(params.items()))
    assert f"`{key}={raw}`" in notice and "link" in notice


def test_a_link_without_some_keys_keeps_the_rest_of_the_view():
    from ui.state import View, parse_url

    base = View(img=1, block="conv5", ch=300, pruned=95)
    v, notices = parse_url({"block": "conv7", "ch": "511"}, 10_000, base, SHIPPED_PERCENTS)
    assert v == View(img=1, block="conv7", ch=511, pruned=95) and not notices
    # a channel checked against the block the link asks for (conv0 has 64)
    v, notices = parse_url({"block": "conv0", "ch": "300"}, 10_000, base, SHIPPED_PERCENTS)
    assert v.ch == 0 and "0..63 for conv0" in notices[0]


def test_model_set_takes_the_ladders_dense_and_the_chosen_rung():
    from vggexplorer.model.ladder import SHIPPED, Ladder, Rung
    from ui.modelset import model_set

    from ..conftest import REPO

    shipped = model_set(SHIPPED, 75)
    assert shipped.dense.role == "dense" and shipped.pruned.role == "p75" and shipped.ladder is SHIPPED
    assert model_set(SHIPPED, 60).pruned.role == "p55"  # no rung at 60%: the ladder's default
    own = Ladder((Rung("dense", "d.pt", 0, REPO), Rung("p80", "x.pt", 80, REPO)), name="mine", folder=REPO)
    ms = model_set(own, 80)
    assert ms.pruned.path == REPO / "x.pt" and ms.pruned.label == "pruned 80%"
    assert hash(ms) == hash(model_set(own, 80))  # a frozen value, a cache key


def _script_with_a_fragment() -> None:
    import streamlit as st

    from ui import fragments

    @fragments.fragment
    def part() -> None:
        st.write("inside the fragment")

    part()


def test_a_fragment_rerun_does_the_once_only_freeze_too():
    """A session that only clicks inside fragments after its first page never runs ``nav.run`` again."""
    import gc

    from streamlit.testing.v1 import AppTest

    from ui import fragments

    gc.unfreeze()
    fragments._FROZEN.clear()
    fragments.FIRST_RUN_DONE.set()  # as after the process's first page
    at = AppTest.from_function(_script_with_a_fragment).run()
    assert not at.exception and at.markdown[0].value == "inside the fragment"
    assert fragments.frozen() and gc.get_freeze_count() > 1000


def test_the_first_page_freezes_what_is_alive_once_and_new_garbage_is_still_collected():
    import gc
    import weakref

    from ui import fragments

    gc.unfreeze()  # whatever an earlier test froze: this test starts from nothing frozen
    fragments._FROZEN.clear()
    assert gc.get_freeze_count() == 0
    fragments.FIRST_RUN_DONE.set()  # as after the process's first page
    fragments.freeze_once()
    frozen = gc.get_freeze_count()
    assert frozen > 1000
    fragments.freeze_once()
    assert gc.get_freeze_count() == frozen  # once per process

    class Cycle:
        pass

    c = Cycle()
    c.me = c
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None


def test_read_ahead_runs_each_batch_once_and_hands_each_result_over_once():
    import threading

    from ui import readahead

    gate, calls = threading.Event(), []

    def slow() -> str:
        gate.wait(5)
        calls.append("slow")
        return "read ahead"

    def broken() -> str:
        raise ValueError("damaged file")

    asked = []

    def jobs() -> dict:
        asked.append(1)
        return {("t", 1): slow, ("t", 2): broken}

    readahead.read_ahead("test-batch", jobs, workers=2)
    readahead.read_ahead("test-batch", jobs, workers=1)  # the same batch again: nothing new starts, nothing is built
    assert asked == [1]
    gate.set()
    assert readahead.take(("t", 1), lambda: "loaded now") == "read ahead"  # waits for the read in flight
    assert readahead.take(("t", 1), lambda: "loaded now") == "loaded now"  # taken once; then loaded as usual
    with pytest.raises(ValueError, match="damaged file"):
        readahead.take(("t", 2), lambda: "loaded now")
    assert calls == ["slow"]


def test_streamlit_run_finds_the_app_and_its_warm_start():
    """``streamlit run streamlit_app.py`` serves the ``st.App`` it finds in the file; as a session's script
    (``__main__``) the same file draws the pages (the AppTest suites run it that way)."""
    import importlib.util

    import streamlit as st
    from streamlit.web.server.app_discovery import discover_asgi_app

    from ..conftest import REPO
    from ui import warm

    found = discover_asgi_app(REPO / "streamlit_app.py")
    assert found.is_asgi_app and found.import_string == "streamlit_app:app"
    spec = importlib.util.spec_from_file_location("streamlit_app", REPO / "streamlit_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # as `streamlit run` imports it: no page is drawn
    assert isinstance(module.app, st.App)
    assert module.app._user_lifespan is warm.lifespan


def test_the_warm_start_reads_ahead_without_torch_until_the_split_is_started():
    """The warm start decodes the test split while torch imports: reading it ahead must not import torch."""
    import subprocess
    import sys

    from ..conftest import REPO

    code = ("import sys\nfrom ui import readahead\nassert 'torch' not in sys.modules, 'torch imported'\n"
            "from vggexplorer.data.cifar10 import bundled_test_path\nfrom vggexplorer.files import file_stamp\n"
            "readahead.test_split()\nsplit = readahead.take(('split', file_stamp(bundled_test_path())), None)\n"
            "assert len(split) == 10000 and 'torch' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_the_warm_start_leaves_the_first_page_ready_and_runs_once(monkeypatch):
    import asyncio
    import logging
    import threading

    from ui import readahead, warm

    warm._warm()  # as its thread does: imports, the first page's reads, the first figures and model set
    assert {"split", "first-page"} <= readahead._STARTED
    record = logging.LogRecord("streamlit", logging.WARNING, "", 0, "missing ScriptRunContext!", None, None)
    record.threadName = warm._THREAD
    assert not warm._NotThisThread().filter(record)  # the warm thread's expected warning is not logged
    record.threadName = "ScriptRunner.scriptThread"
    assert warm._NotThisThread().filter(record)

    ran = []
    monkeypatch.setattr(warm, "_warm", lambda: ran.append(threading.current_thread().name))
    monkeypatch.setattr(warm, "_STARTED", threading.Event())

    async def serve() -> None:
        async with warm.lifespan(None):
            pass

    for _ in range(2):  # a second lifespan (another st.App in the process) starts nothing new
        asyncio.run(serve())
    for t in threading.enumerate():
        if t.name == "vggexplorer-warm-start":
            t.join(10)
    assert ran == ["vggexplorer-warm-start"]


def test_the_navigation_imports_every_page_but_no_pandas():
    """ui/nav.py imports the pages (they never import it back); a first page needs no pandas (about 0.15 s of a
    cold start here), so no page imports it at module level."""
    import subprocess
    import sys

    from ..conftest import REPO

    code = ("import sys\nimport ui.nav\n"
            "assert {'ui.pages.explorer', 'ui.pages.dead_filters', 'ui.pages.disagreements', 'ui.pages.models'} "
            "<= set(sys.modules)\nassert 'pandas' not in sys.modules, 'pandas imported'\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
