"""The page language of a request and the texts in it (Chinese by default, English).

The texts themselves are in the catalogue (:mod:`server.web.catalogue`, ``server/texts/<lang>.toml``),
loaded once by the app factory. Templates call ``t("key")``; the language comes from the ``cp_lang``
cookie (``/lang/en``, ``/lang/zh-CN``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.regions import REGIONS
from server.web import state
from server.web.catalogue import DEFAULT_LANG, LANGS, Catalogue

__all__ = ["DEFAULT_LANG", "LANGS", "catalogue", "lang_of", "page_context", "translate"]


def lang_of(request: web.Request) -> str:
    """The page language of this request (cookie, else zh-CN)."""
    lang = request.cookies.get("cp_lang", DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def catalogue(request: web.Request) -> Catalogue:
    """The app's text catalogue (loaded once by the app factory)."""
    return request.app[state.TEXTS]


def translate(request: web.Request, key: str, fallback: str | None = None) -> str:
    """The text of ``key`` in the request's language (English, then ``fallback`` or the key)."""
    return catalogue(request).text(lang_of(request), key, fallback)


def page_texts(request: web.Request, table: str | None = None) -> Any:
    """The ``t(key, fallback=None)`` of a page; with ``table``, that table's wording first
    (``nodes``: the node pages say some words their own way)."""
    lang, texts = lang_of(request), catalogue(request)
    if table is None:
        return lambda key, fallback=None: texts.text(lang, key, fallback)
    return lambda key, fallback=None: texts.get(lang, f"{table}.{key}") or texts.text(lang, key, fallback)


async def page_context(request: web.Request) -> dict[str, Any]:
    """Template globals: ``t``, ``lang``, ``user``, ``csrf_token``, ``path`` (this page) and
    ``region`` (a GB/T 2260 code → the name a person reads), ``colon`` and ``paren`` (the
    language's punctuation)."""
    from server.web import auth

    lang = lang_of(request)
    user = await auth.current_user(request)
    return {
        "lang": lang,
        "t": page_texts(request),
        "user": user.person if user else None,
        "csrf_token": auth.csrf_token(request, user),
        "path": request.path,
        "region": REGIONS.full_name,
        # punctuation of the page's language: "：" and "（…）" in Chinese, ": " and " (…)" in English
        "colon": ": " if lang == "en" else "：",
        "paren": (lambda text: f" ({text})") if lang == "en" else (lambda text: f"（{text}）"),
    }
