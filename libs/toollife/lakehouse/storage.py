"""Where the lakehouse's bytes live: a local directory or S3-compatible object storage.

One conf section (``s3``) gives every client the same endpoint, region and addressing: Spark's S3A
connector (:func:`hadoop_conf`, put into the session and onto spark-submit's command line by
``toollife.runtime.spark_conf``), delta-rs (:func:`delta_rs_options`, for the readers without
Spark) and pyarrow (:func:`arrow_filesystem`, to find the tables under an object-store root).
Credentials are never conf values: every client takes AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
(and AWS_SESSION_TOKEN) from the environment, and nothing here logs them.

Pure apart from :func:`arrow_filesystem` (which imports pyarrow when called).
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping
from urllib.parse import urlparse

from toollife.errors import UnreachableError, UsageError

OBJECT_STORE_SCHEMES = ("s3a", "s3", "s3n")
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def is_object_store(location: str) -> bool:
    return urlparse(location).scheme in OBJECT_STORE_SCHEMES


def uses_object_store(config: Mapping[str, Any]) -> bool:
    """Whether the tables or the checkpoints of ``config`` live in object storage."""
    lakehouse = config["lakehouse"]
    return is_object_store(lakehouse["root"]) or is_object_store(lakehouse["checkpoint_root"])


def bucket_and_key(location: str) -> tuple[str, str]:
    """``s3a://bucket/a/b`` -> ``("bucket", "a/b")``."""
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.strip("/")


def _s3(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("s3") or {}


def _region(config: Mapping[str, Any]) -> str:
    return str(_s3(config).get("region") or "us-east-1")


def hadoop_conf(config: Mapping[str, Any]) -> dict[str, str]:
    """The ``spark.hadoop.fs.s3a.*`` settings for conf's endpoint; empty when nothing is in object
    storage and no endpoint is set (a laptop's local lakehouse pays nothing for S3A)."""
    s3 = _s3(config)
    if not s3.get("endpoint") and not uses_object_store(config):
        return {}
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": _region(config),
        "spark.hadoop.fs.s3a.path.style.access": str(bool(s3.get("path_style_access", True))).lower(),
        "spark.hadoop.fs.s3a.attempts.maximum": str(int(s3.get("attempts", 5))),
        "spark.hadoop.fs.s3a.retry.limit": str(int(s3.get("attempts", 5))),
        "spark.hadoop.fs.s3a.retry.interval": str(s3.get("retry_interval") or "500ms"),
    }
    if s3.get("endpoint"):
        endpoint = str(s3["endpoint"])
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    return conf


def delta_rs_uri(location: str) -> str:
    """A location as delta-rs takes it: ``s3a://`` as ``s3://``, Spark's ``file:/x`` as a plain path."""
    parsed = urlparse(location)
    if parsed.scheme in OBJECT_STORE_SCHEMES:
        return "s3://" + location.split("://", 1)[1]
    if location.startswith("file:") and not location.startswith("file://"):
        return location[len("file:"):]
    return location


