"""argparse's own words ("usage:", "options", "show this help message and exit", its error lines) in the CLI's
language, from the message catalog (`cli.argparse.*` in `core/messages/cli.toml`).

argparse looks each of its texts up through its module's `_` and `ngettext` (gettext) when it uses it; while
`argparse_in(lang)` is active those two answer from the catalog, keyed by argparse's English text (which the
catalog's `en` repeats; a test checks they agree). A text the catalog does not have stays as argparse wrote it.
argparse counts characters where a terminal counts columns, so while active the usage's continuation lines are
also aligned under the program name by display width ("用法：" is three characters but six columns)."""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.i18n import EN, catalog

#: argparse's English text -> its key under `cli.argparse.`
KEYS: dict[str, str] = {
    "usage: ": "usage",
    "positional arguments": "positionals",
    "options": "options",
    "show this help message and exit": "help",
    "%(prog)s: error: %(message)s\n": "error",
    "argument %(argument_name)s: %(message)s": "argument",
    "unrecognized arguments: %s": "unrecognized",
    "the following arguments are required: %s": "required",
    "one of the arguments %s is required": "one_of_required",
    "not allowed with argument %s": "not_allowed_with",
    "ignored explicit argument %r": "ignored_explicit",
    "expected one argument": "expected_one",
    "expected at most one argument": "expected_at_most_one",
    "expected at least one argument": "expected_at_least_one",
    "expected %s arguments": "expected_n",
    "ambiguous option: %(option)s could match %(matches)s": "ambiguous",
    "invalid %(type)s value: %(value)r": "invalid_value",
    "invalid choice: %(value)r (choose from %(choices)s)": "invalid_choice",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "unknown_parser",
    "can't open '%(filename)s': %(error)s": "cannot_open",
}


def gettext_in(lang: str) -> Callable[[str], str]:
    """argparse's `_` for `lang`: the catalog's text of `message`, or `message` itself."""
    texts = catalog()

    def gettext(message: str) -> str:
        key = KEYS.get(message)
        return texts[f"cli.argparse.{key}"][lang] if key is not None and lang != EN else message

    return gettext


def display_width(text: str) -> int:
    """The columns `text` takes on a terminal: wide and fullwidth (CJK) characters take two, others one."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _aligned(original: Callable[..., str], gettext: Callable[[str], str]) -> Callable[..., str]:
    """`HelpFormatter._format_usage` wrapped for a prefix wider than its length: it wraps to a line that many
    columns shorter and indents each continuation line that many columns more."""

    def aligned(self: Any, usage: Any, actions: Any, groups: Any, prefix: str | None) -> str:
        if prefix is None:
            prefix = gettext("usage: ")
        extra = display_width(prefix) - len(prefix)
        if extra <= 0:
            return original(self, usage, actions, groups, prefix)
        self._width -= extra
        try:
            text = original(self, usage, actions, groups, prefix)
        finally:
            self._width += extra
        first, *rest = text.split("\n")
        return "\n".join([first, *(" " * extra + line if line.startswith(" ") else line for line in rest)])

    return aligned


@contextmanager
def argparse_in(lang: str) -> Iterator[None]:
    """argparse speaks `lang` inside the block (building a parser, parsing, printing help and errors), its usage
    lines aligned by display width."""
    module: Any = argparse  # its `_` and `ngettext` are not in its stubs
    formatter: Any = argparse.HelpFormatter  # nor its `_format_usage`
    saved_gettext: Callable[[str], str] = module._
    saved_ngettext: Callable[[str, str, int], str] = module.ngettext
    saved_usage: Callable[..., str] = formatter._format_usage
    gettext = gettext_in(lang)

    def ngettext(singular: str, plural: str, n: int) -> str:
        if lang == EN or plural not in KEYS:
            return saved_ngettext(singular, plural, n)
        return gettext(plural)

    module._, module.ngettext = gettext, ngettext
    formatter._format_usage = _aligned(saved_usage, gettext)
    try:
        yield
    finally:
        module._, module.ngettext = saved_gettext, saved_ngettext
        formatter._format_usage = saved_usage
