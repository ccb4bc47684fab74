"""`toollife mlflow`: the MLflow UI over conf's tracking store, and where that store is.

    toollife mlflow ui [--port 5000]    # mlflow server on 127.0.0.1 over ml.store_dir (or ml.tracking_uri)
    toollife mlflow where               # print the tracking URI and the artifact root
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from toollife.config import load_config
from toollife.ml import tracking


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("action", choices=["ui", "where"], help="ui: start the MLflow UI; where: print the store")
    parser.add_argument("--host", default="127.0.0.1", help="address the UI listens on")
    parser.add_argument("--port", type=int, default=5000, help="port of the UI")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    uri, artifacts = tracking.tracking_uri(config), tracking.artifact_root(config)
    if args.action == "where":
        print(f"tracking URI: {uri}\nartifact root: {artifacts}")
        return 0
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).parent / "mlflow"
    binary = str(beside) if beside.exists() else (shutil.which("mlflow") or "mlflow")
    cmd = [binary, "server", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    if artifacts:
        cmd += ["--default-artifact-root", artifacts]
    print(f"MLflow UI on http://{args.host}:{args.port} (store {uri}); Ctrl-C stops it", flush=True)
    os.execv(cmd[0], cmd)
    return 0  # not reached
