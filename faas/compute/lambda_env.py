"""The environment a function sees, as Lambda defines it.

Pure: built from the function's spec and the platform settings. Layers are found
where Lambda puts them: ``/opt/bin`` on ``PATH``, ``/opt/lib`` on
``LD_LIBRARY_PATH`` (after the system's libraries, as on Lambda), and for Python
``/opt/python/lib/python3.x/site-packages`` then ``/opt/python`` after the
function's own code on ``sys.path`` (through ``PYTHONPATH``: a function that sets
its own replaces all three, as on Lambda).

An image function (``package_type`` Image) brings its runtime client, its
``PATH`` and its libraries in its image: it gets Lambda's reserved variables and
its own, over the image's ``ENV`` (which Lambda keeps), over a few defaults for an
image that sets none (:func:`image_function_environment`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from faas.models import LATEST, NODE_RUNTIMES, PROVIDED_RUNTIMES, PYTHON_RUNTIMES, FunctionSpec

RUNTIME_API = "127.0.0.1:9001"
# Lambda's order: the system's libraries, then the function's, then its layers'. The
# image is Debian's (x86_64): its directories stand where Lambda's /lib64 and /usr/lib64
# are, so that a library in /var/task/lib or /opt/lib never shadows one of the system's.
LD_LIBRARY_PATH = ":".join(
    (
        "/lib64",
        "/usr/lib64",
        "/usr/local/lib",
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/var/task",
        "/var/task/lib",
        "/opt/lib",
    )
)


# The services whose endpoint a function's SDK is given: ours (SQS, SNS, Lambda).
SDK_SERVICES = ("SQS", "SNS", "LAMBDA")
# Inside a container: the loopback port where the agent forwards to the server's socket
# (runtimes/agent/forward.py), network or not.
SDK_PORT = 9002
# Inside a container: the server's socket (its directory is mounted read-only).
API_SOCKET_DIR = "/run/faas-api"
API_SOCKET = "api.sock"


def function_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:function:{name}"


def log_stream_name(instance_token: str, now: float | None = None, version: str = LATEST) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(now))
    return f"{day}/[{version}]{instance_token}"


# An image function's defaults, beneath its image's ENV: what Lambda's base images set.
IMAGE_DEFAULTS = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}


def sdk_environment(
    endpoint: str, access_key_id: str, secret: str
) -> tuple[dict[str, str], dict[str, str]]:
    """How a function's AWS SDK reaches this platform, as (defaults, reserved): the
    per-service endpoints boto3 and the JavaScript SDK v3 read (a function may point
    one elsewhere), and its own key as the credentials Lambda gives a function's role
    (which it may not override). docs/event-sources.md, "AWS SDK calls from functions"."""
    defaults = {f"AWS_ENDPOINT_URL_{service}": endpoint for service in SDK_SERVICES}
    reserved = {"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret}
    return defaults, reserved


def lambda_environment(
    spec: FunctionSpec,
    *,
    region: str,
    log_stream: str,
    sdk: tuple[dict[str, str], dict[str, str]] = ({}, {}),
) -> dict[str, str]:
    """Lambda's reserved variables, then the function's own (which cannot override them).

    For an image function, only what must win over its image's ``ENV``: see
    :func:`image_function_environment` for the rest. ``sdk``: ``sdk_environment``'s."""
    c = spec.config
    sdk_defaults, sdk_reserved = sdk
    if c.is_image:
        lambdas = _lambda_reserved(spec, region=region, log_stream=log_stream)
        return {**sdk_defaults, **c.env, **lambdas, **sdk_reserved}
    runtime = "provided" if c.runtime in PROVIDED_RUNTIMES else c.runtime
    reserved = {
        "FAAS_RUNTIME": runtime,
        "_HANDLER": c.handler,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/opt/faas",
        **_lambda_reserved(spec, region=region, log_stream=log_stream),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{c.runtime}",
        "LANG": "C.UTF-8",
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin",
        "HOME": "/tmp",
    }
    # Defaults a function may override, as on Lambda.
    python = ["/var/task"]
    if c.runtime in PYTHON_RUNTIMES:
        # Then the runtime's own AWS SDK (boto3), which a function's bundled one overrides.
        python += [f"/opt/python/lib/{c.runtime}/site-packages", "/opt/python", "/var/runtime"]
    defaults = {"PYTHONPATH": ":".join(python), "LD_LIBRARY_PATH": LD_LIBRARY_PATH}
    if c.runtime in NODE_RUNTIMES:
        # Layers' packages as on Lambda: /opt/nodejs/nodeNN/node_modules, then /opt/nodejs/.
        major = c.runtime.removeprefix("nodejs").split(".", 1)[0]
        defaults["NODE_PATH"] = (
            f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:/var/task"
        )
    return {**defaults, **sdk_defaults, **c.env, **reserved, **sdk_reserved}


def _lambda_reserved(spec: FunctionSpec, *, region: str, log_stream: str) -> dict[str, str]:
    """What every function sees, zip or image, and cannot override."""
    c = spec.config
    return {
        "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
        "AWS_LAMBDA_FUNCTION_NAME": c.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(c.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{c.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "TZ": ":UTC",
    }


def image_function_environment(
    image_env: Mapping[str, str], env: Mapping[str, str], command: Sequence[str]
) -> dict[str, str]:
    """An image function's container's environment: :data:`IMAGE_DEFAULTS`, then its
    image's ``ENV``, then ``env`` (:func:`lambda_environment`'s: the function's own
    variables and Lambda's reserved ones). ``_HANDLER`` is the command's first word, as
    Lambda sets it from the image's ``CMD`` (or ``ImageConfig.Command``)."""
    merged = {**IMAGE_DEFAULTS, **image_env, **env}
    if command:
        merged["_HANDLER"] = command[0]
    return merged


def image_env_entries(entries: Sequence[str] | None) -> dict[str, str]:
    """An image's ``Config.Env`` (``NAME=value`` entries) as a mapping."""
    found: dict[str, str] = {}
    for entry in entries or ():
        name, sep, value = entry.partition("=")
        if sep and name:
            found[name] = value
    return found
