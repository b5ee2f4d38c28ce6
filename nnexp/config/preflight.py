"""Checks of a job Hydra composed, made before anything exists (output folder, run, sweep parent).

`config.validate` sees one composed config; these checks also need Hydra's config repository
and the command line: every group option named exists in the search path (Hydra silently skips
an unknown option of an `optional` group), and no key the composed config defines as an
interpolation (`${other}`) is overridden with a literal, which would part it from the key it
follows. `Preflight`, a Hydra callback listed in conf/config.yaml, runs them all first.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from nnexp.config import ConfigError, validate

_CACHE: dict[tuple[Any, ...], Any] = {}  # compositions and option lists, per search path
_MAX_CACHED = 64
_KEY_LINK = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")


def validate_composed(cfg: DictConfig) -> None:
    """Every check of a config composed with its `hydra` node (Hydra's own, or
    `compose(..., return_hydra_config=True)`); raise ConfigError on the first problem."""
    check_group_choices(cfg)
    check_overridden_interpolations(cfg)
    validate(cfg)


def _overrides(cfg: DictConfig, kind: str) -> list[str]:
    """The command line's overrides as typed (reading them from the config would resolve a
    `${...}` in their values)."""
    found = OmegaConf.to_container(cfg.hydra.overrides[kind], resolve=False)
    assert isinstance(found, list)
    return [str(o) for o in found]


def _cached(key: tuple[Any, ...], make: Any) -> Any:
    loader = GlobalHydra.instance().config_loader()
    full = (tuple(repr(source) for source in loader.get_sources()), *key)
    if full not in _CACHE:
        if len(_CACHE) >= _MAX_CACHED:
            _CACHE.clear()
        _CACHE[full] = make()
    return _CACHE[full]


def _options(group: str, config_name: str | None, searchpath: tuple[str, ...]) -> list[str]:
    """The options of `group` in the search path, with the config's `hydra.searchpath`."""
    loader = GlobalHydra.instance().config_loader()
    return _cached(("options", group, config_name, searchpath), lambda: sorted(
        loader.get_group_options(group, config_name=config_name, overrides=list(searchpath))))


def check_group_choices(cfg: DictConfig) -> None:
    """Every option chosen for a config group exists in Hydra's search path (including
    --config-dir and hydra.searchpath); Hydra itself skips an unknown `optional` one."""
    searchpath = tuple(o for o in _overrides(cfg, "hydra")
                       if "hydra.searchpath" in o.partition("=")[0])
    repository = GlobalHydra.instance().config_loader().repository  # without hydra.searchpath
    for group, option in cfg.hydra.runtime.choices.items():
        if option is None or group.startswith("hydra/"):
            continue  # Hydra's own groups are never optional
        folder, _, name = f"{group}/{option}".rpartition("/")
        if name in repository.get_group_options(folder):
            continue
        if name not in _options(folder, cfg.hydra.job.config_name, searchpath):
            raise ConfigError(f"{group}: unknown option '{option}'; allowed: "
                              f"{', '.join(_options(group, None, searchpath)) or '(none)'}")


