"""Deploy-time code of the storage unit (the InfluxDB setup custom resource)."""
