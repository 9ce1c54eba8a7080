"""InfluxDB: the schema of what kilowatch writes, line protocol, writers, the reader."""
