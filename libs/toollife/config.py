"""The one config loader: embedded defaults <- conf/<env>.yaml <- environment variables.

* Embedded defaults live in ``toollife/defaults/<section>.yaml`` (shipped inside the wheel), so a
  job runs with no conf file at all (``make demo`` does).
* ``conf/<env>.yaml`` (env from ``--env`` or ``TOOLLIFE_ENV``, default ``local``) or an explicit
  file (``--conf-file``, e.g. one shipped to a cluster with ``spark-submit --files``) overrides them.
* ``TOOLLIFE__<SECTION>__<KEY>=value`` environment variables override both; values are parsed as
  YAML scalars (``TOOLLIFE__SPARK__SHUFFLE_PARTITIONS=8``).

Every key must exist in the defaults and keep its type: a typo fails at start-up with a message
that names the key instead of being silently ignored. A section whose default is an empty mapping
(``spark.extra_conf``) is free-form. Relative paths are resolved against the project directory
(the parent of the conf dir, or the working directory) so jobs behave the same from any cwd.
Secrets are never config values: conf names the environment variable that holds them.
"""

from __future__ import annotations

import argparse
import copy
import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from toollife.errors import UsageError, one_line

ENV_PREFIX = "TOOLLIFE__"
PATH_KEYS_SUFFIXES = ("_dir", "_root", "_path")
PATH_KEYS = {"root"}


class ConfigError(UsageError, ValueError):
    """Invalid configuration; the message names the offending key (``key``, dotted, when known)."""

    label = "configuration error"

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def embedded_defaults() -> dict[str, Any]:
    """All sections shipped in toollife/defaults/, keyed by file stem."""
    defaults: dict[str, Any] = {}
    for entry in sorted(resources.files("toollife.defaults").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            defaults[entry.name[: -len(".yaml")]] = yaml.safe_load(entry.read_text()) or {}
    return defaults


def _type_ok(default: Any, value: Any) -> bool:
    if default is None or value is None:
        return True  # null default = optional value of any scalar type; null override = unset
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def merge(
    base: dict[str, Any],
    override: Mapping[str, Any],
    where: str = "",
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``, rejecting unknown keys and wrong types.

    ``schema`` (the embedded defaults, by default ``base`` itself) decides what is allowed: a key
    whose default is an empty mapping is free-form, whatever an earlier layer put into it.
    """
    schema = base if schema is None else schema
    merged = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{where}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema)) or "(none)"
            raise ConfigError(f"unknown config key '{dotted}' (known keys here: {known})", key=dotted)
        default = schema[key]
        if isinstance(default, dict) and default:
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a mapping, got {value!r}", key=dotted)
            merged[key] = merge(base.get(key) or {}, value, f"{dotted}.", default)
        elif isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{dotted}' must be a mapping, got {value!r}", key=dotted)
            merged[key] = {**(base.get(key) or {}), **copy.deepcopy(dict(value))}
        elif not _type_ok(default, value):
            raise ConfigError(
                f"config key '{dotted}' must be of type {type(default).__name__}, got {value!r}", key=dotted
            )
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``TOOLLIFE__KAFKA__BOOTSTRAP_SERVERS=h:9092`` -> {'kafka': {'bootstrap_servers': 'h:9092'}}."""
    nested: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment variable {name} is not a valid YAML value ({one_line(str(exc))}); "
                              f"fix or unset it") from exc
    return nested


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line, keeping where it is: "line 3, column 7: mapping values are not allowed here"."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = " ".join(str(p) for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
    if mark is None:
        return one_line(str(exc))
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem or one_line(str(exc))}"


def _env_var_for(key: str, environ: Mapping[str, str]) -> str | None:
    """The TOOLLIFE__... variable that set the dotted ``key`` (or a key below it)."""
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            dotted = ".".join(p.lower() for p in name[len(ENV_PREFIX):].split("__") if p)
            if dotted == key or dotted.startswith(key + "."):
                return name
    return None


