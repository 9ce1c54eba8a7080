"""IAM grants that name every action: CDK's own grants add wildcard actions on data resources.

`bucket.grant_read_write` gives `s3:GetObject*`, `s3:List*`, `s3:DeleteObject*`, `s3:Abort*`
and, for a KMS bucket, `kms:ReEncrypt*` and `kms:GenerateDataKey*`; `queue.grant_send_messages`
on a KMS queue adds the same key actions. These give exactly the calls the code makes.
"""

from __future__ import annotations

import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs


def grant_key(grantee: iam.IGrantable, key: kms.IKey, *, encrypt: bool) -> None:
    """Decrypt with the key; with `encrypt`, also make data keys (S3/SQS/SNS SSE-KMS writes)."""
    actions = ["kms:Decrypt", "kms:GenerateDataKey"] if encrypt else ["kms:Decrypt"]
    iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=[key.key_arn])


def grant_objects(
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    *,
    key: kms.IKey | None,
    write: bool,
    prefix: str = "",
) -> None:
    """Read (and with `write`, put) the objects under `prefix` of a bucket, and list it.

    ListBucket lets a missing object answer 404 rather than 403. No delete: a re-run writes
    the same keys again.
    """
    actions = ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
    iam.Grant.add_to_principal(
        grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects(f"{prefix}*")]
    )
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
    )
    if key is not None:
        grant_key(grantee, key, encrypt=write)


@jsii.implements(lambda_.IEventSourceDlq)
class OnFailureQueue:
    """An SQS on-failure destination of an event source mapping, granted without wildcards.

    Lambda sends the failed batch's description with the function's role: SendMessage, and
    on a KMS queue GenerateDataKey and Decrypt on its key (sources.SqsDlq grants more).
    """

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self._queue = queue
        self._key = key

    def bind(
        self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        """Grant the function what sending needs; the mapping's destination is the queue."""
        iam.Grant.add_to_principal(
            grantee=target_handler,
            actions=["sqs:SendMessage"],
            resource_arns=[self._queue.queue_arn],
        )
        grant_key(target_handler, self._key, encrypt=True)
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)
