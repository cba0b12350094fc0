"""Which function spec a qualified name runs: ``$LATEST`` (or no qualifier) for now.

Published versions and aliases come with PublishVersion and CreateAlias; until
then any other qualifier names nothing, as on Lambda for a version never published.
"""

from __future__ import annotations

from faas.compute.lambda_env import function_arn
from faas.errors import FunctionNotFound
from faas.models import FunctionSpec
from faas.platform import Platform
from gateway.api.aws_lambda.names import LATEST, Qualified


async def resolve(platform: Platform, named: Qualified) -> tuple[FunctionSpec, str]:
    """The spec ``named`` runs, and the version it is; ``FunctionNotFound`` with Lambda's
    message (the ARN asked for) if there is none."""
    settings = platform.settings
    arn = function_arn(settings.region, settings.account_id, named.name)
    if named.qualifier is not None:
        arn += f":{named.qualifier}"
    if named.qualifier not in (None, LATEST):
        raise FunctionNotFound(f"Function not found: {arn}")
    try:
        return await platform.functions.get(named.name), LATEST
    except FunctionNotFound:
        raise FunctionNotFound(f"Function not found: {arn}") from None
