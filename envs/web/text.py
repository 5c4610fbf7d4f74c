"""The text driver: shop pages fetched over HTTP, read with ``html.parser``, shown as text.

A page becomes a :class:`Page`: its title and, in document order, its visible text and
its interactive elements (links, option radios, the search box and button). The
observation numbers the elements::

    Instruction: i need a ...
    Page: Results: wireless headphones
    [1] link "Back to Search" #back-to-search
    Page 1 of 5 (50 results)
    [2] link "Next page >" #next-page
    [3] link "Sonora Pro Headphones - Wireless, Foldable" #item-b0abcdefgh
    $54.20

Actions are one line: ``search[query]``, ``click[<number, element id or text>]`` and
``back`` (also written ``search(query)``, ``click(3)``, ``back()``); see
:func:`parse_action` and :func:`resolve`.

Example:
    >>> page = parse_page('<title>T</title><p>Hi <a id="go" href="/s/w1/results?q=x">Go on</a></p>',
    ...                   prefix="/s/w1/")
    >>> print(render_page_text(page))
    Page: T
    Hi
    [1] link "Go on" #go
    >>> page.elements[0].href
    'results?q=x'
    >>> resolve(page, "go on") == resolve(page, "#go") == resolve(page, "1") == page.elements[0]
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = [
    "MAX_ACTION_CHARS",
    "Element",
    "Page",
    "parse_action",
    "parse_page",
    "render_page_text",
    "resolve",
]

#: Longer actions are invalid.
MAX_ACTION_CHARS = 512
_ACTION = re.compile(r"(search|click)\s*[\[(](.*)[\])]", re.DOTALL | re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_BLOCK = {
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "li",
    "ul",
    "legend",
    "fieldset",
    "form",
    "br",
    "tr",
    "label",
    "body",
    "html",
    "title",
}


@dataclass(frozen=True)
class Element:
    """One interactive element.

    Attributes:
        id: its HTML id (``""`` if none).
        role: ``link``, ``radio``, ``textbox`` or ``button``.
        name: its visible text.
        href: where it leads, relative to the session (a textbox: its form's action).
        value: a textbox's text, ``"checked"`` for a chosen radio, else ``""``.
    """

    id: str
    role: str
    name: str
    href: str = ""
    value: str = ""


@dataclass(frozen=True)
class Page:
    """A parsed page.

    Attributes:
        title: the page title.
        items: visible text lines (``str``) and elements, in document order.
        status: the HTTP status.
    """

    title: str
    items: tuple[str | Element, ...]
    status: int = 200

    @property
    def elements(self) -> tuple[Element, ...]:
        """The interactive elements, in order (numbered from 1 in the observation)."""
        return tuple(item for item in self.items if isinstance(item, Element))

    def textbox(self) -> Element | None:
        """The search box, if the page has one."""
        return next((e for e in self.elements if e.role == "textbox"), None)


class _Reader(HTMLParser):
    def __init__(self, prefix: str):
        super().__init__(convert_charrefs=True)
        self.prefix = prefix
        self.title = ""
        self.items: list[str | Element] = []
        self._text: list[str] = []
        self._skip = 0
        self._in_title = False
        self._open: dict[str, str] | None = None  # a link or button being read
        self._open_text: list[str] = []
        self._form_action = ""
        self._in_label = False
        self._swallow = False  # a radio's label text (already its name)

    def _rel(self, href: str) -> str:
        return href[len(self.prefix) :] if href.startswith(self.prefix) else href

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._text)).strip()
        if text:
            self.items.append(text)
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in ("a", "button"):
            self._flush()
            self._open = {"tag": tag, **a}
            self._open_text = []
        elif tag == "form":
            self._form_action = self._rel(a.get("action", ""))
        elif tag == "input":
            self._flush()
            kind = a.get("type", "text")
            if kind == "radio":
                self._swallow = self._in_label
                value = "checked" if "checked" in a else ""
                self.items.append(
                    Element(
                        a.get("id", ""),
                        "radio",
                        a.get("value", ""),
                        self._rel(a.get("data-href", "")),
                        value,
                    )
                )
            elif kind == "text":
                self.items.append(
                    Element(
                        a.get("id", ""), "textbox", "Search", self._form_action, a.get("value", "")
                    )
                )
        elif tag in _BLOCK:
            self._flush()
            self._in_label = tag == "label"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in ("a", "button") and self._open is not None:
            name = _SPACE.sub(" ", "".join(self._open_text)).strip()
            role = "link" if self._open["tag"] == "a" else "button"
            href = self._rel(self._open.get("href", "")) if role == "link" else self._form_action
            self.items.append(Element(self._open.get("id", ""), role, name, href))
            self._open = None
        elif tag in _BLOCK:
            self._flush()
            self._in_label = self._swallow = False

    def handle_data(self, data: str) -> None:
        if self._skip or self._swallow:
            return
        if self._in_title:
            self.title += data
        elif self._open is not None:
            self._open_text.append(data)
        else:
            self._text.append(data)


def parse_page(html: str, prefix: str = "", status: int = 200) -> Page:
    """Read a page's title, text and elements (hrefs made relative to ``prefix``)."""
    reader = _Reader(prefix)
    reader.feed(html)
    reader.close()
    reader._flush()
    return Page(_SPACE.sub(" ", reader.title).strip(), tuple(reader.items), status)


def render_page_text(page: Page, max_chars: int = 8192) -> str:
    """The page as observation text: title, then text lines and numbered elements."""
    lines = [f"Page: {page.title}"]
    n = 0
    for item in page.items:
        if isinstance(item, Element):
            n += 1
            value = f" ({item.value})" if item.value else ""
            ident = f" #{item.id}" if item.id else ""
            lines.append(f'[{n}] {item.role} "{item.name}"{value}{ident}')
        else:
            lines.append(item)
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max_chars - 9] + " ...[cut]"


