"""`toollife report`: the savings summary as one file a person can forward (PDF or Excel).

Read without Spark, like the dashboard (:mod:`toollife.lakehouse.reader`): gold.doe_savings (the
figures), gold.doe_effects and gold.doe_optimal_settings (the charts of the combination with the
largest saving). The PDF (matplotlib's PDF backend) has the summary, the per-combination table,
the Pareto of where the money is, the Pareto of effects and the cost curve with its optimum; the
Excel workbook (openpyxl) has the same tables as sheets and the charts as pictures. No report server.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from toollife.config import job_config
from toollife.dashboard import data, savings_view
from toollife.errors import MissingInputError, UsageError
from toollife.lakehouse import reader

FORMATS = ("pdf", "xlsx")
TABLE_COLUMNS = ["experiment_id", "machine_id", "tool_id", "status", "annual_saving", "annual_saving_low",
                 "annual_saving_high", "significant", "cost_per_part_now", "cost_per_part_optimal", "optimal_speed",
                 "tool_changes_per_year_now", "tool_changes_per_year_optimal", "experiment_cost", "payback_days", "reason"]


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("--format", choices=FORMATS, default="pdf", help="pdf (default) or xlsx")
    parser.add_argument("--experiment-id", action="append", default=None, metavar="ID",
                        help="only these experiments (repeatable; default: all in gold.doe_savings)")
    parser.add_argument("--output", default=None, metavar="PATH",
                        help="file to write (default: var/reports/toollife_report.<format>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key, as for the jobs (repeatable)")


def _read(config: Mapping[str, Any], qualified: str, experiments: Sequence[str] | None) -> pd.DataFrame | None:
    filters = [("experiment_id", "in", list(experiments))] if experiments else None
    got = reader.read(config, qualified, filters=filters)
    return got.frame if got.ok else None


def gather(config: Mapping[str, Any], experiments: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything the report shows; raises MissingInputError when gold.doe_savings has no rows."""
    savings = _read(config, "gold.doe_savings", experiments)
    if savings is None or not len(savings):
        which = f" of experiment(s) {', '.join(experiments)}" if experiments else ""
        raise MissingInputError(f"gold.doe_savings has no rows{which} under {config['lakehouse']['root']}: run "
                                f"`toollife submit {reader.filled_by('gold.doe_savings')}` first")
    totals = savings_view.totals(savings)
    ranked = savings_view.ranked(savings)
    top = None
    if len(ranked):
        best = savings[savings["status"] == "ok"].sort_values("annual_saving", ascending=False).iloc[0]
        top = (best["experiment_id"], best["machine_id"], best["tool_id"])
    effects = _read(config, "gold.doe_effects", experiments)
    optimal = _read(config, "gold.doe_optimal_settings", experiments)
    return {"savings": savings, "totals": totals, "headline": savings_view.headline(totals), "ranked": ranked,
            "table": savings.sort_values("annual_saving", ascending=False)[TABLE_COLUMNS].reset_index(drop=True),
            "top": top, "effects": data.pick(effects, *top) if top and effects is not None else None,
            "optimal": data.pick(optimal, *top) if top and optimal is not None else None,
            "config": config}


