"""Tests of docker-compose.yml, the provisioning it mounts, the images and their health checks."""
