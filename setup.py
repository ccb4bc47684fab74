"""Installs the toollife library (libs/toollife) and its console script.

Exact dependency versions live in requirements/jobs.lock (installed by `make setup`); the ranges
below are what the code needs, so the wheel also installs into a cluster's own Python env.
"""

from setuptools import find_packages, setup

setup(
    name="toollife",
    version="0.1.0",
    description="Tool-life Design-of-Experiments platform for machining plants (Spark, Delta, Kafka, MLflow)",
    package_dir={"": "libs"},
    packages=find_packages(where="libs"),
    package_data={"toollife": ["defaults/*.yaml"], "toollife.contracts": ["*.json"]},
    python_requires=">=3.10",
    install_requires=[
        "pyspark==4.2.0",
        "delta-spark==4.4.0",
        "pandas<3",
        "pyarrow<26",
        "numpy",
        "scipy",
        "pyyaml",
        "kafka-python",
        "jsonschema",
        "tqdm",
        "matplotlib",
        "scikit-learn",
        "mlflow>=3.17,<3.18",
    ],
    extras_require={  # `toollife dashboard` and reading the tables without Spark (README "Dashboard")
        "dashboard": ["streamlit", "deltalake", "duckdb==1.5.5", "duckdb-extension-delta==1.5.5"],
    },
    entry_points={"console_scripts": ["toollife=toollife.cli:main"]},
)
