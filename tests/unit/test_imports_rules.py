"""Reading, spec and quarantine rules of the import, on small CSVs written in tmp_path (no Spark)."""

import json

import pytest

from toollife.errors import MissingInputError, UsageError
from toollife.imports import reading, rules, spec as specs


def wear_spec(path, **extra):
    return specs.build({"kind": "wear", "file": str(path), "experiment_id": "e", "run_column": "tool",
                        "time_column": "t", "time_unit": "min", "wear_column": "vb", "wear_unit": "mm",
                        "factors": "f", **extra})


def parse(tmp_path, text, **extra):
    path = tmp_path / "in.csv"
    path.write_text(text)
    spec = wear_spec(path, **extra)
    frame = reading.read_table(str(path))
    reading.require_columns(frame, spec.columns_used, str(path))
    return rules.parse(frame, spec)


def reasons(parsed):
    return sorted(zip(parsed.quarantine["source_line"], parsed.quarantine["reason"]))


def test_a_good_log_gives_readings_runs_and_no_quarantine(tmp_path):
    p = parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,10,0.2,a\n1,20,0.4,a\n2,0,0,b\n2,,,b\n2,5,,b\n")
    assert reasons(p) == [(6, "missing_value")]          # a blank time is missing; a blank wear is not
    assert p.not_measured == 1 and len(p.readings) == 4
    runs = p.runs.set_index("run_id")
    assert runs.loc[1, "tool_life"] == pytest.approx(15.0) and runs.loc[2, "status"] == "no_life"
    assert runs.loc[1, "coded"] == {"f": -1.0} and runs.loc[2, "coded"] == {"f": 1.0}
    assert list(p.readings["source_line"]) == [2, 3, 4, 5]


def test_non_numeric_value(tmp_path):
    p = parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,5,0.1mm,a\n1,x,0.2,a\n")
    assert reasons(p) == [(3, "not_a_number"), (4, "not_a_number")]
    assert json.loads(p.quarantine.loc[0, "raw_json"]) == {"tool": "1", "t": "5", "vb": "0.1mm", "f": "a"}


