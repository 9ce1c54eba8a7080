"""kilowatch on AWS from the operator's side (boto3): registering devices with IoT Core."""
