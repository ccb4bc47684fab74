"""Rows of an input file -> typed readings, one row per run, and quarantine rows (pure pandas).

Quarantine reasons (``REASONS``), one per row, the first that applies:

* ``extra_cells``       a CSV row with more cells than the header
* ``missing_value``     a blank run / machine / tool / factor / time / life cell
* ``not_a_number``      a time, wear or life that is not a finite number
* ``negative_wear``     a wear below 0
* ``negative_life``     a tool life below 0
* ``not_a_flag``        a censored cell that is neither yes (1, true, yes, y, censored) nor no
                        (0, false, no, n, blank)
* ``time_backwards``    a reading whose time is before an earlier reading of the same tool (the
                        row is quarantined, the tool's other readings are kept)
* ``conflicting_factors`` one run (one tool of a wear log, one run id of a worksheet) under two
                        sets of factor levels: every row of that run (which levels are right is
                        not knowable)
* ``too_many_levels``   a factor with more than two levels: every row of the experiment (a
                        two-level design cannot be coded from it), the levels are in the detail

A blank wear is a time with no measurement: skipped and counted (``not_measured``), not an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from toollife.errors import UsageError
from toollife.imports.life import life_from_wear
from toollife.imports.reading import LINE
from toollife.imports.spec import LIFE_UNITS, WEAR_UNITS, ImportSpec

REASONS = ("extra_cells", "missing_value", "not_a_number", "negative_wear", "negative_life", "not_a_flag",
           "time_backwards", "conflicting_factors", "too_many_levels")
NUMERIC_STANDARD = ("cutting_speed", "feed", "depth_of_cut")
YES = {"1", "true", "yes", "y", "censored", "c"}
NO = {"0", "false", "no", "n", ""}


@dataclass
class Parsed:
    readings: pd.DataFrame                      # one row per measured wear reading (wear logs)
    runs: pd.DataFrame                          # one row per run
    quarantine: pd.DataFrame                    # one row per quarantined input row
    factor_types: dict[str, str] = field(default_factory=dict)   # name -> "double" | "string"
    not_measured: int = 0                       # blank wear cells skipped


class _Bad(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def number(text: str) -> float | None:
    """A finite float of ``text``, or None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _required(row, col: str) -> str:
    value = row[col]
    if value == "":
        raise _Bad("missing_value", f"{col} is blank")
    return value


def _numeric(row, col: str) -> float:
    value = number(_required(row, col))
    if value is None:
        raise _Bad("not_a_number", f"{col}={row[col]!r} is not a number")
    return value


def _run_ids(values: list[str]) -> dict[str, int]:
    """Run labels -> run ids: the integers themselves when every label is one, else 1.. in order."""
    ints = {v: number(v) for v in values}
    if all(x is not None and float(x).is_integer() for x in ints.values()) and len(set(int(x) for x in ints.values())) == len(ints):
        return {v: int(x) for v, x in ints.items()}
    return {v: i for i, v in enumerate(dict.fromkeys(values), start=1)}


def _code(levels: list[str]) -> tuple[str, dict[str, object], dict[str, float | None]]:
    """(type, natural value per level, coded value per level) of one factor's levels."""
    nums = {lv: number(lv) for lv in levels}
    if all(v is not None for v in nums.values()):
        ordered = sorted(levels, key=lambda lv: nums[lv])
        natural = {lv: nums[lv] for lv in levels}
        kind = "double"
    else:
        ordered, natural, kind = sorted(levels), {lv: lv for lv in levels}, "string"
    if len(ordered) < 2:
        return kind, natural, {lv: None for lv in levels}
    return kind, natural, {ordered[0]: -1.0, ordered[-1]: 1.0}


def _q(spec: ImportSpec, line: int, reason: str, detail: str, raw: dict) -> dict:
    return {"experiment_id": spec.experiment_id, "source_file": spec.source or spec.file, "source_line": int(line),
            "reason": reason, "detail": detail, "raw_json": json.dumps(raw, ensure_ascii=False)}


