"""Grafana as a test needs it: the queries in a dashboard's JSON, its time ranges, its macros.

Emulates what Grafana does before it sends a query to InfluxDB (`queries`: every panel and
variable query; `timerange`: relative times and panel overrides; `macros`: `$timeFilter`,
`$__interval`, template variables), so tests run each dashboard query on a real InfluxDB.
"""
