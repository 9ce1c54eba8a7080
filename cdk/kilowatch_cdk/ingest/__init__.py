"""The ingest unit of the CDK app (see README.md here)."""
