"""spark-submit jobs/import_measurements.py runs|wear FILE --experiment-id ID ... | landing [--landing-dir DIR]

Real tool-life data -> the lakehouse (see docs/importing.md):

  runs  a worksheet, one row per run: factor levels and the tool life (--life, --life-unit),
        optionally a censored flag -> gold.experiment_runs
  wear  a wear log: readings of flank wear over time per tool -> silver.wear_measurements, and
        per tool the life where the wear first reaches --criterion (default 0.3 mm; never
        reached: censored at the last reading; no reading beyond the start: no_life) ->
        gold.experiment_runs
  landing  every data file in the landing folder (conf: imports.landing_dir) that has a YAML map
        file of the same stem beside it (what the import_measurements DAG runs)

Rows that cannot be used go to silver.import_quarantine with the reason, file, line and raw row.
Each table is a row_hash MERGE scoped to the experiment + file: importing the same file again
changes nothing; a corrected file updates what changed and removes the rows that are gone.
Machine / tool default to 'imported' / the experiment id. Conf options (--env, --set) go before
the kind.

The file is read, checked and parsed before the JVM starts: a missing column or an unknown unit
is one line and exit 2, a file that does not exist exit 3. The summary line counts the runs,
readings, quarantined rows, censored and no_life runs; exit 4 when every row was quarantined.
"""

import sys
from pathlib import Path

from toollife.errors import NothingAnalysedError, UsageError, warn
from toollife.runtime.job import run_job

NAME = "import_measurements"
DATA_SUFFIXES = (".csv", ".xlsx", ".parquet")


def prepare(config, args):
    """[(spec, parsed)] for the command's file, or for every mapped file of the landing folder."""
    from toollife.imports import reading, rules, spec as specs

    if args.kind == "landing":
        folder = Path(args.landing_dir or config["imports"]["landing_dir"])
        if args.landing_dir and not folder.is_dir():
            raise UsageError(f"no landing folder {folder}")
        chosen = []
        maps = (sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))) if folder.is_dir() else []
        stems = {m.stem for m in maps}
        unmapped = sorted(p.name for p in folder.glob("*") if p.suffix in DATA_SUFFIXES and p.stem not in stems) \
            if folder.is_dir() else []
        if unmapped:
            warn(NAME, f"{len(unmapped)} file(s) in {folder} without a map file beside them, not imported: "
                       f"{', '.join(unmapped[:5])} (add <name>.yaml, see docs/importing.md)")
        for map_file in maps:
            data = next((map_file.with_suffix(s) for s in DATA_SUFFIXES if map_file.with_suffix(s).is_file()), None)
            chosen.append(specs.build({**specs.load_map(map_file, str(data) if data else None),
                                       **({"source": data.name} if data else {})}))
    else:
        chosen = [specs.from_args(args)]
    out = []
    for spec in chosen:
        frame = reading.read_table(spec.file, config)
        reading.require_columns(frame, spec.columns_used, spec.source or spec.file)
        out.append((spec, rules.parse(frame, spec)))
    return out


_PREPARED: dict[int, list] = {}   # preflight's parse, kept for main (not on args: those are logged)


def preflight(config, args):
    """Before the SparkSession: the file(s) read, their columns and units checked, rows parsed."""
    _PREPARED[id(args)] = prepare(config, args)


def main(spark, config, args):
    from toollife.imports import landing

    prepared = _PREPARED.pop(id(args), None) or prepare(config, args)
    merged = landing.land(spark, config, prepared) if prepared else {}
    files = [landing.summary(spec, parsed) for spec, parsed in prepared]
    totals = {k: sum(f[k] for f in files) for k in ("runs", "readings", "quarantined", "completed", "censored",
                                                    "no_life", "not_measured")}
    metrics = {**totals, "merged": merged, "files": files}
    if args.kind == "landing" and not files:
        warn(NAME, "no map file (<name>.yaml beside <name>.csv) in the landing folder: nothing imported")
    for f in files:
        if f["quarantined"]:
            warn(NAME, f"{f['source']}: {f['quarantined']} row(s) quarantined ({f['quarantined_by_reason']}): "
                       "see silver.import_quarantine")
    for f in files:
        print(f"{NAME}: {f['experiment_id']}: {f['runs']} runs ({f['completed']} with a life, {f['censored']} censored, "
              f"{f['no_life']} without a life), {f['readings']} wear readings, {f['quarantined']} quarantined, "
              f"from {f['source']}", flush=True)
    if files:
        print(f"{NAME}: in gold.experiment_runs; analyse with `toollife submit jobs/compute_doe_effects.py`, "
              "then the dashboard's DOE page or gold.doe_effects", flush=True)
    if files and totals["runs"] == 0:
        raise NothingAnalysedError(f"no run could be imported: every row of {', '.join(f['source'] for f in files)} "
                                   "was quarantined (silver.import_quarantine)", metrics=metrics)
    return metrics


def add_arguments(parser):
    from toollife.imports import spec

    sub = spec.add_arguments(parser)
    landing = sub.add_parser("landing", help="import every mapped file of the landing folder")
    landing.add_argument("--landing-dir", default=None, help="the folder (conf: imports.landing_dir)")


if __name__ == "__main__":
    sys.exit(run_job(NAME, main, description=__doc__, add_arguments=add_arguments, preflight=preflight))
