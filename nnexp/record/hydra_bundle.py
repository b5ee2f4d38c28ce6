"""A sweep child's Hydra folder (`.hydra/`: config, hydra, overrides) as one text artifact,
`.hydra/files.yaml`: one upload instead of three, still readable in MLflow's UI."""

from __future__ import annotations

from pathlib import Path

BUNDLE_ARTIFACT = ".hydra/files.yaml"


def hydra_record(hydra_dir: Path | None, child: bool) -> tuple[dict[str, str], dict[str, Path]]:
    """(texts, folders) a run records of Hydra's folder: the folder itself, or for a sweep's
    `child` its bundle as one text; nothing without a folder."""
    if hydra_dir is None:
        return {}, {}
    if child and hydra_dir.is_dir():
        return {BUNDLE_ARTIFACT: bundle_folder(hydra_dir)}, {}
    return {}, {".hydra": hydra_dir}


def bundle_folder(folder: Path) -> str:
    """The folder's files as one YAML mapping, file name -> text (block literals)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    files = {path.name: path.read_text() for path in sorted(folder.iterdir()) if path.is_file()}
    return yaml.dump(files, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def unbundle(text: str, into: Path) -> list[Path]:
    """Write the files of a bundle back into `into` (Hydra's `.hydra/` as it was); their paths."""
    import yaml

    into.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in yaml.safe_load(text).items():
        path = into / Path(str(name)).name  # a bare file name: nothing lands outside `into`
        path.write_text(content)
        written.append(path)
    return written
