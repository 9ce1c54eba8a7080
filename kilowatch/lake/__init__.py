"""The data lake's record (one costed reading), its table schema, and sending it to Firehose."""
