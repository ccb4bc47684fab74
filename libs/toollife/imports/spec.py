"""What to import: the options of ``toollife import runs|wear`` (and of jobs/import_measurements.py)
or the same keys in a small YAML map file, as one validated :class:`ImportSpec`.

A YAML map (``--map FILE``; in the landing folder one beside each data file)::

    kind: wear                 # or runs
    file: nasa_mill_runs.csv   # optional beside a data file of the same stem; relative to the map
    experiment_id: nasa_mill
    run_column: case
    time_column: time
    time_unit: min
    wear_column: [VB]          # or "VB" or "flute_1,flute_2"
    wear_unit: mm
    factors: [DOC=depth_of_cut, feed, material]
    criterion: 0.3

Every mistake is a :class:`toollife.errors.UsageError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from toollife.errors import UsageError

KINDS = ("runs", "wear")
LIFE_UNITS = {"h": ("min", 60.0), "min": ("min", 1.0), "parts": ("parts", 1.0), "cuts": ("cuts", 1.0)}
TIME_UNITS = ("min", "cuts", "parts")
WEAR_UNITS = {"mm": 1.0, "um": 1e-3}
DEFAULT_CRITERION_MM = 0.3               # ISO 3685: uniform flank wear VB = 0.3 mm
DEFAULT_MACHINE = "imported"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# gold.experiment_runs' own columns (lower case): a factor may not take one of these names,
# except the standard factors, which it fills
RESERVED = {"experiment_id", "machine_id", "tool_id", "run_id", "replicate", "status", "started_at", "ended_at",
            "factors_json", "design_factors", "tool_life_min", "cutting_time_min", "flank_wear_mm",
            "wear_rate_mm_per_min", "n_readings", "row_hash", "updated_at", "tool_life", "censored_life",
            "life_unit", "source"}


@dataclass(frozen=True)
class ImportSpec:
    kind: str
    file: str
    experiment_id: str
    factors: tuple[tuple[str, str], ...] = ()      # (column in the file, factor name)
    life_column: str | None = None                 # runs
    life_unit: str | None = None
    censored_column: str | None = None
    run_column: str | None = None                  # wear (optional in both: default row / whole file)
    time_column: str | None = None
    time_unit: str | None = None
    wear_columns: tuple[str, ...] = ()
    wear_unit: str | None = None
    criterion: float = DEFAULT_CRITERION_MM
    per_flute: bool = False
    machine: str | None = None
    tool: str | None = None
    machine_column: str | None = None
    tool_column: str | None = None
    source: str = field(default="", compare=False)  # the file as the user named it

    @property
    def machine_id(self) -> str:
        return self.machine or DEFAULT_MACHINE

    @property
    def tool_id(self) -> str:
        return self.tool or self.experiment_id

    @property
    def columns_used(self) -> list[str]:
        cols = [c for c, _ in self.factors] + list(self.wear_columns)
        cols += [c for c in (self.life_column, self.censored_column, self.run_column, self.time_column,
                             self.machine_column, self.tool_column) if c]
        return list(dict.fromkeys(cols))

    def to_argv(self) -> list[str]:
        """The job's arguments for this spec (``toollife import`` hands them to spark-submit)."""
        argv = [self.kind, self.file, "--experiment-id", self.experiment_id]
        if self.factors:
            argv += ["--factors", ",".join(c if c == n else f"{c}={n}" for c, n in self.factors)]
        pairs = [("--life", self.life_column), ("--life-unit", self.life_unit),
                 ("--censored-column", self.censored_column), ("--run-column", self.run_column),
                 ("--time-column", self.time_column), ("--time-unit", self.time_unit),
                 ("--wear-column", ",".join(self.wear_columns) or None), ("--wear-unit", self.wear_unit),
                 ("--machine", self.machine), ("--tool", self.tool), ("--machine-column", self.machine_column),
                 ("--tool-column", self.tool_column)]
        argv += [x for k, v in pairs if v for x in (k, v)]
        if self.kind == "wear":
            argv += ["--criterion", repr(self.criterion)]
            if self.per_flute:
                argv.append("--per-flute")
        return argv


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def parse_factors(value: Any) -> tuple[tuple[str, str], ...]:
    """``"DOC=depth_of_cut,feed"`` (or a list) -> ((column, name), ...); names checked."""
    out = []
    for item in _split(value):
        col, _, name = item.partition("=")
        col, name = col.strip(), (name.strip() or col.strip())
        if not NAME.match(name) or (name.lower() in RESERVED):
            suggestion = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "factor"
            if not suggestion[0].isalpha():
                suggestion = f"f_{suggestion}"
            if suggestion.lower() in RESERVED:
                suggestion = f"factor_{suggestion}"
            raise UsageError(f"--factors {item}: '{name}' cannot be a column name (letters, digits, _; not a "
                             f"gold.experiment_runs column); rename it, e.g. --factors '{col}={suggestion}'")
        out.append((col, name))
    names = [n.lower() for _, n in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UsageError(f"--factors: the factor name '{dup}' is given twice (names are case-insensitive)")
    return tuple(out)


def _choice(option: str, value: str | None, allowed, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise UsageError(f"{option} is required (one of {', '.join(allowed)})")
        return None
    if value not in allowed:
        raise UsageError(f"{option} {value}: not a unit here; use one of {', '.join(allowed)}")
    return value


def build(values: Mapping[str, Any]) -> ImportSpec:
    """A validated spec from option values (argparse names or YAML keys, which are the same)."""
    v = dict(values)
    kind = v.get("kind")
    if kind not in KINDS:
        raise UsageError(f"kind {kind!r}: use runs or wear")
    for key in ("file", "experiment_id"):
        if not v.get(key):
            raise UsageError(f"{key.replace('_', '-')} is required")
    machine_given = bool(v.get("machine") or v.get("tool"))
    columns_given = bool(v.get("machine_column") or v.get("tool_column"))
    if machine_given and columns_given:
        raise UsageError("give --machine/--tool or --machine-column/--tool-column, not both")
    common = dict(kind=kind, file=str(v["file"]), experiment_id=str(v["experiment_id"]),
                  factors=parse_factors(v.get("factors")), run_column=v.get("run_column"),
                  machine=v.get("machine"), tool=v.get("tool"), machine_column=v.get("machine_column"),
                  tool_column=v.get("tool_column"), source=str(v.get("source") or v["file"]))
    if kind == "runs":
        if not v.get("life"):
            raise UsageError("--life COL is required for `runs` (the column of tool lives)")
        return ImportSpec(**common, life_column=str(v["life"]),
                          life_unit=_choice("--life-unit", v.get("life_unit"), LIFE_UNITS),
                          censored_column=v.get("censored_column"))
    wear = _split(v.get("wear_column"))
    if not wear:
        raise UsageError("--wear-column COL[,COL...] is required for `wear`")
    if not v.get("time_column"):
        raise UsageError("--time-column COL is required for `wear`")
    try:
        criterion = float(v.get("criterion") if v.get("criterion") is not None else DEFAULT_CRITERION_MM)
    except (TypeError, ValueError):
        raise UsageError(f"--criterion {v.get('criterion')!r}: not a number (mm of flank wear)") from None
    if not criterion > 0:
        raise UsageError(f"--criterion {criterion}: must be > 0 mm")
    return ImportSpec(**common, time_column=str(v["time_column"]),
                      time_unit=_choice("--time-unit", v.get("time_unit"), TIME_UNITS),
                      wear_columns=tuple(wear), wear_unit=_choice("--wear-unit", v.get("wear_unit"), WEAR_UNITS),
                      criterion=criterion, per_flute=bool(v.get("per_flute")))


YAML_KEYS = {"kind", "file", "experiment_id", "factors", "life", "life_unit", "censored_column", "run_column",
             "time_column", "time_unit", "wear_column", "wear_unit", "criterion", "per_flute", "machine", "tool",
             "machine_column", "tool_column"}


def load_map(path: str | Path, data_file: str | None = None) -> dict[str, Any]:
    """The keys of a YAML map file; ``file`` relative to the map's folder (or ``data_file``)."""
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except OSError as exc:
        raise UsageError(f"--map {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--map {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--map {path}: expected a mapping of option: value")
    doc = {str(k).replace("-", "_"): val for k, val in doc.items()}
    unknown = sorted(set(doc) - YAML_KEYS)
    if unknown:
        raise UsageError(f"--map {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(YAML_KEYS))}")
    if data_file:
        doc["file"] = data_file
    elif doc.get("file") and "://" not in str(doc["file"]) and not Path(str(doc["file"])).is_absolute():
        doc["source"] = str(doc["file"])
        doc["file"] = str(p.parent / str(doc["file"]))
    return doc


def from_args(args: argparse.Namespace) -> ImportSpec:
    """The spec of parsed options; ``--map`` gives defaults the command line overrides."""
    values = {}
    if getattr(args, "map", None):
        values.update(load_map(args.map))
    cli = {k: v for k, v in vars(args).items() if k in YAML_KEYS and v not in (None, False)}
    values.update(cli)
    if "file" in cli:
        values["source"] = cli["file"]
    return build(values)


def add_arguments(parser: argparse.ArgumentParser):
    """``runs`` and ``wear`` sub-commands (shared by the job and by ``toollife import``)."""
    sub = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    runs = sub.add_parser("runs", help="a worksheet: one row per run with its factor levels and tool life")
    wear = sub.add_parser("wear", help="a wear log: readings over time per tool; the life is where wear crosses the criterion")
    for p in (runs, wear):
        p.add_argument("file", nargs="?", help="CSV, Parquet or Excel .xlsx; a local path or s3a://bucket/key")
        p.add_argument("--map", help="YAML file with the same keys as these options (the options override it)")
        p.add_argument("--experiment-id", help="the experiment the rows belong to")
        p.add_argument("--factors", help="COL[,COL...]; COL=name renames (e.g. DOC=depth_of_cut); two levels each")
        p.add_argument("--run-column", help="column identifying the run/tool (default: "
                       + ("each row is a run" if p is runs else "the whole file is one run") + ")")
        p.add_argument("--machine", help=f"machine id of every row (default: '{DEFAULT_MACHINE}')")
        p.add_argument("--tool", help="tool id of every row (default: the experiment id)")
        p.add_argument("--machine-column", help="column holding the machine id")
        p.add_argument("--tool-column", help="column holding the tool id")
        # as for every job; SUPPRESS: an absent option leaves the main parser's value alone
        p.add_argument("--set", dest="overrides", action="append", default=argparse.SUPPRESS,
                       metavar="SECTION.KEY=VALUE", help="override one config key, as for the jobs (repeatable)")
    runs.add_argument("--life", help="column of the tool life")
    runs.add_argument("--life-unit", help=f"{'|'.join(LIFE_UNITS)} (hours are stored as minutes)")
    runs.add_argument("--censored-column", help="column flagging runs stopped before the end of life (1/true/yes/censored)")
    wear.add_argument("--time-column", help="column of the cumulative time / count at each reading")
    wear.add_argument("--time-unit", help="|".join(TIME_UNITS))
    wear.add_argument("--wear-column", help="flank-wear column(s); several: their max per reading, or --per-flute")
    wear.add_argument("--wear-unit", help="|".join(WEAR_UNITS))
    wear.add_argument("--criterion", type=float, default=None,
                      help=f"wear criterion in mm (default: {DEFAULT_CRITERION_MM}, ISO 3685)")
    wear.add_argument("--per-flute", action="store_true", help="each wear column is a run of its own")
    return sub

