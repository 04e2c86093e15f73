"""argparse's own words ("usage:", "options", "show this help message and exit", its error lines) in the CLI's
language, from the message catalog (`cli.argparse.*` in `core/messages/cli.toml`).

argparse looks each of its texts up through its module's `_` and `ngettext` (gettext) when it uses it; while
`argparse_in(lang)` is active those two answer from the catalog, keyed by argparse's English text (which the
catalog's `en` repeats; a test checks they agree). A text the catalog does not have stays as argparse wrote it."""

from __future__ import annotations

import argparse
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


@contextmanager
def argparse_in(lang: str) -> Iterator[None]:
    """argparse speaks `lang` inside the block (building a parser, parsing, printing help and errors)."""
    module: Any = argparse  # its `_` and `ngettext` are not in its stubs
    saved_gettext: Callable[[str], str] = module._
    saved_ngettext: Callable[[str, str, int], str] = module.ngettext
    gettext = gettext_in(lang)

    def ngettext(singular: str, plural: str, n: int) -> str:
        if lang == EN or plural not in KEYS:
            return saved_ngettext(singular, plural, n)
        return gettext(plural)

    module._, module.ngettext = gettext, ngettext
    try:
        yield
    finally:
        module._, module.ngettext = saved_gettext, saved_ngettext
