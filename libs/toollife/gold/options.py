"""Command-line options the gold-reading jobs of jobs/ share, spelled once."""

from __future__ import annotations


def add_experiment_option(parser, *, what: str = "only these experiments",
                          default: str = "all in gold.experiment_runs") -> None:
    """``--experiment-id ID`` (repeatable) -> ``args.experiment_id``: a list, or None for all."""
    parser.add_argument("--experiment-id", action="append", default=None,
                        help=f"{what} (repeatable; default: {default})")
