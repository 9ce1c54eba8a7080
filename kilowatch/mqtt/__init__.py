"""MQTT plumbing shared by the apps: broker targets and clients, receive paths, QoS 1 tracking."""
