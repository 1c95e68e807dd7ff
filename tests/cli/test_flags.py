"""A config dataclass as flags and back, on a hand-made config."""

import argparse
from dataclasses import dataclass, field

import pytest

from vggexplorer.cli.flags import add_config_flags, config_from_args, non_default_flags


@dataclass
class Demo:
    rate: float = field(default=0.5, metadata={"help": "how fast (the 95% case needs 0.99)"})
    steps: int | None = None
    fast: bool = True
    points: list[float] = field(default_factory=lambda: [0.3, 0.9])
    teacher: str | None = None
    extra: dict = field(default_factory=dict)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="demo")
    add_config_flags(p, Demo)
    return p


def test_every_field_but_the_dict_is_a_flag_with_its_default():
    opts = {a.option_strings[0]: a for a in _parser()._actions if a.option_strings and a.dest != "help"}
    assert list(opts) == ["--rate", "--steps", "--fast", "--points", "--teacher"]
    assert [opts[k].default for k in opts] == [0.5, None, True, [0.3, 0.9], None]
    assert opts["--rate"].help == "how fast (the 95%% case needs 0.99) (default 0.5)"  # argparse shows one %
    assert opts["--points"].help == "default 0.3,0.9"
    assert "the 95% case" in _parser().format_help()


def test_flags_parse_into_the_config():
    args = _parser().parse_args(["--rate", "0.25", "--steps", "7", "--fast", "false", "--points", "0.1,0.2,0.4",
                                 "--teacher", "t.pt"])
    assert config_from_args(Demo, args) == Demo(0.25, 7, False, [0.1, 0.2, 0.4], "t.pt")
    assert config_from_args(Demo, _parser().parse_args([])) == Demo()
    assert config_from_args(Demo, _parser().parse_args(["--fast", "1"])).fast is True


@pytest.mark.parametrize("argv", [["--fast", "maybe"], ["--points", "0.1,x"], ["--steps", "2.5"]])
def test_a_bad_value_is_a_usage_error_not_a_traceback(argv, capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    assert e.value.code == 2 and "invalid" in capsys.readouterr().err


def test_non_default_flags_in_declaration_order():
    recipe = {"points": [0.3, 0.9], "rate": 0.5, "fast": False, "teacher": "t.pt", "steps": None, "other": 1}
    assert non_default_flags(Demo, recipe) == ["--fast False", "--teacher t.pt"]
    assert non_default_flags(Demo, {"rate": 0.7, "points": [0.5]}, skip=("rate",)) == ["--points 0.5"]
    assert non_default_flags(Demo, {}) == []
