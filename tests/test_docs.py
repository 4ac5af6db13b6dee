"""The repository's documentation is self-contained: what the code and the docs cite exists.

- Every relative link in README.md and docs/ points to a file that exists, and an anchor to a
  heading of the linked document (GitHub's heading ids).
- No source or doc file cites the design card or the domain notes that live outside the repo.
- Every `docs/<name>.md §N.N` and `docs/design.md "Heading"` citation names a heading there.

Pure: it reads files only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED_DIRS = ("engine", "agents", "models", "web", "tests", "docs")
SCANNED_SUFFIXES = frozenset({".py", ".md", ".js", ".json", ".toml", ".html"})
#: This file spells out the forbidden citations as patterns.
THIS_FILE = Path(__file__).resolve()

#: Files outside the repository that nothing in it may cite.
FORBIDDEN = {
    "the design card outside the repo (cite docs/design.md)": re.compile(r"DESIGN\.md"),
    "the domain notes outside the repo (cite docs/marketplaces.md)": re.compile(r"shared/domain"),
    "a path outside the repo": re.compile(r"\.\./shared|/work/shared"),
    "the domain notes by section (cite docs/marketplaces.md §N.N)": re.compile(r"\bnotes §"),
    "the domain notes (cite docs/marketplaces.md or docs/vat.md)": re.compile(r"\bdomain notes\b"),
}

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

SECTION = r"§\s*(\d+(?:\.\d+)*)"
#: `docs/marketplaces.md §2.1`, also a list: `docs/marketplaces.md §2, §5 and §8`.
SECTION_CITATION = re.compile(
    r"(?:docs/([\w-]+\.md)|\]\(([\w./-]+\.md)\))\s*"
    + SECTION
    + r"((?:\s*(?:,|;|and)\s*§\s*\d+(?:\.\d+)*)*)"
)
#: `docs/design.md "CLI"`; in JSON the quotes are escaped.
DESIGN_CITATION = re.compile(r'docs/design\.md\s*\\?"([^"\\\n]+)\\?"')


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def scanned_files() -> Iterator[Path]:
    yield ROOT / "README.md"
    for directory in SCANNED_DIRS:
        for path in sorted((ROOT / directory).rglob("*")):
            parts = path.relative_to(ROOT).parts
            if any(part.startswith(".") or part == "__pycache__" for part in parts):
                continue
            if path.is_file() and path.suffix in SCANNED_SUFFIXES and path != THIS_FILE:
                yield path


def _prose(markdown: str) -> str:
    """Markdown without fenced code blocks and code spans (links there are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def heading_texts(markdown: str) -> list[str]:
    """Headings as rendered text: code spans unwrapped, links reduced to their text."""
    texts = []
    for match in HEADING.finditer(FENCE.sub("", markdown)):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
        texts.append(text.replace("`", "").replace("*", ""))
    return texts


def github_slugs(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats -1, -2."""
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    for text in heading_texts(markdown):
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        slugs.add(slug if count == 0 else f"{slug}-{count}")
    return slugs


def section_numbers(markdown: str) -> set[str]:
    """`2.1` for `### 2.1 Orders API`, `5` for `## 5. Amounts`."""
    numbers = set()
    for text in heading_texts(markdown):
        match = re.match(r"(\d+(?:\.\d+)*)\.?(?:\s|$)", text.strip())
        if match:
            numbers.add(match.group(1))
    return numbers


def links(markdown: str) -> list[str]:
    prose = _prose(markdown)
    return [m.group(1) for m in INLINE_LINK.finditer(prose)] + [
        m.group(1) for m in REFERENCE_LINK.finditer(prose)
    ]


def test_slugs_follow_github() -> None:
    markdown = (
        "# Orders\n## Invoice trigger (`winkel.trigger/1`)\n## 2.1 Orders API v0 (deprecated)\n"
        "## Several companies (multi-company routing)\n## Orders\n```\n# not a heading\n```\n"
    )
    assert github_slugs(markdown) == {
        "orders",
        "invoice-trigger-winkeltrigger1",
        "21-orders-api-v0-deprecated",
        "several-companies-multi-company-routing",
        "orders-1",
    }
    assert section_numbers("## 5. Amounts\n### 2.1 Orders API\n## Stages\n") == {"5", "2.1"}


def test_links_are_found_outside_code() -> None:
    markdown = (
        'See [a](docs/a.md#x) and ![b](b.png "title"), [web](https://example.com).\n'
        "`[not](c.md)`\n```\n[not](d.md)\n```\n[ref]: e.md\n"
    )
    assert links(markdown) == ["docs/a.md#x", "b.png", "https://example.com", "e.md"]


@pytest.mark.parametrize("document", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    markdown = document.read_text(encoding="utf-8")
    broken = []
    for target in links(markdown):
        if SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
            continue
        if (
            anchor
            and linked.suffix == ".md"
            and anchor not in github_slugs(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no heading with id #{anchor} in {linked.name}")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


def test_nothing_cites_files_outside_the_repo() -> None:
    found = []
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_section_citations_resolve() -> None:
    numbers: dict[str, set[str]] = {}
    broken = []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8")
        for match in SECTION_CITATION.finditer(text):
            name = match.group(1) or Path(match.group(2)).name
            cited = [match.group(3), *re.findall(r"§\s*(\d+(?:\.\d+)*)", match.group(4))]
            if name not in numbers:
                document = DOCS / name
                numbers[name] = (
                    section_numbers(document.read_text(encoding="utf-8"))
                    if document.is_file()
                    else set()
                )
            broken += [
                f"{path.relative_to(ROOT)}: docs/{name} §{section}"
                for section in cited
                if section not in numbers[name]
            ]
    assert not broken, "\n".join(broken)


def test_design_citations_resolve() -> None:
    headings = heading_texts((DOCS / "design.md").read_text(encoding="utf-8"))
    broken = []
    for path in scanned_files():
        for match in DESIGN_CITATION.finditer(path.read_text(encoding="utf-8")):
            name = match.group(1)
            if not any(
                heading == name or re.match(re.escape(name) + r"\b", heading)
                for heading in headings
            ):
                broken.append(f'{path.relative_to(ROOT)}: docs/design.md "{name}"')
    assert not broken, "\n".join(broken)
