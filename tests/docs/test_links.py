"""The README and docs/: every relative link names a file that exists, every anchor a heading it has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[(?:[^\]\n]|`[^`\n]*`)*\]\(([^)\s]+)\)")


def prose(markdown: str) -> str:
    """The text links can be in: fenced blocks and code spans dropped (their brackets are code)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", markdown))


def anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", markdown), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in _LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ... are not this checkout's
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif fragment and (resolved.suffix != ".md" or fragment not in anchors(resolved.read_text())):
            problems.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    # Given a page of the README or docs/, When its links are followed, Then each lands
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    # Given the README's links
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _LINK.findall(prose(PAGES[0].read_text()))}

    # Then no reference page is out of the front door's reach
    assert [page.name for page in PAGES[1:] if page not in linked] == []


def test_the_anchor_rule_is_githubs(tmp_path: Path) -> None:
    # Given headings with punctuation, code and a repeat
    page = tmp_path / "page.md"
    page.write_text("# Q Apps as the archive user (IAM Identity Center)\n## `make bench`, again\n## Tests\n## Tests\n")

    # Then their anchors are the ones GitHub renders
    assert anchors(page.read_text()) == {
        "q-apps-as-the-archive-user-iam-identity-center",
        "make-bench-again",
        "tests",
        "tests-1",
    }
