"""The shop's pages as plain HTML, with stable element ids; one function per page.

Every URL lives under a session, ``/s/<session>/``; what the shopper has chosen (the
query, the results page, the options) travels in the URL, so the server keeps no
per-session state but the catalogue it serves. Pages:

================================  ====================================================
path (after ``/s/<session>/``)    page
================================  ====================================================
```` (empty)                      search: a text box ``#search-input``, ``#search-button``
``results?q=..&page=N``           10 results a page (top 50), ``#next-page``, ``#prev-page``
``item/<asin>?q=..&page=..&o_..``  title, price, option radios ``#opt-<dim>-<value>``,
                                  ``#description``, ``#features``, ``#reviews``, ``#buy-now``
``item/<asin>/<sub>?..``          ``description``, ``features``, ``reviews`` (a distractor)
``buy/<asin>?o_<dim>=..``         the receipt (the episode ends here)
================================  ====================================================

Example:
    >>> from densegym.envs.web.catalog import catalogue_for_seed
    >>> cat = catalogue_for_seed(0, 600)
    >>> status, html = render_page(cat, "x", "results?q=wireless+headphones&page=1")
    >>> status, 'id="next-page"' in html, html.count('class="result"')
    (200, True, 10)
    >>> render_page(cat, "x", "item/NOPE")[0]
    404
"""

from __future__ import annotations

import html
import math
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from densegym.envs.web.catalog import MAX_RESULTS, Catalogue, Product

__all__ = ["PAGE_SIZE", "SUBPAGES", "option_id", "parse_path", "render_page", "session_prefix"]

PAGE_SIZE = 10
SUBPAGES = ("description", "features", "reviews")
#: Longest query the site reads (longer ones are cut).
MAX_QUERY_CHARS = 200
_SLUG = re.compile(r"[^a-z0-9]+")


def session_prefix(session: str) -> str:
    """The URL prefix of a session's pages."""
    return f"/s/{session}/"


def option_id(dim: str, value: str) -> str:
    """The element id of an option radio.

    Example:
        >>> option_id("color", "Navy Blue")
        'opt-color-navy-blue'
    """
    return (
        f"opt-{_SLUG.sub('-', dim.lower()).strip('-')}-{_SLUG.sub('-', value.lower()).strip('-')}"
    )


def parse_path(path: str) -> tuple[str, str, str, dict[str, str]]:
    """Split a page path into ``(kind, asin, sub, params)``.

    ``kind`` is ``search``, ``results``, ``item``, ``sub``, ``buy`` or ``unknown``.

    Example:
        >>> parse_path("item/B0X/features?q=a+b&page=2&o_size=m")
        ('sub', 'B0X', 'features', {'q': 'a b', 'page': '2', 'o_size': 'm'})
    """
    parts = urlsplit(path)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments == ["index"]:
        return "search", "", "", params
    if segments == ["results"]:
        return "results", "", "", params
    if segments[0] == "item" and len(segments) == 2:
        return "item", segments[1], "", params
    if segments[0] == "item" and len(segments) == 3 and segments[2] in SUBPAGES:
        return "sub", segments[1], segments[2], params
    if segments[0] == "buy" and len(segments) == 2:
        return "buy", segments[1], "", params
    return "unknown", "", "", params


def _page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
        + html.escape(title)
        + "</title></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _link(el_id: str, href: str, text: str) -> str:
    return f'<a id="{el_id}" href="{html.escape(href)}">{html.escape(text)}</a>'


def _page_number(params: dict[str, str]) -> int:
    raw = params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 else 1


def _options(params: dict[str, str]) -> dict[str, str]:
    return {k[2:]: v for k, v in params.items() if k.startswith("o_")}


def _search_form(prefix: str, query: str = "") -> str:
    return (
        f'<form id="search-form" action="{prefix}results" method="get">'
        f'<input id="search-input" type="text" name="q" value="{html.escape(query)}">'
        '<button id="search-button" type="submit">Search</button></form>'
    )


def _search(prefix: str) -> str:
    return _page("Search", ["<h1>densegym shop</h1>", _search_form(prefix)])


