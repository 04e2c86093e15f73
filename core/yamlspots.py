"""Where in a YAML file a problem is: line numbers of keys and items, and pydantic errors as "path: reason".

Shared by the configuration files that must name file, line and key of every error (rules, escalation
policies). A leaf: it imports nothing of ours, so any package may use it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import yaml
from pydantic import ValidationError

Problem = tuple[int | None, str]
"""(line or None, "path: reason")"""


class Lines:
    """Line numbers (1-based) of every key and item of a YAML document, found by walking its node tree.
    `tags` are elements of pydantic locations that name no node (a discriminated union's tag, such as a rule's
    kind): they are skipped."""

    def __init__(self, root: yaml.Node | None, tags: Collection[str] = ()) -> None:
        self.root = root
        self.tags = tags

    def find(self, loc: Sequence[str | int]) -> tuple[int | None, str]:
        """The line of the deepest node along `loc`, and `loc` spelled as a path ("rules[3].window").
        Elements that name no node are skipped, except a last key (a missing field is named)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        parts: list[str] = []
        last = len(loc) - 1
        for i, el in enumerate(loc):
            nxt = _child(node, el)
            if nxt is None:
                if i == last and isinstance(el, str) and el not in self.tags:
                    parts.append(f".{el}" if parts else el)
                continue
            key_line, node = nxt
            line = key_line
            parts.append(f"[{el}]" if isinstance(el, int) else (f".{el}" if parts else el))
        return line, "".join(parts)


def _child(node: yaml.Node | None, el: str | int) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(el, str):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == el:
                return k.start_mark.line + 1, v
    if isinstance(node, yaml.SequenceNode) and isinstance(el, int) and 0 <= el < len(node.value):
        item = node.value[el]
        return item.start_mark.line + 1, item
    return None


def message(err: Any) -> str:
    """A pydantic error's reason in a reader's words ("unknown field 'x'", "missing field")."""
    typ = err.get("type", "")
    msg = str(err.get("msg", ""))
    loc = err.get("loc", ())
    if typ == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if typ == "missing":
        return "missing field"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def validation_problems(e: ValidationError, lines: Lines) -> list[Problem]:
    """Every error of `e`, each with its line and path."""
    out = []
    for err in e.errors():
        loc = tuple(err.get("loc", ()))
        line, path = lines.find(loc)
        out.append((line, f"{path}: {message(err)}" if path else message(err)))
    return out


def yaml_problem(e: yaml.YAMLError) -> Problem:
    """A YAML syntax error with its line."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    return line, f"YAML: {getattr(e, 'problem', None) or e}"


def ordered(name: str, problems: Sequence[Problem]) -> list[str]:
    """Problems sorted by line, each spelled "file:line: reason" ("?" for an unknown line)."""
    ranked = sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))
    return [f"{name}:{ln if ln is not None else '?'}: {reason}" for ln, reason in ranked]
