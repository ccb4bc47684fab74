"""Local servers a developer, a test session or the demo starts: the KRaft Kafka broker
(``kafka_local``), the Spark Thrift Server (``thrift``) and the job-runs metrics exporter
(``metrics_exporter``). They sit above the runtime and below the domain packages' users."""
