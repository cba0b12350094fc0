"""The SQS API (JSON protocol, as boto3 >= 1.34 and the AWS CLI send it) at ``POST /``.

``serve(request, operation)`` runs one operation (``X-Amz-Target: AmazonSQS.<Op>``)
on ``platform.queues`` (``faas.queues``); ``error_response(exc)`` answers any error in
SQS's shape. Who may call is decided before (``gateway.api.aws_services.authorize``).
"""

from __future__ import annotations

from gateway.api.sqs.errors import error_response
from gateway.api.sqs.operations import serve

__all__ = ["error_response", "serve"]
