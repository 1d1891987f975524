"""What the repository promises of itself: it reads nothing outside itself, and every type ignore says why."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
#: What the project consists of: none of it may reach outside the repository, at run time or in tests.
PROJECT = ["src", "tests", "docs", "bench", "Makefile", ".ci", "pyproject.toml", "Dockerfile", "docker-compose.yml"]
#: The developers' folders beside the repository, which a user's clone does not have.
OUTSIDE = re.compile(r"\.\./shared\b|/work/|\bshared/reference\b|[\"']shared[\"']")
#: A module's own path, climbed: `parents[k]` leaves the repository once k is past the folders it sits in.
CLIMB = re.compile(r"__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<rest>.*)$")


def project_files() -> list[Path]:
    found: list[Path] = []
    for name in PROJECT:
        path = ROOT / name
        candidates = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        found += [p for p in candidates if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".png"]
    return found


def outside(path: Path, line: str) -> bool:
    depth = len(path.relative_to(ROOT).parts) - 1
    return bool(OUTSIDE.search(line)) or any(int(k) > depth for k in CLIMB.findall(line))


def test_nothing_in_the_project_names_a_place_outside_the_repository() -> None:
    here = Path(__file__).resolve()
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in project_files()
        if path.resolve() != here
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if outside(path, line)
    ]
    assert offending == []


def test_the_check_recognises_the_ways_a_file_has_reached_outside() -> None:
    module = ROOT / "tests" / "notice" / "test_reference_notice.py"
    assert outside(module, 'Path(__file__).parents[3] / "shared" / "reference" / "notice.md"')
    assert outside(module, "Path(__file__).resolve().parents[3] / 'x'")
    assert outside(module, "text = open('../shared/reference/notice.md')")
    assert not outside(module, "Path(__file__).parents[2] / 'schema.graphql'")


def test_every_type_ignore_in_src_names_its_reason() -> None:
    """Beside the ignore (`# type: ignore[code] # why`), or in a comment on the line above it."""
    unexplained = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            found = IGNORE.search(line)
            if found is None:
                continue
            beside = found["rest"].strip().lstrip("#").strip()
            above = lines[number - 2].strip() if number > 1 else ""
            if not beside and not above.startswith("#"):
                unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert unexplained == []
