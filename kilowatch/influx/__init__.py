"""InfluxDB adapters: line protocol formatting and writers for the 1.x and 2.x HTTP APIs."""