def parse(frame: pd.DataFrame, spec: ImportSpec) -> Parsed:
    """Validate and type every row of ``frame`` (strings + ``_line``, see :mod:`.reading`)."""
    cols = [c for c in frame.columns if c != LINE]
    quarantine: list[dict] = []
    too_long = set(frame.attrs.get("too_long", []))
    good = []          # dicts per valid row
    for position, row in enumerate(frame.to_dict("records"), start=1):
        raw = {c: row[c] for c in cols}
        line = row[LINE]
        try:
            if line in too_long:
                raise _Bad("extra_cells", f"more cells than the {len(cols)} columns of the header")
            good.append(_typed_row(row, spec, position))
        except _Bad as bad:
            quarantine.append(_q(spec, line, bad.reason, bad.detail, raw))
    raws = {row[LINE]: {c: row[c] for c in cols} for row in frame.to_dict("records")}

    def drop(rows, reason, detail_of):
        for r in rows:
            quarantine.append(_q(spec, r["line"], reason, detail_of(r), raws[r["line"]]))

    # one run under two sets of factor levels: the whole run
    by_run: dict[str, list[dict]] = {}
    for r in good:
        by_run.setdefault((r["machine_id"], r["tool_id"], r["run"]), []).append(r)
    conflicted = set()
    for key, rows in by_run.items():
        sets = {tuple(r["levels"].items()) for r in rows}
        duplicate_worksheet_run = spec.kind == "runs" and spec.run_column and len(rows) > 1
        if len(sets) > 1 or duplicate_worksheet_run:
            conflicted.add(key)
            seen = "; ".join(sorted(",".join(f"{k}={v}" for k, v in s) for s in sets))
            drop(rows, "conflicting_factors", lambda r, seen=seen, key=key:
                 f"run {key[2]} appears {len(rows)} times" if len(sets) == 1 else f"run {key[2]} has levels {seen}")
    good = [r for r in good if (r["machine_id"], r["tool_id"], r["run"]) not in conflicted]
    # time running backwards within a tool (wear logs): the row that goes back
    if spec.kind == "wear":
        latest: dict[tuple, float] = {}
        kept = []
        for r in good:
            key = (r["machine_id"], r["tool_id"], r["run"])
            if key in latest and r["time"] < latest[key]:
                drop([r], "time_backwards", lambda r, t=latest[key]: f"{spec.time_column}={r['time']:g} after {t:g}")
                continue
            latest[key] = max(r["time"], latest.get(key, r["time"]))
            kept.append(r)
        good = kept
    # a factor with more than two levels: the whole experiment
    factor_types, natural, coded = {}, {}, {}
    for _, name in spec.factors:
        levels = list(dict.fromkeys(r["levels"][name] for r in good))
        if len(levels) > 2:
            detail = f"factor {name} has {len(levels)} levels ({', '.join(levels[:6])}); a two-level factor needs 2"
            drop(good, "too_many_levels", lambda r, d=detail: d)
            good = []
            break
        factor_types[name], natural[name], coded[name] = _code(levels)
        if name in NUMERIC_STANDARD and factor_types[name] != "double":
            raise UsageError(f"--factors: {name} fills gold.experiment_runs.{name}, a number, but its levels are "
                             f"{', '.join(levels)}; rename it (COL={name}_level) to import it as a category")
    readings, runs, not_measured = _runs(good, spec, natural, coded)
    quarantine_df = pd.DataFrame(quarantine, columns=["experiment_id", "source_file", "source_line", "reason",
                                                      "detail", "raw_json"])
    quarantine_df = quarantine_df.sort_values(["source_line", "reason"], kind="stable").reset_index(drop=True)
    return Parsed(readings, runs, quarantine_df, factor_types, not_measured)


