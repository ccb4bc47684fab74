"""`toollife dashboard`: start the Streamlit app (app.py beside this file) on 127.0.0.1:8501.

Replaces itself with ``python -m streamlit run`` (so Ctrl-C stops Streamlit directly), headless,
without usage statistics, file watching or a browser. The conf the app reads is handed over as
the environment every toollife entry point understands: ``--env`` -> ``TOOLLIFE_ENV``,
``--set section.key=value`` -> ``TOOLLIFE__SECTION__KEY``, and the conf dir ->
``TOOLLIFE_CONF_DIR``. The conf is loaded once here first, so a bad key fails in one line
before anything starts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Mapping

from toollife.dashboard import APP


def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8501, help="port to listen on")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value for the app, e.g. lakehouse.root=/data/lakehouse (repeatable)")
    parser.add_argument("--print-command", action="store_true",
                        help="print the streamlit command and its TOOLLIFE environment instead of running it")


def streamlit_command(host: str, port: int, python: str = sys.executable) -> list[str]:
    return [
        python, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",              # no browser, no first-run e-mail prompt
        "--browser.gatherUsageStats", "false",    # no telemetry
        "--server.fileWatcherType", "none",       # a served app, not a development session
        "--server.runOnSave", "false",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",
    ]


def app_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the app: ours plus the conf choices of this command line."""
    from toollife.config import find_conf_dir
    from toollife.config import parse_set_options

    env = dict(environ)
    if getattr(args, "env", None):
        env["TOOLLIFE_ENV"] = args.env
    conf_dir = find_conf_dir(environ)
    if conf_dir is not None:
        env["TOOLLIFE_CONF_DIR"] = str(conf_dir)

    def flatten(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flatten(value, f"{prefix}{key.upper()}__")
            else:
                yield f"{prefix}{key.upper()}", value

    for name, value in flatten(parse_set_options(args.overrides), "TOOLLIFE__"):
        env[name] = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return env


def run(args: argparse.Namespace) -> int:
    from toollife.config import job_config

    # checked as the command line gives it first, so a mistake blames the --set (not the
    # TOOLLIFE__ variable it becomes for the app); ConfigError: one line, exit 2
    config = job_config(getattr(args, "env", None), None, args.overrides)
    env = app_environment(args, os.environ)
    cmd = streamlit_command(args.host, args.port)
    if args.print_command:
        for name in sorted(k for k in env if k.startswith("TOOLLIFE") and env.get(k) != os.environ.get(k)):
            print(f"{name}={shlex.quote(env[name])}")
        print(shlex.join(cmd))
        return 0
    print(f"toollife dashboard: http://{args.host}:{args.port}  (lakehouse {config['lakehouse']['root']}; "
          "Ctrl-C stops it)", flush=True)
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached
