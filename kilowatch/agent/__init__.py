"""The edge agent: polls meters, keeps each reading in SQLite until the broker has it, publishes."""