def _typed_row(row, spec: ImportSpec, position: int) -> dict:
    out = {"line": row[LINE], "position": position,
           "machine_id": _required(row, spec.machine_column) if spec.machine_column else spec.machine_id,
           "tool_id": _required(row, spec.tool_column) if spec.tool_column else spec.tool_id,
           "run": _required(row, spec.run_column) if spec.run_column else
           (str(position) if spec.kind == "runs" else "1"),
           "levels": {name: _required(row, col) for col, name in spec.factors}}
    if spec.kind == "runs":
        life = _numeric(row, spec.life_column)
        if life < 0:
            raise _Bad("negative_life", f"{spec.life_column}={row[spec.life_column]!r} is below 0")
        out["life"] = life * LIFE_UNITS[spec.life_unit][1]
        flag = row[spec.censored_column].lower() if spec.censored_column else ""
        if flag not in YES | NO:
            raise _Bad("not_a_flag", f"{spec.censored_column}={row[spec.censored_column]!r} is not yes/no")
        out["censored"] = flag in YES
        return out
    out["time"] = _numeric(row, spec.time_column)
    wear = {}
    for col in spec.wear_columns:
        if row[col] == "":
            wear[col] = float("nan")
            continue
        value = number(row[col])
        if value is None:
            raise _Bad("not_a_number", f"{col}={row[col]!r} is not a number")
        if value < 0:
            raise _Bad("negative_wear", f"{col}={row[col]!r} is below 0")
        wear[col] = value * WEAR_UNITS[spec.wear_unit]
    out["wear"] = wear
    return out


def _runs(good: list[dict], spec: ImportSpec, natural, coded) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Readings and one row per run from the valid rows."""
    if not good:
        return pd.DataFrame(), pd.DataFrame(), 0
    names = [n for _, n in spec.factors]
    design = [n for n in names if any(v is not None for v in coded[n].values())]
    keys = list(dict.fromkeys((r["machine_id"], r["tool_id"], r["run"]) for r in good))
    flutes = list(spec.wear_columns) if (spec.kind == "wear" and spec.per_flute) else [None]
    labels = [f"{k[2]}\x00{f}" for k in keys for f in flutes]
    plain = _run_ids([k[2] for k in keys]) if flutes == [None] else None
    ids = {lb: (plain[lb.split("\x00")[0]] if plain else i) for i, lb in enumerate(labels, start=1)}
    readings, runs, not_measured, cells = [], [], 0, {}
    wear_label = spec.wear_columns[0] if len(spec.wear_columns) == 1 else f"max({','.join(spec.wear_columns)})"
    for key in keys:
        rows = [r for r in good if (r["machine_id"], r["tool_id"], r["run"]) == key]
        levels = rows[0]["levels"]
        for flute in flutes:
            run_id = ids[f"{key[2]}\x00{flute}"]
            cell = (key[0], key[1], tuple(levels.values()))
            cells[cell] = cells.get(cell, 0) + 1
            base = {"experiment_id": spec.experiment_id, "machine_id": key[0], "tool_id": key[1],
                    "run_id": run_id, "replicate": cells[cell], "source": spec.source or spec.file,
                    "first_line": rows[0]["line"],
                    "levels": {n: natural[n][levels[n]] for n in names},
                    "coded": {n: coded[n].get(levels[n]) for n in names}, "design_factors": design}
            if spec.kind == "runs":
                r = rows[0]
                unit = LIFE_UNITS[spec.life_unit][0]
                runs.append({**base, "status": "censored" if r["censored"] else "completed",
                             "tool_life": None if r["censored"] else r["life"],
                             "censored_life": r["life"] if r["censored"] else None,
                             "life_unit": unit, "flank_wear_mm": None, "n_readings": 0})
                continue
            times, wears = [], []
            for r in rows:
                values = [r["wear"][flute]] if flute else list(r["wear"].values())
                measured = [v for v in values if not math.isnan(v)]
                not_measured += len(values) - len(measured)
                if not measured:
                    continue
                times.append(r["time"])
                wears.append(max(measured))
                readings.append({"experiment_id": spec.experiment_id, "machine_id": key[0], "tool_id": key[1],
                                 "run_id": run_id, "time": r["time"], "time_unit": spec.time_unit,
                                 "wear_mm": max(measured), "wear_column": flute or wear_label,
                                 "source_file": spec.source or spec.file, "source_line": int(r["line"])})
            life = life_from_wear(times, wears, spec.criterion)
            runs.append({**base, "status": life.status, "tool_life": life.tool_life,
                         "censored_life": life.censored_life, "life_unit": spec.time_unit,
                         "flank_wear_mm": life.final_wear, "n_readings": life.n_readings})
    return pd.DataFrame(readings), pd.DataFrame(runs), not_measured