def test_negative_wear(tmp_path):
    assert reasons(parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,5,-0.01,a\n")) == [(3, "negative_wear")]


def test_time_running_backwards_within_a_tool(tmp_path):
    p = parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,10,0.2,a\n1,8,0.25,a\n1,20,0.4,a\n2,5,0,b\n2,9,0,b\n")
    assert reasons(p) == [(4, "time_backwards")]
    assert p.runs.set_index("run_id").loc[1, "tool_life"] == pytest.approx(15.0)   # from the other readings


def test_one_run_under_two_sets_of_factor_levels(tmp_path):
    p = parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,5,0.1,b\n2,0,0,a\n2,5,0.4,b\n3,0,0,b\n3,9,0.1,b\n")
    assert reasons(p) == [(2, "conflicting_factors"), (3, "conflicting_factors"), (4, "conflicting_factors"),
                          (5, "conflicting_factors")]
    assert list(p.runs["run_id"]) == [3]


def test_a_factor_with_more_than_two_levels_quarantines_the_experiment(tmp_path):
    p = parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,5,0.1,a\n2,0,0,b\n3,0,0,c\n")
    assert reasons(p) == [(2, "too_many_levels"), (3, "too_many_levels"), (4, "too_many_levels"),
                          (5, "too_many_levels")]
    assert p.runs.empty and "3 levels" in p.quarantine.loc[0, "detail"]


def test_a_row_with_more_cells_than_the_header(tmp_path):
    assert reasons(parse(tmp_path, "tool,t,vb,f\n1,0,0,a\n1,5,0.1,a,oops\n")) == [(3, "extra_cells")]


def test_wide_logs_take_the_max_or_a_run_per_flute_and_micrometres_become_mm(tmp_path):
    text = "t,f1,f2\n0,10,20\n10,200,100\n20,400,300\n"
    path = tmp_path / "w.csv"
    path.write_text(text)
    base = {"kind": "wear", "file": str(path), "experiment_id": "w", "time_column": "t", "time_unit": "cuts",
            "wear_column": "f1,f2", "wear_unit": "um"}
    frame = reading.read_table(str(path))
    wide = rules.parse(frame, specs.build(base))
    assert list(wide.readings["wear_mm"]) == [0.02, 0.2, 0.4]
    assert wide.runs.loc[0, "tool_life"] == pytest.approx(15.0) and wide.runs.loc[0, "tool_id"] == "w"
    flutes = rules.parse(frame, specs.build({**base, "per_flute": True}))
    assert list(flutes.runs["run_id"]) == [1, 2]
    assert list(flutes.runs["tool_life"]) == [pytest.approx(15.0), pytest.approx(20.0)]


def test_a_worksheet_converts_hours_and_reads_the_censored_flag(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("A,life,c\n-1,2,no\n1,1.5,yes\n-1,x,0\n1,3,maybe\n")
    spec = specs.build({"kind": "runs", "file": str(path), "experiment_id": "r", "life": "life", "life_unit": "h",
                        "censored_column": "c", "factors": "A=speed"})
    p = rules.parse(reading.read_table(str(path)), spec)
    assert reasons(p) == [(4, "not_a_number"), (5, "not_a_flag")]
    assert list(p.runs["status"]) == ["completed", "censored"] and p.runs.loc[0, "tool_life"] == 120.0
    assert p.runs.loc[1, "censored_life"] == 90.0 and p.runs.loc[0, "life_unit"] == "min"
    assert p.factor_types == {"speed": "double"}


def test_unusable_files_are_one_line_errors(tmp_path):
    with pytest.raises(MissingInputError, match="no file"):
        reading.read_table(str(tmp_path / "nope.csv"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(UsageError, match="unknown file type"):
        reading.read_table(str(tmp_path / "x.json"))
    (tmp_path / "bad.xlsx").write_text("not a workbook")
    with pytest.raises(UsageError, match="not an Excel"):
        reading.read_table(str(tmp_path / "bad.xlsx"))
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    with pytest.raises(UsageError, match=r"no column 'vb'; the columns are: x, y"):
        reading.require_columns(reading.read_table(str(tmp_path / "a.csv")), ["x", "vb"], "a.csv")


def test_excel_rows_carry_their_sheet_row(tmp_path):
    import pandas as pd

    path = tmp_path / "s.xlsx"
    pd.DataFrame({"t": [0, 5], "vb": [0.0, 0.4]}).to_excel(path, index=False)
    frame = reading.read_table(str(path))
    assert list(frame["_line"]) == [2, 3] and list(frame["vb"]) == ["0", "0.4"]  # Excel keeps 0.0 as the number 0


@pytest.mark.parametrize("values, message", [
    ({"wear_unit": "inch"}, "--wear-unit inch: not a unit here; use one of mm, um"),
    ({"time_unit": "s"}, "--time-unit s: not a unit here"),
    ({"factors": "depth of cut"}, "--factors 'depth of cut=depth_of_cut'"),
    ({"factors": "status"}, "rename it, e.g. --factors 'status=factor_status'"),
    ({"criterion": "-1"}, "must be > 0"),
    ({"machine": "m", "tool_column": "x"}, "not both"),
])
def test_spec_mistakes_are_one_line_usage_errors(values, message):
    base = {"kind": "wear", "file": "f.csv", "experiment_id": "e", "time_column": "t", "time_unit": "min",
            "wear_column": "vb", "wear_unit": "mm"}
    with pytest.raises(UsageError, match=None) as err:
        specs.build({**base, **values})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_factors_rename_and_the_spec_round_trips_through_the_job_arguments(tmp_path):
    import argparse

    spec = specs.build({"kind": "wear", "file": "n.csv", "experiment_id": "e", "run_column": "case",
                        "time_column": "time", "time_unit": "min", "wear_column": "VB", "wear_unit": "mm",
                        "factors": "DOC=depth_of_cut,feed", "criterion": 0.25})
    assert spec.factors == (("DOC", "depth_of_cut"), ("feed", "feed")) and spec.machine_id == "imported"
    assert spec.tool_id == "e"
    parser = argparse.ArgumentParser()
    specs.add_arguments(parser)
    assert specs.from_args(parser.parse_args(spec.to_argv())) == spec
    yaml_map = tmp_path / "n.yaml"
    yaml_map.write_text("kind: wear\nfile: n.csv\nexperiment_id: e\nrun_column: case\ntime_column: time\n"
                        "time_unit: min\nwear_column: [VB]\nwear_unit: mm\nfactors: [DOC=depth_of_cut, feed]\n"
                        "criterion: 0.25\n")
    from_map = specs.from_args(parser.parse_args(["wear", "--map", str(yaml_map)]))
    assert from_map.factors == spec.factors and from_map.file == str(tmp_path / "n.csv") and from_map.source == "n.csv"


def test_the_landing_folder_imports_each_data_file_with_a_map_beside_it(tmp_path, capsys):
    import argparse
    import importlib.util
    from pathlib import Path

    job = Path(__file__).resolve().parents[2] / "jobs" / "import_measurements.py"
    loader = importlib.util.spec_from_file_location("import_measurements_job", job)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    (tmp_path / "lot7.csv").write_text("t,vb\n0,0\n10,0.4\n")
    (tmp_path / "lot7.yaml").write_text("kind: wear\nexperiment_id: lot7\ntime_column: t\ntime_unit: min\n"
                                        "wear_column: vb\nwear_unit: mm\n")
    (tmp_path / "stray.csv").write_text("t,vb\n")
    [(spec, parsed)] = module.prepare({"imports": {"landing_dir": str(tmp_path)}},
                                      argparse.Namespace(kind="landing", landing_dir=None))
    assert spec.file == str(tmp_path / "lot7.csv") and spec.source == "lot7.csv"
    assert parsed.runs.loc[0, "tool_life"] == pytest.approx(7.5)
    assert "stray.csv" in capsys.readouterr().err
