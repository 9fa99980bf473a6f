"""The language of a response's display texts, negotiated from the request's `Accept-Language`.

Two languages: English (the default) and Simplified Chinese. The ranges of the header are read
with their q-values (RFC 9110 §12.5.4); the range with the highest q that one of ours matches wins
(on a tie, the one listed first), and English when none does:

- Simplified Chinese: `zh`, `zh-CN`, `zh-SG`, `zh-Hans` and their longer forms (`zh-Hans-HK`);
- English: `en` and its forms, and `*`;
- any other range is passed over: `fr, zh;q=0.5` is Chinese, `fr` alone English. Traditional
  Chinese (`zh-TW`, `zh-HK`, `zh-MO`, `zh-Hant`) is passed over too: there are no texts in it.

Only the responses whose body holds display texts ask for it (errors, `GET /methods`,
`GET /pricing`), and they say `Vary: Accept-Language`. The answer for a header value is cached, so
a request pays a dictionary lookup for it (frontends send the same few values again and again).
The texts themselves are in `texts.py`.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from aiohttp import web

ENGLISH = "en"
CHINESE = "zh-CN"
LANGUAGES = (ENGLISH, CHINESE)

_RANGE = re.compile(r"^(\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QUALITY = re.compile(r"^[qQ]=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})  # a script or region written in Traditional
_CACHE_SIZE = 1024

# Constant headers of a response whose body depends on the language (built once).
_HEADERS = {language: {"Vary": "Accept-Language", "Content-Language": language} for language in LANGUAGES}


def language_of(request: web.Request) -> str:
    """`ENGLISH` or `CHINESE` for `request`."""
    header = request.headers.get("Accept-Language")
    return negotiate(header) if header else ENGLISH


def headers_for(language: str) -> Mapping[str, str]:
    """The headers of a response in `language`: `Vary: Accept-Language` and its `Content-Language`."""
    return _HEADERS[language]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def negotiate(header: str) -> str:
    """The language an `Accept-Language` value asks for (see the module's docstring)."""
    best, best_quality = ENGLISH, 0.0
    for item in header.split(","):
        tag, _, parameters = item.strip().partition(";")
        tag = tag.strip()
        if not _RANGE.match(tag):
            continue  # not a language range: passed over, as any unreadable part of the header
        quality = _quality(parameters)
        if quality is None or quality <= best_quality:
            continue
        language = _ours(tag.lower())
        if language is not None:
            best, best_quality = language, quality
    return best


def _quality(parameters: str) -> float | None:
    """The q-value of a range's parameters (1 when it has none), None when it is not readable."""
    parameters = parameters.strip()
    if not parameters:
        return 1.0
    match = _QUALITY.match(parameters.replace(" ", ""))
    return float(match.group(1)) if match else None


def _ours(tag: str) -> str | None:
    """Which of our languages a lower-cased range matches, or None."""
    if tag == "*":
        return ENGLISH
    primary, *subtags = tag.split("-")
    if primary == "en":
        return ENGLISH
    if primary != "zh":
        return None
    if subtags and subtags[0] == "hans":  # the script decides where it is named: zh-Hans-HK is Simplified
        return CHINESE
    return None if subtags and subtags[0] in _TRADITIONAL else CHINESE
