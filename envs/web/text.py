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
``back`` (also written ``search(query)``, ``click(3)``, ``back()``), and the browser-style
``fill(<box>, "text")`` (type into the search box without submitting it),
``select(<option group or radio>, "option")`` and ``stop`` / ``stop["answer"]`` (end the
episode without buying); see :func:`read_action`, :func:`parse_action` and :func:`resolve`.

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
from typing import NamedTuple

__all__ = [
    "MAX_ACTION_CHARS",
    "Element",
    "Page",
    "Command",
    "parse_action",
    "parse_page",
    "read_action",
    "render_page_text",
    "resolve",
    "resolve_option",
    "with_value",
]

#: Longer actions are invalid.
MAX_ACTION_CHARS = 512
_CALL = re.compile(r"([A-Za-z_]{1,12})\s*([\[(])(.*)([\])])", re.DOTALL)
_BARE = {"back": "back", "back()": "back", "back[]": "back", "go back": "back"}
_BARE.update({"stop": "stop", "stop()": "stop", "stop[]": "stop"})
_USAGE = (
    'cannot parse the action; use search[query], click[element], fill(box, "text"), '
    'select(group, "option"), back or stop'
)
_QUOTES = ('"', "'")
_SPACE = re.compile(r"\s+")
_SLUG = re.compile(r"[^a-z0-9]+")
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


class Command(NamedTuple):
    """One read action line.

    Attributes:
        verb: ``search``, ``click``, ``fill``, ``select``, ``back``, ``stop`` (``""`` if invalid).
        target: the query (``search``), the element (``click``, ``fill``, ``select``) or
            the answer (``stop``).
        text: the text to type (``fill``) or the option to choose (``select``).
        error: why the line is invalid (``""`` when it is not).
    """

    verb: str
    target: str = ""
    text: str = ""
    error: str = ""


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return text[1:-1]
    return text.strip("\"'").strip()


def read_action(action: object) -> Command:
    """Read one action line into a :class:`Command`; never raises, never evaluates.

    The line is matched by one bounded regular expression (at most ``MAX_ACTION_CHARS``
    characters); arguments are split at the first comma and one pair of quotes is
    removed.

    Example:
        >>> read_action('fill(search-input, "red shoes")')
        Command(verb='fill', target='search-input', text='red shoes', error='')
        >>> read_action("select[size, x-large]")[:3]
        ('select', 'size', 'x-large')
        >>> read_action('stop["no such product"]')[:2], read_action("stop")[:2]
        (('stop', 'no such product'), ('stop', ''))
        >>> read_action("click(3)")[:2], read_action("fill(1)").error
        (('click', '3'), 'fill needs an element and a text: fill(id, "text")')
    """
    if not isinstance(action, str):
        return Command("", error=f"the action must be a string, not {type(action).__name__}")
    if len(action) > MAX_ACTION_CHARS:
        return Command("", error=f"the action is longer than {MAX_ACTION_CHARS} characters")
    text = action.strip()
    bare = _BARE.get(text.lower())
    if bare is not None:
        return Command(bare)
    match = _CALL.fullmatch(text)
    if match is None:
        return Command("", error=_USAGE)
    verb, raw = match.group(1).lower(), match.group(3)
    if "\n" in raw or "\r" in raw:
        return Command("", error="the action must be one line")
    if verb in ("search", "click", "stop"):
        arg = _unquote(raw)
        if not arg and verb == "click":
            return Command("", error="click[...] needs an element")
        return Command(verb, arg)
    if verb in ("fill", "select"):
        target, comma, rest = raw.partition(",")
        target, rest = _unquote(target), _unquote(rest)
        if not comma or not target or (verb == "select" and not rest):
            what = "a text" if verb == "fill" else "an option"
            return Command("", error=f'{verb} needs an element and {what}: {verb}(id, "text")')
        return Command(verb, target, rest)
    return Command("", error=_USAGE)


def parse_action(action: object) -> tuple[str, str, str]:
    """Read one action line into ``(verb, argument, error)``; never raises.

    The short form of :func:`read_action` (``fill`` and ``select`` give their element as
    the argument).

    Example:
        >>> parse_action("search[ wireless headphones ]")
        ('search', 'wireless headphones', '')
        >>> parse_action("Click(3)"), parse_action("back()")
        (('click', '3', ''), ('back', '', ''))
        >>> parse_action("jump")[2].startswith("cannot parse the action")
        True
    """
    command = read_action(action)
    return command.verb, command.target, command.error


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


def _group(element: Element) -> str:
    """A radio's option group: its id without its value's slug (``opt-size-``)."""
    slug = _SLUG.sub("-", element.name.lower()).strip("-")
    return element.id[: len(element.id) - len(slug)] if element.id.endswith(slug) else element.id


def resolve_option(page: Page, target: str, option: str) -> Element | None:
    """The radio ``option`` of the group ``target`` names, or ``None``.

    ``target`` is a group name (``size``, ``opt-size``) or the number, id or text of any
    radio of the group; ``option`` is the radio's text.

    Example:
        >>> page = parse_page('<label><input type="radio" id="opt-size-s" value="s">s</label>'
        ...                   '<label><input type="radio" id="opt-size-xl" value="xl">xl</label>')
        >>> resolve_option(page, "size", "XL").id, resolve_option(page, "1", "xl").id
        ('opt-size-xl', 'opt-size-xl')
        >>> resolve_option(page, "color", "xl") is None
        True
    """
    radios = [e for e in page.elements if e.role == "radio"]
    key = _norm(option)
    named = [e for e in radios if _norm(e.name) == key]
    if not named:
        return None
    slug = _SLUG.sub("-", _norm(target).removeprefix("#").removeprefix("opt-")).strip("-")
    for element in named:
        if _group(element) == f"opt-{slug}-":
            return element
    anchor = resolve(page, target)
    if anchor is not None and anchor.role == "radio":
        group = _group(anchor)
        return next((e for e in named if _group(e) == group), None)
    return None


def with_value(page: Page, element: Element, value: str) -> Page:
    """A copy of ``page`` whose ``element`` shows ``value`` (a filled text box).

    Example:
        >>> page = parse_page('<form action="r"><input type="text" id="q"></form>')
        >>> render_page_text(with_value(page, page.elements[0], "red")).splitlines()[1]
        '[1] textbox "Search" (red) #q'
    """
    items = tuple(
        Element(i.id, i.role, i.name, i.href, value) if i is element else i for i in page.items
    )
    return Page(page.title, items, page.status)
