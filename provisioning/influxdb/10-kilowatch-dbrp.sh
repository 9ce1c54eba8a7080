#!/bin/bash
# Runs once, inside the influxdb:2 container, right after its automatic setup
# (DOCKER_INFLUXDB_INIT_MODE=setup created the org, the bucket and the admin token; the influx
# CLI is already logged in). Makes the bucket queryable in InfluxQL through the v1 API, which is
# how Grafana queries it: database "$DOCKER_INFLUXDB_INIT_BUCKET", retention policy "autogen".
#
# InfluxDB 2.7 answers InfluxQL for such a database with a virtual mapping even without this,
# but older 2.x releases do not, and an explicit mapping survives renaming the bucket.
set -euo pipefail

db="${DOCKER_INFLUXDB_INIT_BUCKET:?the influxdb image sets DOCKER_INFLUXDB_INIT_BUCKET}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?the influxdb image sets DOCKER_INFLUXDB_INIT_BUCKET_ID}"

# A physical mapping lists "virtual": false; a virtual one (or none at all) means create it.
if influx v1 dbrp list --db "$db" --json 2>/dev/null | grep -Eq '"virtual": *false'; then
    echo "kilowatch: DBRP mapping for database $db exists"
    exit 0
fi
if influx v1 dbrp create --db "$db" --rp autogen --bucket-id "$bucket_id" --default; then
    echo "kilowatch: database $db / autogen now maps to bucket $db ($bucket_id)"
else
    # Not fatal: failing here would make the image wipe the new database and start over.
    echo "kilowatch: warning: could not create the DBRP mapping for $db; InfluxQL queries" \
        "rely on the virtual mapping (InfluxDB 2.7+)" >&2
fi
