"""The message catalog: what a person reads from the server, the board and the CLI, in Chinese and English.

The texts live in `core/messages/<area>.toml` (`errors`, `board`, `cli`, `registry` ...): one table per message
with both languages side by side, so a reviewer reads each pair together. A key is `<area>.<table path>`
(`errors.note_required`). Placeholders are `{name}`, filled the same way here and on the board (no format
specs: a caller formats its numbers first). `Text` is a message in English (what logs and `str()` show) that
remembers its key and values, so an API error renders in the reader's language at the moment it is answered."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

ZH = "zh-CN"
EN = "en"
LANGS = (ZH, EN)

MESSAGES_DIR = Path(__file__).parent / "messages"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class CatalogError(ValueError):
    """A catalog file that is malformed: the file and key say where."""


def _flatten(prefix: str, table: Mapping[str, object], out: dict[str, dict[str, str]], where: Path) -> None:
    for name, value in table.items():
        key = f"{prefix}.{name}"
        if not isinstance(value, dict):
            raise CatalogError(f"{where}: {key}: expected a table with zh-CN and en, got {value!r}")
        if all(isinstance(v, str) for v in value.values()) and value:
            if set(value) != set(LANGS):
                raise CatalogError(f"{where}: {key}: needs exactly {' and '.join(LANGS)}, has {', '.join(value)}")
            out[key] = {lang: str(value[lang]) for lang in LANGS}
        else:
            _flatten(key, value, out, where)


def load(folder: Path = MESSAGES_DIR) -> dict[str, dict[str, str]]:
    """Every message of the `*.toml` files in `folder`: key -> {language: text}."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise CatalogError(f"{path}: {e}") from e
        _flatten(path.stem, data, out, path)
    return out


@cache
def catalog() -> dict[str, dict[str, str]]:
    return load()


def area(prefix: str, lang: str) -> dict[str, str]:
    """The messages whose keys start with `prefix.` in `lang`, keyed without the prefix (what the board loads)."""
    start = prefix + "."
    return {k[len(start) :]: v[lang] for k, v in catalog().items() if k.startswith(start)}


def render(key: str, lang: str, params: Mapping[str, object] | None = None) -> str:
    """The message `key` in `lang` with its placeholders filled; a `Text` value is rendered in `lang` too."""
    text = catalog()[key][lang if lang in LANGS else EN]
    if not params:
        return text

    def fill(m: re.Match[str]) -> str:
        value = params[m.group(1)]
        return value.in_lang(lang) if isinstance(value, Text) else str(value)

    return PLACEHOLDER.sub(fill, text)


class Text(str):
    """A catalog message: the English text as a `str`, plus the key and values to render it in another language.

    An unknown key or a missing value fails where the message is made (a test checks every key used in the
    source is in the catalog)."""

    key: str
    params: dict[str, object]

    def __new__(cls, key: str, params: Mapping[str, object] | None = None) -> Text:
        self = super().__new__(cls, render(key, EN, params))
        self.key = key
        self.params = dict(params or {})
        return self

    def in_lang(self, lang: str) -> str:
        return render(self.key, lang, self.params)


def tr(key: str, /, **params: object) -> Text:
    """The catalog message `key` with these values (English as the `str`; `in_lang` for another language)."""
    return Text(key, params)


class _Joined(Text):
    items: list[str]

    def __new__(cls, items: Sequence[str], separator: str) -> _Joined:
        self = str.__new__(cls, render(separator, EN).join(items))
        self.key, self.params, self.items = separator, {}, list(items)
        return self

    def in_lang(self, lang: str) -> str:
        return render(self.key, lang).join(localized(item, lang) for item in self.items)


def joined(items: Sequence[str], separator: str = "names.list_separator") -> Text:
    """`items` (catalog texts or plain strings) as one list, with the separator of the reader's language."""
    return _Joined(items, separator)


def localized(message: str, lang: str) -> str:
    """`message` in `lang` when it is a catalog `Text`; other strings are returned as they are."""
    return message.in_lang(lang) if isinstance(message, Text) else message


# "中文 English": the last CJK character (and what sticks to it), a space, then text without CJK
_BOTH = re.compile(r"^(.*[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]\S*)\s+([A-Za-z][^\u3000-\u9fff\uff00-\uffef]*)$")


def one_language(text: str, lang: str) -> str:
    """A title written in both languages, "中文 English", in `lang` alone; a title in one language, or one ending
    in an id ("设备离线 AC-0000008"), as it is. For titles without a per-language form (`title_in`): tickets of
    rules whose file gives one string, and tickets stored before rules had titles per language. The board's
    `title()` (i18n.js) does the same."""
    m = _BOTH.match(text)
    if m is None or re.search("[a-z]{2}", m.group(2)) is None:
        return text
    return m.group(2) if lang == EN else m.group(1)


def title_in(title: str, titles: Mapping[str, str] | None, lang: str) -> str:
    """A rule's title in `lang`: its own for that language (`titles`, from a rule file's per-language title),
    else `title` (in `lang` alone when it is written "中文 English")."""
    own = titles.get(lang) if titles else None
    return own if own else one_language(title, lang)


def lang_tag(value: str) -> str | None:
    """`zh-CN`, `zh_CN.UTF-8`, `zh` -> zh-CN; `en`, `en_GB` -> en; anything else None."""
    base = value.strip().replace("_", "-").split(".")[0].split("-")[0].lower()
    return ZH if base == "zh" else EN if base == "en" else None


def prefers_chinese(languages: str) -> bool:
    """Whether an `Accept-Language` value ranks Chinese above English (missing q counts as 1)."""
    best: dict[str, float] = {}
    for part in languages.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in ("zh", "en") and q > best.get(lang, -1.0):
            best[lang] = q
    return best.get("zh", -1.0) > best.get("en", -1.0) if best else False


def request_lang(cookie: str | None, accept_language: str | None) -> str:
    """A request's language: the board's `lang` cookie when it names one we have, else `Accept-Language`
    (English unless it ranks Chinese first)."""
    chosen = lang_tag(cookie) if cookie else None
    if chosen is not None:
        return chosen
    return ZH if prefers_chinese(accept_language or "") else EN


def env_lang(env: Mapping[str, str] | None = None) -> str:
    """The CLI's language: `CWATCH_LANG`, else the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`); English otherwise."""
    env = os.environ if env is None else env
    for name in ("CWATCH_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return lang_tag(value) or EN
    return EN
