"""The git state of the user's project, as a run records it: commit, branch, remote, whether the
tree differs from the commit, the untracked files, and a diff small enough to keep with every run.

The project is the folder the command runs in (`nnexp.config.paths.launch_dir`); when that is in
no git repository, the folder of `--config-dir`. Dirty means tracked changes or untracked files
that git does not ignore, outside the folders nnexp itself writes there (mlruns/, outputs/,
multirun/). The diff holds the tracked changes and the small untracked text files; a binary file
is a stat line, never its bytes, and a diff over DIFF_CAP is summarised to one stat line per file.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DIFF_CAP = 256 * 1024
SUMMARISED = "diff over 256 KB: summarised"
OWN_OUTPUTS = ("mlruns", "outputs", "multirun")  # nnexp's store and Hydra's folders, by default
_SCOPE = (":/", *(f":(exclude){name}" for name in OWN_OUTPUTS))  # the whole repo but those


@dataclass
class SourceState:
    """A folder's git state; `root` is None when the folder is in no repository."""

    folder: Path
    root: Path | None = None
    commit: str | None = None
    branch: str | None = None
    repo_url: str | None = None
    diff: str = ""  # what is logged as source/git_diff.patch ("" for a clean tree)
    untracked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was summarised rather than included
    changed: bool = False

    @property
    def dirty(self) -> bool:
        return self.changed or bool(self.untracked)


def git(folder: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str | None:
    """git's output run in `folder`, or None when git is missing or says no."""
    try:
        out = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                             timeout=30, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode in ok_codes else None


def project_dir(command: list[str], launch: Path) -> Path:
    """The user's project: the launch folder, unless it is in no repository and `--config-dir`
    (`-cd`) names a folder that is."""
    config_dir = None
    for i, word in enumerate(command):
        if word in ("--config-dir", "-cd") and i + 1 < len(command):
            config_dir = command[i + 1]
        elif word.startswith("--config-dir="):
            config_dir = word.split("=", 1)[1]
    if config_dir is None or git(launch, "rev-parse", "--show-toplevel") is not None:
        return launch
    candidate = (launch / Path(config_dir).expanduser()).resolve()
    return candidate if candidate.is_dir() else launch


def _is_binary(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"\0" in handle.read(8000)
    except OSError:
        return True


def _tracked(state: SourceState) -> tuple[str, list[str]]:
    """The tracked changes against HEAD (a binary file as git's one line) and a stat line each."""
    numstat = git(state.folder, "diff", "HEAD", "--numstat", "--", *_SCOPE) or ""
    stats = []
    for line in filter(None, numstat.splitlines()):
        added, removed, name = line.split("\t", 2)
        if added == "-":
            path = state.root / name
            stats.append(f"{name} | binary, {path.stat().st_size if path.is_file() else 0} bytes")
            state.notes.append(f"binary file summarised: {stats[-1]}")
        else:
            stats.append(f"{name} | +{added} -{removed}")
    text = git(state.folder, "diff", "HEAD", "--no-color", "--no-ext-diff", "--", *_SCOPE) or ""
    return text, stats


def _untracked(state: SourceState, budget: int) -> tuple[str | None, list[str]]:
    """Untracked text files as patches (None when they do not fit in `budget`), a stat line each."""
    parts: list[str] | None = []
    stats, used = [], 0
    for name in state.untracked:
        path = state.root / name
        size = path.stat().st_size if path.is_file() else 0
        if not path.is_file() or _is_binary(path):
            stats.append(f"{name} | untracked binary, {size} bytes")
            state.notes.append(f"binary file summarised: {stats[-1]}")
            continue
        stats.append(f"{name} | untracked, {size} bytes")
        if parts is None or used + size > budget:
            parts = None  # no need to read the rest: the diff will be summarised
            continue
        patch = git(state.root, "diff", "--no-index", "--no-color", "--", "/dev/null", name,
                    ok_codes=(0, 1)) or ""
        parts.append(patch)
        used += len(patch.encode())
    return ("".join(parts) if parts is not None else None), stats


def source_state(folder: Path) -> SourceState:
    """The git state of the repository holding `folder` (the project's)."""
    state = SourceState(folder)
    top = git(folder, "rev-parse", "--show-toplevel")
    commit = git(folder, "rev-parse", "--verify", "HEAD")
    if top is None:
        return state
    state.root, state.commit = Path(top.strip()), commit.strip() if commit else None
    state.branch = (git(folder, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    state.repo_url = (git(folder, "remote", "get-url", "origin") or "").strip() or None
    listed = git(folder, "ls-files", "--others", "--exclude-standard", "--full-name", "-z",
                 "--", *_SCOPE) or ""
    state.untracked = sorted(filter(None, listed.split("\0")))
    if state.commit is None:  # a repository without a commit yet: nothing to compare with
        return state
    tracked, stats = _tracked(state)
    state.changed = bool(stats)
    untracked, more = _untracked(state, DIFF_CAP - len(tracked.encode()))
    if untracked is None or len((tracked + untracked).encode()) > DIFF_CAP:
        state.notes.insert(0, SUMMARISED)
        state.diff = (f"# {SUMMARISED}; one stat line per file\n"
                      + "".join(f"{line}\n" for line in stats + more))
    elif state.dirty:
        state.diff = "".join(f"# {note}\n" for note in state.notes) + tracked + untracked
    return state
