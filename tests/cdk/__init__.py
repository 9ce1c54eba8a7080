"""Tests of the CDK app (cdk/): one synth per session, see conftest.py."""