def _merge_env(config: dict[str, Any], environ: Mapping[str, str], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the TOOLLIFE__* variables; an error names the variable the user set, not only the key."""
    try:
        return merge(config, env_overrides(environ), schema=schema)
    except ConfigError as exc:
        var = _env_var_for(exc.key, environ) if exc.key else None
        if var is None:
            raise
        raise ConfigError(f"environment variable {var}={environ[var]!r}: {exc}; fix or unset {var}",
                          key=exc.key) from None


def _resolve_paths(node: dict[str, Any], base_dir: Path) -> None:
    for key, value in node.items():
        if isinstance(value, dict):
            _resolve_paths(value, base_dir)
        elif (
            isinstance(value, str)
            and (key in PATH_KEYS or key.endswith(PATH_KEYS_SUFFIXES))
            and "://" not in value
            and not os.path.isabs(value)
        ):
            node[key] = str((base_dir / value).resolve())


def find_conf_dir(environ: Mapping[str, str]) -> Path | None:
    if environ.get("TOOLLIFE_CONF_DIR"):
        return Path(environ["TOOLLIFE_CONF_DIR"]).resolve()
    candidate = Path.cwd() / "conf"
    return candidate if candidate.is_dir() else None


def load_config(
    env: str | None = None,
    *,
    conf_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return the merged configuration as plain nested dicts (easy to inject in tests).

    ``overrides`` (applied last, validated like everything else) is how tests and the demo point
    a job at a temporary lakehouse or a test broker.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("TOOLLIFE_ENV", "local")
    conf_dir = find_conf_dir(environ)
    schema = embedded_defaults()
    config = schema

    path: Path | None
    if conf_file is not None:
        path = Path(conf_file).resolve()
        if not path.is_file():
            raise ConfigError(f"conf file {path} does not exist; check the --conf-file path")
    elif conf_dir is None:
        path = None
        if env != "local":  # the embedded defaults are `local`; any other name needs its file
            raise ConfigError(f"no conf file for environment '{env}': no conf/ directory in {Path.cwd()} "
                              f"and TOOLLIFE_CONF_DIR is unset; set TOOLLIFE_CONF_DIR to the repository's "
                              f"conf/ (or use --conf-file), or drop --env / TOOLLIFE_ENV for the defaults")
    else:
        path = conf_dir / f"{env}.yaml"
        if not path.is_file():
            if env != "local":
                known = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml"))) or "none"
                raise ConfigError(f"no conf file for environment '{env}' at {path}; "
                                  f"use --env / TOOLLIFE_ENV with one of: {known}")
            path = None
    if path is not None:
        try:
            from_file = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {yaml_problem(exc)}") from None
        if not isinstance(from_file, dict):
            raise ConfigError(f"{path} must hold a mapping of sections")
        try:
            config = merge(config, from_file, schema=schema)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}; fix it in that file", key=exc.key) from None

    config = _merge_env(config, environ, schema)
    if overrides:
        config = merge(config, overrides, schema=schema)

    if path is not None:
        base_dir = path.parent.parent
    elif conf_dir is not None:
        base_dir = conf_dir.parent
    else:
        base_dir = Path.cwd()
    _resolve_paths(config, base_dir)
    config["env"] = env
    config["base_dir"] = str(base_dir)
    return config


# --------------------------------------------------------------------------- the command line's conf
class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description as written; shows an option's default once: only when it says something (not None/False/[]) and the
    help text does not already say where the value comes from ("default", "config: ...")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default in (None, False, [], argparse.SUPPRESS) or "default" in text.lower()
                or "config:" in text or "conf:" in text):
            return text
        return super()._get_help_string(action)


def parse_set_options(pairs: list[str]) -> dict[str, Any]:
    """``["kafka.partitions=6", "spark.master=local[1]"]`` -> nested override dict."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects section.key=value, got '{pair}'")
        node = overrides
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair}: '{part}' was already given a value by another --set")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {pair}: not a valid YAML value ({one_line(str(exc))})") from None
    return overrides


def _deep_update(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def job_config(env: str | None = None, conf_file: str | None = None, sets: list[str] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict:
    """The conf a job runs with; a mistake in a ``--set`` is reported as that ``--set``.
    ``extra``: overrides of a command's own options (``simulate --machines 2``), applied after the --set."""
    sets = list(sets or [])
    try:
        overrides = _deep_update(parse_set_options(sets), extra or {})
        return load_config(env, conf_file=conf_file, overrides=overrides)
    except ConfigError as exc:
        key = exc.key or ""
        pair = next((p for p in sets if key and (p.partition("=")[0] == key
                                                 or p.partition("=")[0].startswith(key + "."))), None)
        if pair is None or str(exc).startswith("environment variable"):
            raise
        raise ConfigError(f"--set {pair}: {exc}", key=exc.key) from None
