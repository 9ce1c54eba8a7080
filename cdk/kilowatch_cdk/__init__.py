"""kilowatch on AWS: the CDK constructs of one environment (see cdk/README.md)."""
