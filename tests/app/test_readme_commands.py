"""The commands the README and docs/ show can be pasted into bash and zsh as they are, and the
README's own train commands compose: every job of its sweeps is a valid config."""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import REPO

PAGES = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]
SHELL_BLOCK = re.compile(r"```(bash|text)\n(.*?)```", flags=re.DOTALL)
GLOB_CHARS = set("[]*?{}!")  # zsh: no match is an error; bash: braces expand; ! is history


def commands(page: str) -> list[str]:
    """The command lines of a page: every line of a ```bash block, and the `$ ...` lines of a
    ```text block (a command and its output), joined across trailing backslashes."""
    found = []
    for kind, body in SHELL_BLOCK.findall((REPO / page).read_text()):
        lines = body.replace("\\\n", " ").splitlines()
        if kind == "text":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        found += [line.strip() for line in lines if line.strip()]
    return found


def unquoted_specials(line: str) -> list[str]:
    """Characters a shell would expand in `line` outside quotes (up to a comment)."""
    quote, found, previous = None, [], " "
    for char in line:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            break
        elif char in GLOB_CHARS:
            found.append(char)
        previous = char
    return found


@pytest.mark.parametrize("page", PAGES)
def test_every_command_pastes_into_bash_and_zsh(page: str):
    lines = commands(page)
    if page == "README.md":
        assert len(lines) >= 10, lines  # the newcomer's path shows its commands
    bad = [(line, unquoted_specials(line)) for line in lines if unquoted_specials(line)]
    assert not bad, f"{page}: quote these for zsh and bash: {bad}"


def test_the_checker_finds_what_zsh_would_expand():
    assert unquoted_specials("python -m nnexp.train -m model.hidden=[32],[64,32]") == list("[][]")
    assert unquoted_specials("python -m nnexp.train -m 'model.hidden=[32],[64,32]'") == []
    assert unquoted_specials("python -m nnexp.train -m 'optimizer=glob(*)'  # every [one]") == []
    assert unquoted_specials('pip install -e ".[test]"') == []


def _train_jobs() -> list[list[str]]:
    """Each job of each `python -m nnexp.train` command of the README, as its overrides."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    jobs = []
    for line in commands("README.md"):
        words = shlex.split(line, comments=True)
        if words[:3] != ["python", "-m", "nnexp.train"] or "--cfg" in words:
            continue
        overrides = [w for w in words[3:] if w not in ("-m", "--multirun")]
        if any(w.startswith("optimizer=glob") for w in overrides):
            overrides = [w for w in overrides if not w.startswith("optimizer=glob")]
        split = BasicSweeper.split_arguments(parser.parse_overrides(overrides), None)[0]
        jobs += [list(job) for job in split]
    return jobs


def test_the_readme_train_commands_compose_every_job(make_cfg):
    from nnexp.config import validate

    jobs = _train_jobs()
    assert ["lr=0.1"] in jobs and ["lr=0.3", "model.hidden=[64,32]"] in jobs, jobs
    for job in jobs:
        if "optimizer=nope" in job:  # the README's example of a mistake
            with pytest.raises(Exception, match="optimizer/nope"):
                make_cfg(*job, fast=False)
            continue
        validate(make_cfg(*job, fast=False))


def test_the_readme_sets_up_with_two_commands_and_ci_runs_the_second():
    (block,) = [body for kind, body in SHELL_BLOCK.findall((REPO / "README.md").read_text())
                if kind == "bash" and "pip install" in body]
    install, tests = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert install == "pip install -e . && python -m nnexp.train"  # no torch, no test suite
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci, (tests, ci)
