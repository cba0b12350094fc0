"""AWS Signature Version 4 for the CLI's calls to the server's AWS APIs (SQS, SNS).

Those APIs take AWS's signatures, not Bearer keys; the CLI signs with its key as
``faas keys show --aws`` names it for boto3 (access key id derived from the
secret). The standard library only: boto3 is a test dependency, not the CLI's.
A POST to the root with a body is all these calls are, so only that is signed.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Mapping

from faas.auth import access_key_id_of

ALGORITHM = "AWS4-HMAC-SHA256"


def sign_post(
    key: str,
    *,
    region: str,
    service: str,
    host: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime.datetime | None = None,
) -> dict[str, str]:
    """The ``X-Amz-Date`` and ``Authorization`` headers of a POST of ``body`` to ``/``,
    ``headers`` (and ``Host``) signed."""
    moment = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = moment.strftime("%Y%m%dT%H%M%SZ"), moment.strftime("%Y%m%d")
    signed_values = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    signed_values["host"] = host
    signed_values["x-amz-date"] = amz_date
    names = sorted(signed_values)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            *(f"{name}:{signed_values[name]}" for name in names),
            "",
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = ("AWS4" + key).encode()
    for part in (day, region, service, "aws4_request"):
        signing_key = hmac.digest(signing_key, part.encode(), "sha256")
    signature = hmac.digest(signing_key, to_sign.encode(), "sha256").hex()
    return {
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={access_key_id_of(key)}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }
