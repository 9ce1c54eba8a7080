"""Helpers for the tests: real-service fixtures and Grafana interpolation emulation."""
