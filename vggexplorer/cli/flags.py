"""A config dataclass as command-line flags, and back: ``train``'s flags are TrainConfig's fields, ``prune``'s are
PruneConfig's, so each default and each name lives once, in the dataclass.

A field ``finetune_lr: float = 0.01`` is the flag ``--finetune-lr`` (type float, default 0.01); ``bool`` takes
``true/false`` (``1/0``, ``yes/no``), ``list[float]`` takes comma-separated values (``0.5,0.9``), ``X | None``
takes an X (None is left to the default); a dict field has no flag. ``field(metadata={"help": ...})`` is the
flag's help, to which the default is added.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, Field, fields
from typing import Any, Callable, Mapping


def flag_name(name: str) -> str:
    """``finetune_lr`` -> ``--finetune-lr``."""
    return "--" + name.replace("_", "-")


def _boolean(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise ValueError(s)


_boolean.__name__ = "boolean (true/false)"  # what argparse names in "invalid ... value"


def _list_of(item: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(s: str) -> list:
        return [item(v) for v in s.split(",") if v.strip()]

    parse.__name__ = f"comma-separated {item.__name__} list"
    return parse


def _parser(hint: Any) -> Callable[[str], Any] | None:
    """What turns a flag's text into the field's value; None for a type no flag can carry (a dict)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        return _boolean
    if typing.get_origin(hint) is list:
        return _list_of(typing.get_args(hint)[0])
    return hint if hint in (int, float, str) else None


def default_of(f: Field) -> Any:
    """A dataclass field's default value (its factory's product for a mutable one)."""
    return f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]


def flag_fields(cls: type) -> list[tuple[Field, Callable[[str], Any]]]:
    """The fields of ``cls`` that have a flag, each with the parser of its flag's text, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [(f, p) for f in fields(cls) if (p := _parser(hints[f.name])) is not None]


def show(value: Any) -> str:
    """A value as it is written on a command line: lists comma-separated."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def add_config_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the config dataclass ``cls`` (see the module's docstring)."""
    for f, parse in flag_fields(cls):
        default = default_of(f)
        note = f"default {show(default)}"
        text = f"{f.metadata['help']} ({note})" if "help" in f.metadata else note
        parser.add_argument(flag_name(f.name), type=parse, default=default, help=text.replace("%", "%%"))


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The config ``cls`` that parsed ``args`` describe (fields without a flag keep their defaults)."""
    return cls(**{f.name: getattr(args, f.name) for f, _ in flag_fields(cls)})


def non_default_flags(cls: type, values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """``--name value`` for every flagged field of ``cls`` whose value in ``values`` (a recorded recipe) differs
    from the default, in declaration order; a field absent from ``values``, or None there, is left out."""
    out = []
    for f, _ in flag_fields(cls):
        v = values.get(f.name)
        if f.name not in skip and v is not None and v != default_of(f):
            out.append(f"{flag_name(f.name)} {show(v)}")
    return out
