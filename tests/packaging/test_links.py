# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every relative link in the collection's Markdown and documentation points at a file of the collection, and
every ``#anchor`` at a heading of its page: a reader never follows a link into nothing."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT
from tests.packaging._collection import collection_files

PAGES = [path for path in collection_files() if path.endswith((".md", ".rst"))]
MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
RST_LINK = re.compile(r"`[^`<]*<([^>`]+)>`__?")
# A page named as code (`docs/x.md`) is a reference a reader follows as well.
NAMED_PAGE = re.compile(r"`([\w./-]+\.md)`")


def slug(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    text = path.read_text(encoding="utf-8")
    return {slug(match.group(1)) for match in re.finditer(r"^#{1,6}\s+(.+)$", text, flags=re.M)}


def links(relative):
    text = (REPO_ROOT / relative).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    pattern = MARKDOWN_LINK if relative.endswith(".md") else RST_LINK
    return [match.group(1) for match in pattern.finditer(text)] + [match.group(1) for match in NAMED_PAGE.finditer(text)]


def test_there_are_pages_to_check():
    assert "README.md" in PAGES and any(path.startswith("docs/") for path in PAGES)


@pytest.mark.parametrize("relative", PAGES)
def test_relative_links_point_into_the_collection(relative):
    broken = []
    page = REPO_ROOT / relative
    for target in links(relative):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: outside the collection by intent
        path_part, _hash, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if path_part and not destination.exists() and (REPO_ROOT / path_part).exists():
            destination = (REPO_ROOT / path_part).resolve()  # named from the collection's root
        if REPO_ROOT.resolve() not in destination.parents and destination != REPO_ROOT.resolve():
            broken.append(f"{target} (outside the collection)")
        elif not destination.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target} (no heading #{anchor})")
    assert broken == [], f"{relative}: " + "; ".join(broken)
