"""MkDocs hook: the CLI reference page, written at build time from the argparse parsers.

``al_core.cli.build_parser()`` is walked (its subcommands, and theirs if any) and each
command's usage, description and options become Markdown in a page that exists only in
the build (``reference/cli.md``), so the reference cannot drift from the code: a new
option or command appears on the next build, and ``tests/test_docs.py`` checks that
every subcommand is there.

The hook also puts ``BENCHMARKS.md`` (at the repository root, beside the README) into the
site as ``benchmarks/figures.md``, with its ``docs/`` image paths made relative to the
docs folder, so the figures live in one file and the site shows them.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
CLI_PAGE = "reference/cli.md"
BENCHMARKS_PAGE = "benchmarks/figures.md"
WIDTH = 88  # usage lines wrap here whatever the terminal is, so builds are identical


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, CLI_PAGE, content=cli_reference_markdown()))
    files.append(File.generated(config, BENCHMARKS_PAGE, content=benchmarks_markdown()))
    return files


def build_parser() -> argparse.ArgumentParser:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from al_core.cli import build_parser as build
    return build()


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, sub, helps.get(name) or ""))
    return found


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every command below ``parser`` as (names from the top, parser, help), depth first."""
    for name, sub, help_text in subcommands(parser):
        yield path + (name,), sub, help_text
        yield from walk(sub, path + (name,))


def cli_reference_markdown() -> str:
    parser = build_parser()
    lines = [
        "# CLI reference",
        "",
        "Generated from `al_core.cli.build_parser()` when the site is built, so it says "
        "what the code accepts. What the commands do in the loop, their conventions and "
        "examples: [Using the CLI](../cli.md).",
        "",
        "```text",
        usage(parser),
        "```",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    commands = list(walk(parser))
    for names, _sub, help_text in commands:
        lines.append(f"| [`{' '.join(names)}`](#{anchor(names)}) | "
                     f"{cell(help_text or INTERNAL)} |")
    lines.append("")
    for names, sub, help_text in commands:
        lines += command_markdown(names, sub, help_text)
    return "\n".join(lines) + "\n"


INTERNAL = "internal: how a job's own process is started (the product runs it, not people)"


def command_markdown(names: tuple[str, ...], parser: argparse.ArgumentParser,
                     help_text: str) -> list[str]:
    lines = [f"## {' '.join(names)} {{#{anchor(names)}}}", ""]
    description = parser.description or help_text or INTERNAL
    lines += [text(description), "", "```text", usage(parser), "```", ""]
    rows = [option_row(parser, action) for action in parser._actions
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))]
    if rows:
        lines += ["| option | value | what it does |", "|---|---|---|", *rows, ""]
    if parser.epilog:
        lines += [text(parser.epilog), ""]
    return lines


def usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    names = ", ".join(action.option_strings) or action.dest
    if action.choices is not None:
        value = " \\| ".join(f"`{choice}`" for choice in action.choices)
    elif action.nargs == 0:
        value = "(flag)"
    else:
        metavar = action.metavar or (action.dest.upper() if action.option_strings
                                     else action.dest)
        value = f"`{metavar}`"
    if action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction):
        value += ", repeatable" if isinstance(action, argparse._AppendAction) else ", several"
    notes = []
    if action.required and action.option_strings:
        notes.append("**required**")
    if action.help and action.help is not argparse.SUPPRESS:
        formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
        notes.append(cell(formatter._expand_help(action)))
    return f"| `{names}` | {value} | {' '.join(notes)} |"


def anchor(names: tuple[str, ...]) -> str:
    return "-".join(re.sub(r"[^a-z0-9-]+", "-", name.lower()) for name in names)


def text(value: str) -> str:
    """argparse prose as Markdown: one paragraph, its own line breaks joined."""
    return escape(" ".join(value.split()))


def cell(value: str) -> str:
    return escape(" ".join(value.split())).replace("|", "\\|")


def escape(value: str) -> str:
    # help texts are plain text: keep <, > and * from becoming HTML or emphasis
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*").replace("_", "\\_"))


def benchmarks_markdown() -> str:
    source = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    # BENCHMARKS.md sits at the repository root and shows docs/X.png; this page sits in
    # docs/benchmarks/, so the same images are ../X.png from here
    return re.sub(r"\]\(docs/", "](../", source)