def delta_rs_options(config: Mapping[str, Any], location: str | None = None) -> dict[str, str] | None:
    """delta-rs ``storage_options`` for an object-store location (None for a local one): the
    endpoint, region and addressing of conf, the credentials of the environment."""
    if location is not None and not is_object_store(location):
        return None
    s3 = _s3(config)
    options = {"AWS_REGION": _region(config),
               # one writer per table at a time, as for Spark's default S3 log store (docs/storage.md)
               "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    if s3.get("endpoint"):
        options["AWS_ENDPOINT_URL"] = str(s3["endpoint"])
        options["AWS_ALLOW_HTTP"] = str(str(s3["endpoint"]).startswith("http://")).lower()
    if s3.get("path_style_access", True):
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    for name in (*CREDENTIAL_VARIABLES, "AWS_SESSION_TOKEN"):
        if os.environ.get(name):
            options[name] = os.environ[name]
    return options


def require_credentials(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """A one-line error before anything starts when an object-store lakehouse on a custom endpoint
    has no credentials in the environment (AWS S3 itself may use an instance role instead)."""
    environ = os.environ if environ is None else environ
    if uses_object_store(config) and _s3(config).get("endpoint"):
        missing = [name for name in CREDENTIAL_VARIABLES if not environ.get(name)]
        if missing:
            raise UsageError(f"the lakehouse is in object storage at {_s3(config)['endpoint']} (s3.endpoint) but "
                             f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the "
                             "environment; export the bucket's access key and secret")


def check_buckets(config: Mapping[str, Any]) -> None:
    """Before any JVM starts: every bucket the lakehouse names answers with the environment's
    credentials. A wrong key, a missing bucket or an endpoint that does not answer is one line
    naming the endpoint and the bucket, instead of a stack trace from the first write."""
    if not uses_object_store(config):
        return
    require_credentials(config)
    from pyarrow import fs as pafs

    endpoint = _s3(config).get("endpoint") or "AWS S3"
    s3 = arrow_filesystem(config, attempts=2)
    lakehouse = config["lakehouse"]
    buckets = {bucket_and_key(lakehouse[k])[0]: k for k in ("root", "checkpoint_root") if is_object_store(lakehouse[k])}
    for bucket, key in buckets.items():
        try:
            found = s3.get_file_info(bucket).type != pafs.FileType.NotFound
        except OSError as exc:
            text = str(exc)
            # the status, not any "403" (an endpoint's port may hold it: 127.0.0.1:40403)
            refused = re.search(r"ACCESS_DENIED|SIGNATURE|HTTP status 403", text, re.I)
            if refused and "NETWORK_CONNECTION" not in text:
                raise UsageError(f"bucket {bucket} at {endpoint} (lakehouse.{key}) refuses the credentials of "
                                 "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; check them") from None
            raise UnreachableError(f"the S3 endpoint {endpoint} (s3.endpoint) does not answer for bucket {bucket} "
                                   f"(lakehouse.{key}): {' '.join(text.split())[:200]}; is the server running? "
                                   "(`toollife s3 up` starts a local one)") from None
        if not found:
            raise UsageError(f"no bucket {bucket} at {endpoint} (lakehouse.{key}); create it, or point "
                             f"lakehouse.{key} at an existing bucket")


def lakehouse_base(config: Mapping[str, Any]) -> str | None:
    """The object-store prefix the lakehouse's root sits in (``s3a://b/x/tables`` -> ``s3a://b/x``),
    or None when the root is on local disk."""
    root = str(config["lakehouse"]["root"]).rstrip("/")
    if not is_object_store(root):
        return None
    bucket, key = bucket_and_key(root)
    parent = key.rsplit("/", 1)[0] if "/" in key else ""
    scheme = urlparse(root).scheme
    return f"{scheme}://{bucket}/{parent}".rstrip("/")


def boto_uri(location: str) -> str:
    """A location as boto3 (MLflow's artifact client) takes it: ``s3a://`` and ``s3n://`` as ``s3://``."""
    return "s3://" + location.split("://", 1)[1] if is_object_store(location) else location


def mlflow_artifact_root(config: Mapping[str, Any]) -> str | None:
    """Where MLflow keeps model artifacts beside an object-store lakehouse: ``s3://BUCKET/<the
    root's parent>/mlflow`` (the tables' bucket, one prefix up from ``tables``), None on local disk."""
    base = lakehouse_base(config)
    return f"{boto_uri(base)}/mlflow" if base else None


def mlflow_environment(config: Mapping[str, Any]) -> dict[str, str]:
    """The variables MLflow's boto3 client needs for conf's endpoint: the endpoint, path-style
    addressing and the region. No credentials: boto3 reads AWS_ACCESS_KEY_ID /
    AWS_SECRET_ACCESS_KEY (or an instance role) itself. Empty when no endpoint is set and the
    lakehouse is local (MLflow then talks to AWS S3, if at all, with its own defaults).

    Only the driver needs them: ``mlflow.pyfunc.spark_udf`` downloads the model on the driver and
    ships it to the executors with ``SparkContext.addFile`` (on a cluster; in local mode they read
    the driver's copy), so no Python worker talks to the bucket and no ``spark.executorEnv.*`` is
    needed; the driver's own process gets them from ``toollife.ml.tracking.configure``, which
    also covers YARN's cluster mode (the driver reads conf, not its launcher's environment)."""
    s3 = _s3(config)
    if not s3.get("endpoint") and not uses_object_store(config):
        return {}
    env = {"AWS_DEFAULT_REGION": _region(config),
           "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path" if s3.get("path_style_access", True) else "virtual"}
    if s3.get("endpoint"):
        env["MLFLOW_S3_ENDPOINT_URL"] = str(s3["endpoint"])
        # boto3 >= 1.36 sends CRC checksum headers by default, which S3-compatible servers that
        # predate them (S3Proxy, older MinIO and Ceph) refuse with NotImplemented; S3A sends none
        env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
        env["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"
    return env


def arrow_filesystem(config: Mapping[str, Any], *, attempts: int | None = None):
    """A pyarrow S3 filesystem on conf's endpoint, credentials from the environment."""
    from pyarrow import fs as pafs

    s3 = _s3(config)
    endpoint = s3.get("endpoint")
    parsed = urlparse(str(endpoint)) if endpoint else None
    return pafs.S3FileSystem(
        endpoint_override=parsed.netloc if parsed else None,
        scheme=parsed.scheme if parsed else "https",
        region=_region(config),
        force_virtual_addressing=not s3.get("path_style_access", True),
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"), secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        session_token=os.environ.get("AWS_SESSION_TOKEN"),
        connect_timeout=5, request_timeout=30,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=attempts or int(s3.get("attempts", 5))),
    )
