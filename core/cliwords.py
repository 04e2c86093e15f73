"""argparse's own words ("usage:", "options", "show this help message and exit", its error lines) in the CLI's
language, from the message catalog (`cli.argparse.*` in `core/messages/cli.toml`).

argparse looks each of its texts up through its module's `_` and `ngettext` (gettext) when it uses it; while
`argparse_in(lang)` is active those two answer from the catalog, keyed by argparse's English text (which the
catalog's `en` repeats; a test checks they agree). A text the catalog does not have stays as argparse wrote it.
argparse counts characters where a terminal counts columns, so while active the usage's continuation lines are
also aligned under the program name by display width ("用法：" is three characters but six columns), help and
description texts with wide characters are wrapped by display width too, and a section's heading ends with the
language's colon (argparse appends an ASCII one; Chinese writes "：")."""

from __future__ import annotations

import argparse
import re
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


HEADING = "cli.argparse.heading"
"""The catalog's key of a help section's heading line ("位置参数：", "options:"): argparse adds its colon itself,
outside its `_`."""


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


#: closing punctuation a line should not start with: it stays with the character before it
_NO_LINE_START = frozenset("，。、：；！？）》」』】”’,.;:!?)]}")
_TOKENS = re.compile(r"\s+|[^\s]")


def wrap_columns(text: str, width: int) -> list[str]:
    """`text` (its white space collapsed) wrapped to lines at most `width` columns wide where it can break: at
    spaces, and between two wide characters (Chinese has no spaces between words). A word wider than the line
    stays whole on a line of its own."""
    chunks: list[str] = []  # words, single wide characters (each with closing punctuation after it), " "
    for match in _TOKENS.finditer(" ".join(text.split())):
        ch = match.group()
        if ch == " " or not chunks or chunks[-1] == " ":
            chunks.append(ch)
        elif ch in _NO_LINE_START or (not _wide(ch) and not _wide(chunks[-1][-1])):
            chunks[-1] += ch
        else:
            chunks.append(ch)
    lines: list[str] = []
    line = ""
    for chunk in chunks:
        if chunk == " ":
            if line:
                line += " "
            continue
        if line and display_width(line + chunk) > width:
            lines.append(line.rstrip(" "))
            line = ""
        line += chunk
    if line.strip(" "):
        lines.append(line.rstrip(" "))
    return lines


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _split_by_columns(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """`HelpFormatter._split_lines` wrapping by display width when the text has wide characters."""

    def split(self: Any, text: str, width: int) -> list[str]:
        if display_width(text) == len(text):
            return original(self, text, width)
        return wrap_columns(text, width)

    return split


def _fill_by_columns(original: Callable[..., str]) -> Callable[..., str]:
    """`HelpFormatter._fill_text` (descriptions) wrapping by display width when the text has wide characters."""

    def fill(self: Any, text: str, width: int, indent: str) -> str:
        if display_width(text) == len(text):
            return original(self, text, width, indent)
        return "\n".join(indent + line for line in wrap_columns(text, width - len(indent)))

    return fill


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


def _headed(original: Callable[[Any], str], lang: str) -> Callable[[Any], str]:
    """`HelpFormatter._Section.format_help` with the section's heading written as the catalog writes it in `lang`
    (argparse writes `heading:`). The heading is the section text's first line that ends with it: a nested
    section's own heading comes after it."""
    written = catalog()[HEADING][lang]

    def format_help(self: Any) -> str:
        text = original(self)
        heading = self.heading
        if not text or heading is None or heading is argparse.SUPPRESS:
            return text
        ascii_line = f"{heading}:\n"
        at = text.find(ascii_line)
        if at < 0:
            return text
        return text[:at] + written % {"heading": heading} + "\n" + text[at + len(ascii_line) :]

    return format_help


@contextmanager
def argparse_in(lang: str) -> Iterator[None]:
    """argparse speaks `lang` inside the block (building a parser, parsing, printing help and errors), its usage
    lines aligned and its help texts wrapped by display width."""
    module: Any = argparse  # its `_` and `ngettext` are not in its stubs
    formatter: Any = argparse.HelpFormatter  # nor its `_format_usage`
    saved_gettext: Callable[[str], str] = module._
    saved_ngettext: Callable[[str, str, int], str] = module.ngettext
    saved_usage: Callable[..., str] = formatter._format_usage
    saved_split: Callable[..., list[str]] = formatter._split_lines
    saved_fill: Callable[..., str] = formatter._fill_text
    saved_section: Callable[[Any], str] = formatter._Section.format_help
    gettext = gettext_in(lang)

    def ngettext(singular: str, plural: str, n: int) -> str:
        if lang == EN or plural not in KEYS:
            return saved_ngettext(singular, plural, n)
        return gettext(plural)

    module._, module.ngettext = gettext, ngettext
    formatter._format_usage = _aligned(saved_usage, gettext)
    formatter._split_lines = _split_by_columns(saved_split)
    formatter._fill_text = _fill_by_columns(saved_fill)
    formatter._Section.format_help = _headed(saved_section, lang)
    try:
        yield
    finally:
        module._, module.ngettext = saved_gettext, saved_ngettext
        formatter._format_usage = saved_usage
        formatter._split_lines, formatter._fill_text = saved_split, saved_fill
        formatter._Section.format_help = saved_section