def charts(report: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(title, matplotlib Figure) of each chart: the savings Pareto, the effects Pareto, the cost curve."""
    from matplotlib.figure import Figure

    from toollife.doe import plots

    out = []
    ranked = report["ranked"]
    if len(ranked):
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.add_subplot()
        ax.barh(ranked["combination"][::-1], ranked["annual_saving"][::-1], color="tab:green")
        err = ranked[["annual_saving_low", "annual_saving_high"]].to_numpy()[::-1]
        ax.errorbar(ranked["annual_saving"][::-1], range(len(ranked)),
                    xerr=[ranked["annual_saving"][::-1] - err[:, 0], err[:, 1] - ranked["annual_saving"][::-1]],
                    fmt="none", color="black", capsize=3)
        ax.set_xlabel("annual saving (95 % interval)")
        ax.set_title("Where the money is: annual saving per machine × tool")
        out.append(("savings_pareto", fig))
    machine_tool = f"{report['top'][1]} · {report['top'][2]}" if report["top"] else ""
    if report["effects"] is not None and len(report["effects"]):
        out.append(("effects_pareto", plots.pareto_figure(report["effects"], alpha=float(report["config"]["doe"]["alpha"]),
                                                          title=f"Pareto chart of effects ({machine_tool})")))
    if report["optimal"] is not None and len(report["optimal"]):
        taylor = data.taylor_params(report["optimal"].iloc[0].to_dict())
        if taylor is not None:
            base = data.baseline_conditions(report["config"])
            out.append(("cost_curve", plots.cost_curve_figure(
                taylor, base["f"], base["d"], dict(report["config"]["doe"]["cost"]), coolant=base["coolant"],
                coating=base["coating"], current_speed=base["current_speed"],
                title=f"Cost per part and its optimum ({machine_tool})")))
    return out


def _text_page(title: str, lines: Sequence[str], table: pd.DataFrame | None = None):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.69, 8.27))          # A4 landscape
    fig.text(0.05, 0.93, title, fontsize=18, weight="bold")
    y = 0.87
    for line in lines:
        fig.text(0.05, y, line, fontsize=10, wrap=True)
        y -= 0.04
    if table is not None and len(table):
        ax = fig.add_axes([0.05, 0.05, 0.9, y - 0.07])
        ax.axis("off")
        shown = table.head(30).copy()
        for c in shown.columns:
            if pd.api.types.is_float_dtype(shown[c]):
                shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        t = ax.table(cellText=shown.astype(str).to_numpy(), colLabels=list(shown.columns), loc="upper left")
        t.auto_set_font_size(False)
        t.set_fontsize(6)
    return fig


def write_pdf(report: Mapping[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_pdf import PdfPages

    t = report["totals"]
    summary = [report["headline"],
               f"combinations: {t['combinations']} ({t['combinations_costed']} costed, "
               f"{t['combinations_significant']} with a saving distinguishable from zero)",
               "Intervals: 95 % from the fitted Taylor parameters' uncertainty (delta method); the plant total sums "
               "the bounds (conservative).", "Source: gold.doe_savings, gold.doe_effects, gold.doe_optimal_settings."]
    with PdfPages(path) as pdf:
        pdf.savefig(_text_page("Tool-life DOE: what the recommended settings are worth", summary))
        cols = ["experiment_id", "machine_id", "tool_id", "status", "annual_saving", "annual_saving_low",
                "annual_saving_high", "significant", "optimal_speed", "experiment_cost", "payback_days"]
        pdf.savefig(_text_page("Per machine × tool", [], report["table"][cols]))
        for _name, fig in charts(report):
            pdf.savefig(fig)
        meta = pdf.infodict()
        meta["Title"], meta["Subject"] = "toollife savings report", report["headline"]
    return path


def write_xlsx(report: Mapping[str, Any], path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws.append(["Tool-life DOE: what the recommended settings are worth"])
    ws.append([report["headline"]])
    for key, value in report["totals"].items():
        ws.append([key, None if pd.isna(value) else value])
    for title, frame in (("Combinations", report["table"]), ("Pareto", report["ranked"])):
        sheet = wb.create_sheet(title)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row])
    charts_sheet = wb.create_sheet("Charts")
    row = 1
    for name, fig in charts(report):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        buf.seek(0)
        img = Image(buf)
        charts_sheet.add_image(img, f"A{row}")
        charts_sheet.cell(row=row, column=12, value=name)
        row += 28
    wb.save(path)
    return path


def write_report(config: Mapping[str, Any], fmt: str, output: str | Path | None = None,
                 experiments: Sequence[str] | None = None) -> tuple[Path, str]:
    """(the file written, the headline)."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    report = gather(config, experiments)
    path = Path(output) if output else Path("var") / "reports" / f"toollife_report.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    (write_pdf if fmt == "pdf" else write_xlsx)(report, path)
    return path.resolve(), report["headline"]


def run(args: argparse.Namespace) -> int:
    config = job_config(args.env, None, args.overrides)
    path, headline = write_report(config, args.format, args.output, args.experiment_id)
    print(f"toollife report: {headline}")
    print(f"toollife report: wrote {path}")
    return 0