def check_overridden_interpolations(cfg: DictConfig) -> None:
    """Refuse `key=literal` on the command line for a key the config defines as `${other.key}`.

    Interpolated keys come from the schema, conf/ or a user's --config-dir files. Overriding
    one with a literal would leave the key it follows at its old value, so code or records
    reading either key would disagree; set the followed key instead. Hydra's own keys are
    refused only when they follow an experiment key (`hydra.sweeper.direction:
    ${sweep.direction}`); its `${now:...}` or `${hydra.job.name}` defaults stay overridable.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    _check_interpolation_overrides(parser.parse_overrides(_overrides(cfg, "task")),
                                   parser.parse_overrides(_overrides(cfg, "hydra")),
                                   cfg.hydra.job.config_name)


def _check_interpolation_overrides(task: list[Any], hydra: list[Any], name: str | None) -> None:
    from hydra import compose

    groups = _cached(("groups",), lambda: set(
        GlobalHydra.instance().config_loader().list_groups("")))
    literal = [o for o in [*task, *hydra] if _is_literal_key_override(o, groups)]
    if not literal:
        return
    kept = tuple(o.input_line for o in [*task, *hydra]
                 if all(o is not other for other in literal) and not o.is_sweep_override()
                 and o.key_or_group != "hydra.mode")
    base = _cached(("compose", name, kept), lambda: OmegaConf.to_container(
        compose(config_name=name, overrides=list(kept), return_hydra_config=True),
        resolve=False))
    for override in literal:
        node: Any = base
        for part in override.key_or_group.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        for key, text in _interpolations(node, override.value(), override.key_or_group):
            link = _KEY_LINK.match(text)
            if not link:  # a resolver's default (`${oc.env:NAME,default}`): a value replaces it
                continue
            followed = link.group(1)
            if key.startswith("hydra.") and followed.startswith("hydra"):
                continue
            raise ConfigError(f"{key}: the config sets it to {text}, so it follows {followed}; a "
                              f"value here would part the two: set {followed} instead, or "
                              "change the config file that links them")


def _is_literal_key_override(override: Any, groups: set[str]) -> bool:
    key = override.key_or_group
    value = override.value()
    return (not override.is_delete() and not override.is_sweep_override()
            and override.package is None and "/" not in key
            and key != "hydra.searchpath"  # kept when recomposing: it finds the options
            and (key not in groups or isinstance(value, dict))  # group=option picks a file
            and not _has_interpolation(value))


def _has_interpolation(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_interpolation(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_interpolation(v) for v in value)
    return False


def _interpolations(node: Any, new: Any, path: str) -> Iterator[tuple[str, str]]:
    """(key, `${...}`) for each interpolation in `node` that the value `new` would replace."""
    if isinstance(node, str) and "${" in node:
        yield path, node
    elif isinstance(node, dict):
        keys = [k for k in new if k in node] if isinstance(new, dict) else list(node)
        for key in keys:
            yield from _interpolations(node[key], new.get(key) if isinstance(new, dict) else None,
                                       f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _interpolations(item, None, f"{path}[{index}]")


def validate_jobs(config_name: str | None, hydra_overrides: list[str],
                  jobs: list[list[str]]) -> list[DictConfig]:
    """Every check of `validate_composed` for each job of a sweep, cheaply: Hydra composes once
    per distinct choice of config-group options, and each job's `key=value` overrides are then
    applied to a copy of that composition, as Hydra itself applies them. The jobs' configs
    (without Hydra's node), in order."""
    import copy

    from hydra import compose
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed_hydra = parser.parse_overrides(hydra_overrides)
    repository = GlobalHydra.instance().config_loader().repository
    composed: dict[tuple[str, ...], DictConfig] = {}
    configs = []
    for job in jobs:
        parsed = parser.parse_overrides(job)
        if not all(_simple(o) for o in parsed):  # deletions, packages, dict values: the slow way
            cfg = compose(config_name=config_name, overrides=[*hydra_overrides, *job],
                          return_hydra_config=True)
            validate_composed(cfg)
            configs.append(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
            continue
        choices = tuple(o.input_line for o in parsed if repository.group_exists(o.key_or_group))
        if choices not in composed:
            base = compose(config_name=config_name, overrides=[*hydra_overrides, *choices],
                           return_hydra_config=True)
            check_group_choices(base)
            with open_dict(base):  # the job's own config, its value types kept
                del base["hydra"]
            composed[choices] = base
        _check_interpolation_overrides(parsed, parsed_hydra, config_name)
        cfg = copy.deepcopy(composed[choices])
        ConfigLoaderImpl._apply_overrides_to_config(
            [o for o in parsed if not repository.group_exists(o.key_or_group)], cfg)
        OmegaConf.resolve(cfg)  # a copy for checking: resolve each `${...}` once, not per read
        validate(cfg)
        configs.append(cfg)
    return configs


def _simple(override: Any) -> bool:
    """`key=value` or `group=option`, the forms a sweep's jobs are made of."""
    return (not override.is_delete() and not override.is_add() and not override.is_force_add()
            and override.package is None and not isinstance(override.value(), dict))


def check_output_dir(key: str, path: str) -> None:
    """Refuse an output folder that cannot be created, in one line (Hydra would crash later).

    Creates the missing folders to find out and removes them again: Hydra makes them itself,
    and a later check may still stop the job. Jobs started together race on the same parents,
    so a folder another job made or removed meanwhile is not an error.
    """
    for attempt in range(5):
        try:
            _try_creating(Path(path).absolute())
            return
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and attempt < 4:
                continue
            raise ConfigError(f"{key}: cannot create folder '{path}' ({exc.strerror})") from None


def _try_creating(target: Path) -> None:
    folder = target
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(20, "Not a directory")
    created = []
    try:
        for part in reversed(missing):
            try:
                part.mkdir()
            except FileExistsError:
                if not part.is_dir():
                    raise NotADirectoryError(20, "Not a directory") from None
                continue
            created.append(part)
    finally:
        for part in reversed(created):
            with contextlib.suppress(OSError):  # another job may have started using it
                part.rmdir()


class Preflight(Callback):
    """Runs every check before Hydra creates the output folder or a run or parent exists."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(lambda: validate_composed(config), "hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # The sweep's base config lacks the swept values (a required key may be swept), so only
        # what holds for every job is checked here; the sweep callback validates each job.
        def check() -> None:
            check_group_choices(config)
            check_overridden_interpolations(config)

        self._check(check, "hydra.sweep.dir", config.hydra.sweep.dir)

    @staticmethod
    def _check(check: Callable[[], None], key: str, output_dir: str) -> None:
        from nnexp.config.user_errors import abort_for

        try:
            check()
            check_output_dir(key, output_dir)
        except Exception as exc:  # Hydra turns a callback's Exception into a warning
            raise abort_for(exc, "the config check failed") from exc
