"""The monitoring unit of the CDK app (see README.md here)."""
