"""The Spark runtime: what Spark is given (``spark_conf``, pure), the one session (``session``), the
job wrapper (``job``), several jobs in one application (``chain``), ``toollife submit``, the
driver's class archive, the per-batch phase clock and the Prometheus registry. Imports only
``toollife.config``, ``toollife.errors`` and ``toollife.lakehouse``; importing this package
starts no JVM."""
