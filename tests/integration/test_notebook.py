"""notebooks/doe_exploration.ipynb runs headless (nbclient, a real IPython kernel) over the small
test lakehouse without a cell error, draws its figures, and is committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dashboard_lakehouse import filled_lakehouse  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "doe_exploration.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_over_the_lakehouse(filled_lakehouse, monkeypatch):
    config, written = filled_lakehouse
    monkeypatch.setenv("TOOLLIFE__LAKEHOUSE__ROOT", config["lakehouse"]["root"])   # the kernel inherits it
    monkeypatch.setenv("TOOLLIFE_NOTEBOOK_MACHINE", "M02")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # raises CellExecutionError (with the cell and its traceback) on any cell error
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4            # Pareto, half-normal, interaction, main effects
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert f"lakehouse: {config['lakehouse']['root']}" in text
    assert "EXP-1 · M02 · T01" in text            # the first analysed combination of that machine
    optimal = written["gold.doe_optimal_settings"]
    best = optimal[(optimal["machine_id"] == "M02") & (optimal["tool_id"] == "T01")].iloc[0]
    assert f"expect **{best['predicted_tool_life_min']:.1f} min** of tool life" in text
    assert "cutting_speed" in text and "significant at alpha = 0.05" in text
