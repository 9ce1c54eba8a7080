"""Tests of the Grafana dashboards: generation, drift, structure, every query on InfluxDB."""
