"""The processing unit of the CDK app (see README.md here)."""
