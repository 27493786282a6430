"""The repository describes the project, its results and how to reproduce them; how the work was
organised (work sessions, who did what, the issue tracker's numbers) belongs in git history, and
a reader who clones the repository has no document outside it.

Each pattern names one such account precisely, so that code about an HTTP or database session, a
benchmark's rounds or a helper function never matches."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

PATTERNS = {
    r"\bsession \d+": "a numbered work session (say what the change is, and its date)",
    r"\b(this|that|each|another|other|earlier|previous|next) sessions?'": "a session's work",
    r"\bthis session\b(?! (lock|mode|scope))": "the work session that wrote it",
    r"\bthe lead\b|\blead's\b": "who led the work",
    r"\b(lead|helper)s? (ran|did|added|wrote|made|measured)\b": "who did what",
    r"\bother helpers\b|\bwho did what\b": "who did what",
    r"\bissues? \d+\b|\(issue \d+": "an issue tracker's number (describe the behaviour instead)",
    r"\bDESIGN\.md|\bSTACK-NOTES|\bSTYLE-EXAMPLES": "a document outside the repository",
}


def tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    return [name for name in listed if name and name != THIS_FILE]


def test_the_repository_speaks_of_the_project_only() -> None:
    patterns = {re.compile(p, re.IGNORECASE): why for p, why in PATTERNS.items()}
    found = []
    for name in tracked_text_files():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the working tree
        for number, line in enumerate(text.splitlines(), 1):
            for pattern, why in patterns.items():
                match = pattern.search(line)
                if match:
                    found.append(f"{name}:{number}: {match.group(0)!r} ({why})")
    assert not found, (
        "accounts of how the work was organised, or documents outside the repository (describe "
        "the project as it is; history is in git):\n" + "\n".join(found)
    )