def _results(cat: Catalogue, prefix: str, params: dict[str, str]) -> str:
    query = params.get("q", "")[:MAX_QUERY_CHARS]
    hits = cat.search(query, MAX_RESULTS)
    pages = max(1, math.ceil(len(hits) / PAGE_SIZE))
    page = min(_page_number(params), pages)
    shown = hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    body = [
        _link("back-to-search", prefix, "Back to Search"),
        _search_form(prefix, query),
        f"<h1>Results for \u201c{html.escape(query)}\u201d</h1>",
        f"<p>Page {page} of {pages} ({len(hits)} results)</p>",
    ]
    if page > 1:
        body.append(
            _link(
                "prev-page",
                f"{prefix}results?{urlencode({'q': query, 'page': page - 1})}",
                "< Prev page",
            )
        )
    if page < pages:
        body.append(
            _link(
                "next-page",
                f"{prefix}results?{urlencode({'q': query, 'page': page + 1})}",
                "Next page >",
            )
        )
    if not hits:
        body.append("<p>No products match.</p>")
    back = urlencode({"q": query, "page": page})
    for asin in shown:
        product = cat.by_asin[asin]
        body.append(
            '<div class="result">'
            + _link(f"item-{asin.lower()}", f"{prefix}item/{asin}?{back}", product.title)
            + f" <span>${product.price:.2f}</span></div>"
        )
    return _page(f"Results: {query}", body)


def _item_query(params: dict[str, str], options: dict[str, str]) -> str:
    keep = {"q": params.get("q", ""), "page": params.get("page", "1")}
    keep.update({f"o_{dim}": value for dim, value in options.items()})
    return urlencode(keep)


def _item(product: Product, prefix: str, params: dict[str, str]) -> str:
    options = _options(params)
    base = f"{prefix}item/{product.asin}"
    back = urlencode({"q": params.get("q", ""), "page": params.get("page", "1")})
    body = [
        _link("back-to-search", prefix, "Back to Search"),
        _link("back-to-results", f"{prefix}results?{back}", "< Back to results"),
        f'<h1 id="product-title">{html.escape(product.title)}</h1>',
        f'<p id="product-price">Price: ${product.price:.2f}</p>',
        f"<p>Rating: {product.rating} out of 5</p>",
        f"<p>In stock: {product.stock}</p>",
    ]
    for dim, values in product.options:
        body.append(f"<fieldset><legend>{html.escape(dim)}</legend>")
        for value in values:
            chosen = {**options, dim: value}
            checked = " checked" if options.get(dim) == value else ""
            href = f"{base}?{_item_query(params, chosen)}"
            body.append(
                f'<label><input type="radio" id="{option_id(dim, value)}" name="{html.escape(dim)}"'
                f' value="{html.escape(value)}" data-href="{html.escape(href)}"'
                f' onclick="location.href=this.dataset.href"{checked}>'
                f"{html.escape(value)}</label>"
            )
        body.append("</fieldset>")
    query = _item_query(params, options)
    for sub in SUBPAGES:
        body.append(_link(sub, f"{base}/{sub}?{query}", sub.capitalize()))
    body.append(_link("buy-now", f"{prefix}buy/{product.asin}?{query}", "Buy Now"))
    return _page(product.title, body)


def _sub(product: Product, sub: str, prefix: str, params: dict[str, str]) -> str:
    query = _item_query(params, _options(params))
    body = [
        _link("back-to-search", prefix, "Back to Search"),
        _link("back-to-item", f"{prefix}item/{product.asin}?{query}", "< Back to item"),
        f"<h1>{sub.capitalize()}: {html.escape(product.title)}</h1>",
    ]
    if sub == "description":
        body.append(f'<p id="product-description">{html.escape(product.description)}</p>')
    elif sub == "features":
        body.append(
            "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in product.features) + "</ul>"
        )
    else:
        body.append(
            "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in product.reviews) + "</ul>"
        )
    return _page(f"{sub.capitalize()}: {product.title}", body)


def _buy(product: Product, params: dict[str, str]) -> str:
    options = _options(params)
    chosen = ", ".join(f"{d}: {v}" for d, v in sorted(options.items())) or "none"
    body = [
        "<h1>Thank you for shopping with us!</h1>",
        f'<p id="bought-asin">{product.asin}</p>',
        f"<p>{html.escape(product.title)}, ${product.price:.2f}</p>",
        f"<p>Options: {html.escape(chosen)}</p>",
    ]
    return _page("Thank you", body)


def render_page(cat: Catalogue, session: str, path: str) -> tuple[int, str]:
    """Return ``(status, html)`` for a page path (the part after the session prefix)."""
    prefix = session_prefix(session)
    kind, asin, sub, params = parse_path(path)
    if kind == "search":
        return 200, _search(prefix)
    if kind == "results":
        return 200, _results(cat, prefix, params)
    product = cat.by_asin.get(asin)
    if product is None:
        return 404, _page(
            "Not found", [_link("back-to-search", prefix, "Back to Search"), "<p>No such page.</p>"]
        )
    if kind == "item":
        return 200, _item(product, prefix, params)
    if kind == "sub":
        return 200, _sub(product, sub, prefix, params)
    return 200, _buy(product, params)