def parse_action(action: object) -> tuple[str, str, str]:
    """Read one action line into ``(verb, argument, error)``; never raises.

    Example:
        >>> parse_action("search[ wireless headphones ]")
        ('search', 'wireless headphones', '')
        >>> parse_action("Click(3)"), parse_action("back()")
        (('click', '3', ''), ('back', '', ''))
        >>> parse_action("jump")[2]
        'cannot parse the action; use search[query], click[element] or back'
    """
    if not isinstance(action, str):
        return "", "", f"the action must be a string, not {type(action).__name__}"
    if len(action) > MAX_ACTION_CHARS:
        return "", "", f"the action is longer than {MAX_ACTION_CHARS} characters"
    text = action.strip()
    if text.lower() in ("back", "back()", "back[]", "go back"):
        return "back", "", ""
    match = _ACTION.fullmatch(text)
    if match is None:
        return "", "", "cannot parse the action; use search[query], click[element] or back"
    verb, arg = match.group(1).lower(), match.group(2).strip().strip("\"'").strip()
    if "\n" in arg:
        return "", "", "the action must be one line"
    if not arg and verb == "click":
        return "", "", "click[...] needs an element"
    return verb, arg, ""


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def resolve(page: Page, target: str) -> Element | None:
    """The element ``target`` names: its number, its id (``#`` optional) or its text.

    Text matches exactly (case and spacing ignored) first, then as a unique prefix.
    """
    elements = page.elements
    target = target.strip()
    if target.isascii() and target.isdigit() and len(target) < 6:
        index = int(target)
        return elements[index - 1] if 1 <= index <= len(elements) else None
    key = _norm(target.removeprefix("#"))
    for element in elements:
        if element.id and element.id.casefold() == key:
            return element
    key = _norm(target)
    exact = [e for e in elements if _norm(e.name) == key]
    if exact:
        return exact[0]
    prefix = [e for e in elements if key and _norm(e.name).startswith(key)]
    return prefix[0] if len(prefix) == 1 else None
