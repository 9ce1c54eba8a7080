"""Grafana alerting as code: rules, contact points and the notification policy, provisioned.

See alerts/README.md and docs/alerts.md.
"""
