"""`toollife report`: the PDF and the Excel file read back (pypdf, openpyxl) against the lakehouse
written without Spark, and the one line on a lakehouse without gold.doe_savings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from toollife.dashboard.report import write_report
from toollife.gold.savings_frames import plant_totals
from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]


def test_pdf_has_the_summary_table_and_three_charts(filled_lakehouse, tmp_path):
    config, written = filled_lakehouse
    path, headline = write_report(config, "pdf", tmp_path / "r.pdf")
    totals = plant_totals(written["gold.doe_savings"])
    assert f"{totals['annual_saving']:,.0f}" in headline
    pdf = PdfReader(path)
    assert len(pdf.pages) == 5              # summary, table, savings Pareto, effects Pareto, cost curve
    first = pdf.pages[0].extract_text()
    assert "what the recommended settings are worth" in first and f"{totals['annual_saving']:,.0f}" in first
    table = pdf.pages[1].extract_text()
    assert all(m in table for m in written["gold.doe_savings"]["machine_id"].unique())
    assert "Pareto chart of effects" in pdf.pages[3].extract_text()
    assert "Cost per part and its optimum" in pdf.pages[4].extract_text()


def test_xlsx_holds_the_same_figures(filled_lakehouse, tmp_path):
    config, written = filled_lakehouse
    path, _ = write_report(config, "xlsx", tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Combinations", "Pareto", "Charts"]
    summary = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=3, values_only=True)}
    assert summary["annual_saving"] == pytest.approx(plant_totals(written["gold.doe_savings"])["annual_saving"])
    rows = list(wb["Combinations"].iter_rows(values_only=True))
    assert len(rows) - 1 == len(written["gold.doe_savings"])
    assert len(wb["Charts"]._images) == 3


def test_cli_writes_the_file_and_says_what_is_missing(filled_lakehouse, tmp_path):
    config, _ = filled_lakehouse
    env = dict(os.environ, TOOLLIFE_CONF_DIR=str(REPO / "conf"))
    toollife = [sys.executable, "-m", "toollife.cli"]
    out = subprocess.run([*toollife, "report", "--format", "xlsx", "--output", str(tmp_path / "x.xlsx"),
                          "--set", f"lakehouse.root={config['lakehouse']['root']}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == f"toollife report: wrote {tmp_path / 'x.xlsx'}"
    empty = subprocess.run([*toollife, "report", "--set", f"lakehouse.root={tmp_path / 'none'}"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert empty.returncode == 3 and len(empty.stderr.strip().splitlines()) == 1, empty.stderr
    assert "jobs/compute_savings.py" in empty.stderr
