"""Tests of the Mosquitto configuration kilowatch ships (provisioning/mosquitto/)."""
