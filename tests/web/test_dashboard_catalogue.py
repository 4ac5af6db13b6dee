"""The dashboard's text catalogue (web/static/i18n.js): every text the page uses exists in
English and in Dutch. Pure: reads the static files, no browser."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
KEY = re.compile(r'^\s*"([a-z_.]+)":', re.MULTILINE)


def catalogue(language: str) -> set[str]:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    start = source.index(f"const {language} = {{")
    return set(KEY.findall(source[start : source.index("\n};", start)]))


def test_english_and_dutch_have_the_same_keys() -> None:
    english, dutch = catalogue("en"), catalogue("nl")
    assert len(english) > 250
    assert english - dutch == set()
    assert dutch - english == set()


def test_every_key_the_page_names_is_in_the_catalogue() -> None:
    known = catalogue("en")
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder|-aria|-title)?="([^"]+)"', html))
    used |= set(re.findall(r'\bt\("([a-z_.]+)"', script))
    used |= set(re.findall(r'\bkey: "([a-z_.]+)"', script))  # the list's columns
    assert len(used) > 150
    assert used - known == set()


def test_the_page_has_no_text_outside_the_catalogue() -> None:
    """Elements of index.html hold no words of their own, only catalogue keys (names, marks
    and symbols excepted)."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    body = html[html.index("<body>") :]
    texts = {t.strip() for t in re.findall(r">([^<>]+)<", body)} - {""}
    names = {"Winkel Orders", "W", "EN", "NL", "Shopify", "WooCommerce", "bol", "Amazon"}
    allowed = names | {"\N{EN DASH}", "\N{MULTIPLICATION X}"}
    assert texts - allowed == set()
