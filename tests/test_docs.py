"""The README and the docs site stay true: the site builds with ``mkdocs build --strict``
(a broken link, a missing page or anchor fails), the CLI reference it generates lists every
command and option of ``build_parser()``, the README stays a front door whose links
resolve, and the paths and tests the docs name exist."""
import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from al_core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    return out


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def test_the_site_builds_strict(site):
    assert (site / "index.html").is_file()
    assert (site / "img" / "review.png").is_file()


def test_the_cli_reference_lists_every_command_and_option(site):
    page = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    commands = subparsers(build_parser())
    assert len(commands) >= 15
    for name, parser in commands.items():
        assert f'id="{name}"' in page, f"the CLI reference has no section for {name!r}"
        section = page.split(f'id="{name}"', 1)[1].split("<h2", 1)[0]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert option in section, f"{name} {option} is missing from the CLI reference"


def test_the_site_fetches_nothing_from_the_internet(site):
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html, page
        remote = re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"', html)
        assert not remote, f"{page.relative_to(site)} loads {remote[:3]}"


def test_the_readme_is_a_front_door_that_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines"
    head = "\n".join(lines[:6])
    assert "./dev.sh app" in head and "./dev.sh test" in head


def markdown_files() -> list[Path]:
    return [README, ROOT / "BENCHMARKS.md",
            *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]


@pytest.mark.parametrize("name", ["README.md", "BENCHMARKS.md"])
def test_the_relative_links_outside_the_site_resolve(name):
    """The site checks its own links; these two files are read on their own (and
    BENCHMARKS.md also inside the site, where the hook rewrites its docs/ links)."""
    text = (ROOT / name).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.exists(), f"{name} links to {target}, which does not exist"


def test_the_module_paths_the_docs_name_exist():
    for md in markdown_files():
        text = md.read_text(encoding="utf-8")
        for path in set(re.findall(r"`((?:al_core|ui|pages)/[\w/]+\.py)`", text)):
            assert (ROOT / path).is_file(), f"{md.relative_to(ROOT)} names {path}"


def test_the_tests_the_docs_name_exist():
    """Each failure-table row names the tests that keep it true: they must be there."""
    named = 0
    for md in markdown_files():
        text = md.read_text(encoding="utf-8")
        for file, _, name in re.findall(r"`?(test_\w+\.py)(::(test_\w+))?", text):
            path = ROOT / "tests" / file
            assert path.is_file(), f"{md.relative_to(ROOT)} names tests/{file}"
            named += 1
            if name:
                tree = ast.parse(path.read_text(encoding="utf-8"))
                defined = {node.name for node in ast.walk(tree)
                           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
                assert name in defined, f"{md.relative_to(ROOT)} names {file}::{name}"
    assert named >= 40


def test_the_team_guide_shows_the_permission_table_of_the_code():
    from al_core.permissions import permission_table_markdown
    text = (DOCS / "guide" / "team.md").read_text()
    block = re.search(r"<!-- permissions:start -->\n(.*?)\n<!-- permissions:end -->", text,
                      re.S)
    assert block, "docs/guide/team.md lost its permissions block"
    assert block.group(1) == permission_table_markdown(), (
        "docs/guide/team.md's permission table differs from al_core/permissions.py: paste "
        "permission_table_markdown()'s output between the markers")


def test_the_workflow_page_states_the_workflow_table():
    from al_core.workflow import diagram, transition_table_markdown
    text = (DOCS / "guide" / "workflow.md").read_text()
    for name, made in (("diagram", f"```text\n{diagram()}\n```"),
                       ("table", transition_table_markdown())):
        block = re.search(rf"<!-- workflow:{name}:start -->\n(.*?)\n<!-- workflow:{name}:end -->",
                          text, re.S)
        assert block, f"docs/guide/workflow.md lost its {name} block"
        assert block.group(1) == made, (
            f"docs/guide/workflow.md's {name} differs from al_core/workflow.py: paste the "
            "output of diagram() / transition_table_markdown() between the markers")
