"""The UI layer's plain helpers (no Streamlit session needed)."""

import pytest

from ui.markup import md_code, md_escape


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
