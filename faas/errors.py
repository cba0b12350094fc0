"""The one error tree of the platform.

Every failure that reaches a user is one of these; the gateway maps each class
to an HTTP status and a JSON body in exactly one place (``gateway/errors.py``).
Docker, Redis and socket exceptions are translated into this tree at the edge
where they are raised, so nothing above the backend sees a library exception.

    FaasError
    ├── InvalidRequest            400  malformed input (bad JSON, bad field)
    │   ├── InvalidBundle         400  an uploaded zip that is not acceptable
    │   ├── IncompleteSignature   400  an AWS Authorization header not of SigV4's shape
    │   ├── QueueDoesNotExist     400  no queue has that name (SQS answers it with 400)
    │   ├── ReceiptHandleIsInvalid 400 a receipt handle not of the queues' shape
    │   ├── MessageNotInflight    400  a visibility change for a message not in flight
    │   └── BatchRequestInvalid   400  an SQS batch: empty, too long, ids repeated or bad
    ├── PayloadTooLarge           413  a body past its limit
    │   └── BundleTooLarge        413  a zip past a size, entry or ratio limit
    ├── ValidationFailed          422  a config value out of range (names the field)
    │   └── InvalidAttributeValue 422  a queue attribute out of range (SQS: 400)
    ├── Unauthorized              401  a key is needed and none was given
    ├── Forbidden                 403  the key (or CORS origin) is not allowed
    │   └── SignatureRefused      403  an AWS (SigV4) request is not let in
    │       ├── MissingAuthenticationToken  it carries no Authorization header
    │       ├── UnrecognizedClient          no key has its access key id
    │       └── InvalidSignature            wrong signature, or a scope not ours
    │           └── SignatureExpired        signed more than 5 minutes from now
    ├── FunctionNotFound          404
    ├── RouteNotFound             404  no HTTP route of the function takes the request
    ├── InvocationNotFound        404  no async invocation or dead letter with that id
    ├── MappingNotFound           404  no event source mapping with that UUID
    ├── TopicNotFound             404  no topic with that ARN (SNS's NotFound)
    ├── SubscriptionNotFound      404  no subscription with that ARN
    ├── ResourceConflict          409  the change conflicts with what exists
    │   ├── FunctionExists        409
    │   └── QueueNameExists       409  a queue of that name with other attributes
    ├── PreconditionFailed        412  a stale RevisionId (the Lambda API)
    ├── Throttled                 429  concurrency cap full after the bounded wait
    │   └── RateLimited           429  an API key past its request rate
    ├── BackendError              502  Docker or the container failed us
    │   └── ImageUnavailable      503  runtime image missing and cannot be built
    └── StoreUnavailable          503  Redis unreachable

Function errors (the handler raised, timed out, ran out of memory) are not
exceptions of the platform: they are results (``faas.outcomes.InvocationResult``)
because the platform worked as intended when it reports them.
"""

from __future__ import annotations


class FaasError(Exception):
    """Base of every error the platform reports to a user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(FaasError):
    """The request is malformed."""


class InvalidBundle(InvalidRequest):
    """An uploaded code bundle is not a zip we accept (corrupt, unsafe entries...)."""


class IncompleteSignature(InvalidRequest):
    """An AWS ``Authorization`` header lacks a part of SigV4's form, or has it malformed."""


class PayloadTooLarge(FaasError):
    """A request body is past its limit."""


class BundleTooLarge(PayloadTooLarge):
    """A code bundle is past a size, entry-count or compression-ratio limit."""


class ValidationFailed(FaasError):
    """A configuration value is out of range; ``field`` names it."""


class Unauthorized(FaasError):
    """The request needs an API key and carries none."""


class Forbidden(FaasError):
    """The request's key, or its CORS origin or method, is not allowed."""


class SignatureRefused(Forbidden):
    """A request to the AWS API is refused by its Signature Version 4 check."""


class MissingAuthenticationToken(SignatureRefused):
    """A request to the AWS API carries no ``Authorization`` header."""


class UnrecognizedClient(SignatureRefused):
    """No key has the access key id the request was signed with."""


class InvalidSignature(SignatureRefused):
    """The signature does not match the request, or its credential scope is not ours."""


class SignatureExpired(InvalidSignature):
    """The request was signed more than 5 minutes before (or after) the server's clock."""


class RouteNotFound(FaasError):
    """The function is exposed over HTTP but none of its routes takes the request."""


class FunctionNotFound(FaasError):
    """No function has that name."""


class InvocationNotFound(FaasError):
    """No async invocation (or dead letter) has that request id."""


class TopicNotFound(FaasError):
    """No topic has that ARN."""


class SubscriptionNotFound(FaasError):
    """No subscription has that ARN."""


class MappingNotFound(FaasError):
    """No event source mapping has that UUID."""


class ResourceConflict(FaasError):
    """The change conflicts with what exists (an alias still uses the version, say)."""


class FunctionExists(ResourceConflict):
    """A function with that name already exists."""


class PreconditionFailed(FaasError):
    """The change was made against a revision of the function that is no longer current."""


class Throttled(FaasError):
    """The concurrency cap stayed full for the whole bounded wait.

    ``reason`` is Lambda's: whether the function's own reserved concurrency or the
    node's limit was full (``TooManyRequestsException.Reason``).
    """

    reason = "ConcurrentInvocationLimitExceeded"

    def __init__(self, message: str, *, retry_after_s: int = 1, reserved: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        if reserved:
            self.reason = "ReservedFunctionConcurrentInvocationLimitExceeded"


class RateLimited(Throttled):
    """An API key sent more requests than its rate allows."""

    reason = "CallerRateLimitExceeded"


class BackendError(FaasError):
    """The container backend (Docker) or a container's agent failed."""


class ImageUnavailable(BackendError):
    """A runtime image is missing and could not be built."""


class StoreUnavailable(FaasError):
    """The metadata store (Redis) cannot be reached."""


# -- queues (faas.queues) ---------------------------------------------------


class QueueDoesNotExist(InvalidRequest):
    """No queue has that name (or URL, or ARN)."""


class ReceiptHandleIsInvalid(InvalidRequest):
    """A receipt handle that no receive could have handed out."""


class MessageNotInflight(InvalidRequest):
    """A visibility change for a message that is not in flight under that handle."""


class BatchRequestInvalid(InvalidRequest):
    """An SQS batch request refused whole; ``code`` is SQS's (``EmptyBatchRequest``,
    ``TooManyEntriesInBatchRequest``, ``BatchEntryIdsNotDistinct``, ``InvalidBatchEntryId``,
    ``BatchRequestTooLong``)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidAttributeValue(ValidationFailed):
    """A queue attribute (or a message's) out of range, or not one SQS knows."""


class QueueNameExists(ResourceConflict):
    """A queue of that name exists with other attributes."""
