"""Command-line options declared once: a dataclass field carries its help, and the CLI is generated from it.

As CleanRL's ``Args`` dataclass, each experiment setting is one field with its default and its
documentation; :func:`add_options` turns the fields into ``argparse`` flags (the default is shown
in the help, read from the field itself) and :func:`from_namespace` turns parsed flags back into
the dataclass, converting command-line text (``k=v`` lists, minutes) into field values::

    @dataclass
    class Args:
        seed: int = option(0, "seed of everything")
        env_kwargs: dict = option(help="extra gym.make kwargs", default_factory=dict, nargs="+",
                                  action="extend", cli_default=[], convert=parse_kv)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, field, fields
from typing import Any


def option(default: Any = MISSING, help: str = "", *, flag: str | None = None, convert: Callable[[Any], Any] | None = None,
           default_factory: Callable[[], Any] | Any = MISSING, cli_default: Any = MISSING, show_default: bool = True,
           **argparse_kwargs: Any) -> Any:
    """A dataclass field that is also a command-line flag.

    :param default: the field's default.
    :param help: what the option means (the flag's help; the default is appended).
    :param flag: the flag (default ``--name-with-dashes``).
    :param convert: maps the parsed flag to the field's value (e.g. ``k=v`` strings -> dict).
    :param default_factory: the field's default factory (mutable defaults).
    :param cli_default: the flag's default before ``convert`` (default: the field's default).
    :param show_default: append ``(default X)`` to the help.
    :param argparse_kwargs: passed to ``add_argument`` (``type``, ``choices``, ``nargs``, ``action``, ``metavar``).
    """
    meta = {"help": help, "flag": flag, "convert": convert, "cli_default": cli_default, "show_default": show_default,
            "argparse": argparse_kwargs}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def is_option(f: Field) -> bool:
    """Whether a dataclass field was declared with :func:`option` (fields without are not on the command line)."""
    return "help" in f.metadata


def flag_of(f: Field) -> str:
    """The flag of an option field, e.g. ``--env-kwargs`` for ``env_kwargs``."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def shown(value: Any) -> str:
    """A default as the help shows it: tuples comma-joined, numbers with ``%g``."""
    if isinstance(value, (tuple, list)):
        return ",".join(shown(v) for v in value) or "''"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _default(f: Field) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def add_options(parser: argparse.ArgumentParser, cls: type, only: Iterable[str] | None = None,
                overridable: Iterable[str] = (), help_override: dict[str, str] | None = None) -> None:
    """Add the option fields of dataclass ``cls`` to ``parser``, in declaration order.

    :param parser: the (sub)command's parser.
    :param cls: a dataclass whose fields were declared with :func:`option`.
    :param only: add just these fields (default: every option field).
    :param overridable: fields whose flag defaults to None, meaning "keep what the caller has"
        (e.g. a suite's own agents); their help says so instead of showing a default.
    :param help_override: replacement help texts by field name.
    """
    wanted = None if only is None else set(only)
    overridable, help_override = set(overridable), help_override or {}
    for f in fields(cls):
        if not is_option(f) or (wanted is not None and f.name not in wanted):
            continue
        meta = f.metadata
        text = help_override.get(f.name, meta["help"])
        if f.name in overridable:
            default = None
        else:
            default = _default(f) if meta["cli_default"] is MISSING else meta["cli_default"]
            value = _default(f)
            if meta["show_default"] and value is not None and not isinstance(value, bool) and value != {}:
                text += f" (default {shown(value)})"
        parser.add_argument(flag_of(f), dest=f.name, default=default, help=text, **meta["argparse"])


def from_namespace(cls: type, ns: argparse.Namespace, **values: Any) -> Any:
    """An instance of ``cls`` from parsed flags: each option field present in ``ns`` is converted
    with its ``convert``; ``values`` are passed as they are (e.g. fields set from other flags).

    :raises ValueError: from a ``convert`` (naming the flag, e.g. a malformed ``k=v``).
    """
    kwargs = dict(values)
    for f in fields(cls):
        if is_option(f) and hasattr(ns, f.name) and f.name not in kwargs:
            value = getattr(ns, f.name)
            convert = f.metadata["convert"]
            kwargs[f.name] = convert(value) if convert is not None and value is not None else value
    return cls(**kwargs)


def csv_of(cast: Callable[[str], Any], what: str) -> Callable[[str], tuple]:
    """An argparse ``type``: ``"a,b,c"`` -> ``(cast(a), cast(b), cast(c))``, naming ``what`` on a bad item."""
    def parse(text: str) -> tuple:
        try:
            return tuple(cast(t) for t in text.split(",") if t.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list, got {text!r}") from None
    return parse
