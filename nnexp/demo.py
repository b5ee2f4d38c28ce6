"""`python -m nnexp.demo`: material for trying nnexp offline, from nothing.

    python -m nnexp.demo cat-pictures        # 200 cats, 200 not-cats (64x64 PNG) in the cache
    python -m nnexp.train experiment=cat_classifier
    python -m nnexp.demo cat-pictures --per-class 5 --seed 1   # unseen ones, to predict

The pictures go to nnexp's per-user cache (`$XDG_CACHE_HOME/nnexp`, else `~/.cache/nnexp`):
`cat_pictures/` for seed 0, where `experiment=cat_classifier` reads them, `cat_pictures_seed<N>/`
for another seed. Never into a git repository: every later run there would record megabytes of
untracked pictures as the project's uncommitted changes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from nnexp.cli import UserAbort, run_cli

PROG = "nnexp.demo"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cats = commands.add_parser(
        "cat-pictures", help="draw a class-per-folder set of cat / not-cat pictures")
    cats.add_argument("folder", type=Path, nargs="?", default=None,
                      help="where to write cat/ and not_cat/, outside any git repository "
                           "(default: cat_pictures/ in nnexp's cache, ~/.cache/nnexp)")
    cats.add_argument("--per-class", type=int, default=200, help="pictures per class (200)")
    cats.add_argument("--size", type=int, default=64, help="width and height in pixels (64)")
    cats.add_argument("--seed", type=int, default=0,
                      help="same seed, same pictures; another seed draws new ones (0)")
    return parser.parse_args(argv)


def default_folder(seed: int) -> Path:
    """Where the pictures of `seed` go when no folder is given: seed 0's are the ones
    `experiment=cat_classifier` reads."""
    from nnexp.config.paths import user_cache_dir

    return user_cache_dir() / ("cat_pictures" if seed == 0 else f"cat_pictures_seed{seed}")


def _outside_repositories(folder: Path) -> None:
    from nnexp.config.paths import git_work_tree

    repository = git_work_tree(folder)
    if repository is not None:
        raise UserAbort(f"{folder}: inside the git repository {repository}, where every later "
                        "run would record the pictures as uncommitted changes; give a folder "
                        "outside it, or none (nnexp's cache)")


def cat_pictures(folder: Path | None, per_class: int, size: int, seed: int) -> list[str]:
    """Write the pictures (into nnexp's cache unless `folder` is given); the lines to print."""
    from nnexp.data.cat_pictures import CLASSES, write_cat_pictures

    if not 1 <= per_class <= 100_000:
        raise UserAbort(f"--per-class: must be between 1 and 100000, got {per_class}")
    if not 8 <= size <= 1024:
        raise UserAbort(f"--size: must be between 8 and 1024 pixels, got {size}")
    if seed < 0:
        raise UserAbort(f"--seed: must be >= 0, got {seed}")
    given = folder is not None
    folder = folder if folder is not None else default_folder(seed)
    _outside_repositories(folder)
    if folder.exists() and not folder.is_dir():
        raise UserAbort(f"{folder}: exists and is not a folder")
    others = sorted(p.name for p in folder.iterdir() if p.name not in CLASSES) \
        if folder.is_dir() else []
    if others:
        raise UserAbort(f"{folder}: already holds {', '.join(others[:3])}"
                        f"{', ...' if len(others) > 3 else ''}; give a new folder (a training "
                        "folder must hold only one sub-folder per class)")
    try:
        counts = write_cat_pictures(folder, per_class=per_class, size=size, seed=seed)
    except OSError as exc:
        raise UserAbort(f"{folder}: cannot write pictures ({exc.strerror})") from None
    train = "python -m nnexp.train experiment=cat_classifier"
    if given or seed != 0:
        train += f" data.image_dir={shlex.quote(str(folder))}"
    return [f"wrote {counts['cat']} cat and {counts['not_cat']} not_cat pictures "
            f"({size}x{size} PNG, seed {seed}) to {folder.resolve()} (cat/, not_cat/)",
            f"train on them: {train}",
            f"or ask a trained run about them: python -m nnexp.predict RUN_ID "
            f"{shlex.quote(str(folder))}"]


def demo(argv: list[str]) -> int:
    """Run the command; its exit code."""
    args = _arguments(argv)
    for line in cat_pictures(args.folder, args.per_class, args.size, args.seed):
        print(line)
    return 0


def main() -> None:
    """Entry point: one-line errors, exit 2."""
    run_cli(lambda: sys.exit(demo(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
