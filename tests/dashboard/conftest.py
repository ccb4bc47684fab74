"""Lakehouses for the dashboard tests, written without Spark (see dashboard_lakehouse.py)."""

from __future__ import annotations

import copy

import pytest

import dashboard_lakehouse


def _config(base_config, root):
    config = copy.deepcopy(base_config)
    config["lakehouse"]["root"] = str(root)
    return config


@pytest.fixture(scope="session")
def filled_lakehouse(base_config, tmp_path_factory):
    """(config, frames written) of a lakehouse with every table the dashboard reads."""
    config = _config(base_config, tmp_path_factory.mktemp("dash-filled") / "tables")
    return config, dashboard_lakehouse.write_lakehouse(config)


@pytest.fixture(scope="session")
def empty_tables_lakehouse(base_config, tmp_path_factory):
    """Every table exists, none has a row."""
    config = _config(base_config, tmp_path_factory.mktemp("dash-empty-tables") / "tables")
    dashboard_lakehouse.write_lakehouse(config, empty=True)
    return config


@pytest.fixture
def point_app_at(monkeypatch):
    """Point the dashboard (which reads conf from the environment, as `toollife dashboard` hands
    it over) at a lakehouse root."""
    def point(config_or_root):
        root = config_or_root["lakehouse"]["root"] if isinstance(config_or_root, dict) else str(config_or_root)
        monkeypatch.setenv("TOOLLIFE__LAKEHOUSE__ROOT", root)
        return root
    return point
