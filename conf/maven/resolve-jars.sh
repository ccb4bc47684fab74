#!/usr/bin/env bash
# Resolve the JVM jars from Maven Central into a local cache (run by `make setup` and the Dockerfile):
#   <jars>/spark  Delta + the Spark Kafka connector, minus anything pyspark already ships
#   <jars>/kafka  a Kafka broker (KRaft) + tools + a log4j2 backend, a classpath of its own
#   <jars>/s3proxy  an S3 API server for development and the tests, a classpath of its own
# Usage: conf/maven/resolve-jars.sh PYTHON JARS_DIR
set -euo pipefail
python=$1
jars=$2
here=$(cd "$(dirname "$0")" && pwd)
mvn_copy() {
  mvn -B -q -s "$here/settings.xml" -f "$here/$1" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies -Djars.dir="$2"
}
rm -rf "$jars/spark" "$jars/kafka" "$jars/s3proxy"
mkdir -p "$jars"
jars=$(cd "$jars" && pwd)
mvn_copy spark-jars.pom.xml "$jars/spark"
mvn_copy kafka-broker.pom.xml "$jars/kafka"
mvn_copy s3proxy.pom.xml "$jars/s3proxy"
# Same artifact in another version than pyspark's own jars/ -> keep only Spark's copy.
spark_jars=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
for jar in "$jars"/spark/*.jar; do
  artifact=$(basename "$jar" | sed -E 's/-[0-9][^/]*\.jar$//')
  if compgen -G "$spark_jars/$artifact-[0-9]*.jar" >/dev/null; then rm "$jar"; fi
done
echo "resolved $(ls "$jars"/spark | wc -l) Spark jars, $(ls "$jars"/kafka | wc -l) Kafka jars and $(ls "$jars"/s3proxy | wc -l) S3Proxy jars into $jars"
