"""Layers through the Lambda API: shared code published once, used by functions under /opt.

A team publishes its dependencies and tools as a layer version with boto3; a
function listing it imports the packages and runs the tools as on Lambda; later
layers override earlier ones; a deleted version disappears from the listings
but never from the functions that use it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e import test_lambda_api_story as story
from tests.zips import make_zip

# The story's server (an admin key, an invoke key) and its boto3 client.
server_env = story.server_env
lam, clients = story.lam, story.clients
create = story.create
LAYER_ARN = f"arn:aws:lambda:{story.REGION}:{story.ACCOUNT}:layer"

TOOLS = make_zip(
    {
        "python/greeting/__init__.py": "def hello(who):\n    return f'hello, {who}'\n",
        "python/lib/python3.11/site-packages/sitewide.py": "WHERE = 'site-packages'\n",
        "bin/shout": '#!/bin/sh\necho "$1" | tr a-z A-Z\n',
        "README": "tools for the story\n",
    },
    executable=("bin/shout",),
)

USES_TOOLS = """
import os, subprocess, sys
import greeting, sitewide

def handler(event, context):
    opt_written = True
    try:
        open("/opt/python/mine.py", "w").close()
    except OSError:
        opt_written = False
    return {
        "greeting": greeting.hello("layers"),
        "sitewide": sitewide.WHERE,
        "shout": subprocess.run(["shout", "loud"], capture_output=True, text=True).stdout,
        "opt": sorted(os.listdir("/opt")),
        "opt_written": opt_written,
        "path": list(dict.fromkeys(p for p in sys.path if p.startswith(("/var/task", "/opt")))),
        "ld": os.environ["LD_LIBRARY_PATH"].split(":")[-1],
    }
"""

WHO = """
import common, only_base
def handler(event, context):
    return {"who": common.WHO, "base": only_base.HERE}
"""


def publish(lam: Any, name: str, files: dict[str, str], **fields: Any) -> dict[str, Any]:
    published: dict[str, Any] = lam.publish_layer_version(
        LayerName=name, Content={"ZipFile": make_zip(files)}, **fields
    )
    return published


def ran(lam: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    extra = {"Qualifier": qualifier} if qualifier is not None else {}
    answer = lam.invoke(FunctionName=name, Payload=b"{}", **extra)
    body: dict[str, Any] = json.loads(answer["Payload"].read())
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, body
    return body


def test_a_function_imports_a_package_and_runs_a_tool_from_its_layer(lam: Any) -> None:
    # Given a layer published with a package, a site-packages module and a script
    tools = lam.publish_layer_version(
        LayerName="tools",
        Description="shared tools",
        Content={"ZipFile": TOOLS},
        CompatibleRuntimes=["python3.11"],
        LicenseInfo="MIT",
    )
    assert tools["Version"] == 1
    assert tools["LayerArn"] == f"{LAYER_ARN}:tools"
    assert tools["LayerVersionArn"] == f"{LAYER_ARN}:tools:1"
    assert tools["Content"]["CodeSize"] == len(TOOLS)
    # When a function lists it
    created = create(lam, "greeter", USES_TOOLS, Layers=[tools["LayerVersionArn"]])
    # Then its configuration shows the layer and its size, as Lambda's
    layers = [{"Arn": tools["LayerVersionArn"], "CodeSize": len(TOOLS)}]
    assert created["Layers"] == layers
    assert lam.get_function(FunctionName="greeter")["Configuration"]["Layers"] == layers
    # And the function imports the package, finds site-packages and runs the script
    body = ran(lam, "greeter")
    assert body["greeting"] == "hello, layers"
    assert body["sitewide"] == "site-packages"
    assert body["shout"] == "LOUD\n"
    # The layer's tree is under /opt beside the runtime's, read-only, on Lambda's paths
    assert body["opt"] == ["README", "bin", "faas", "python"]
    assert body["opt_written"] is False
    assert body["path"][:3] == [
        "/var/task",
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
    ]
    assert body["ld"] == "/opt/lib"


def test_a_later_layer_overrides_an_earlier_one_and_a_version_keeps_its_layers(
    lam: Any,
) -> None:
    # Given two layers holding the same module, and a module only the first has
    base = publish(
        lam, "base", {"python/common.py": "WHO = 'base'\n", "python/only_base.py": "HERE = 1\n"}
    )["LayerVersionArn"]
    override = publish(lam, "override", {"python/common.py": "WHO = 'override'\n"})[
        "LayerVersionArn"
    ]
    # When a function lists base then override, Then the later one's module wins
    create(lam, "who", WHO, Layers=[base, override])
    assert ran(lam, "who") == {"who": "override", "base": 1}
    # A published version freezes its layers
    assert lam.publish_version(FunctionName="who")["Layers"][1]["Arn"] == override
    # When the order is swapped, Then the new order holds at once (fresh sandboxes)
    swapped = lam.update_function_configuration(FunctionName="who", Layers=[override, base])
    assert [layer["Arn"] for layer in swapped["Layers"]] == [override, base]
    assert ran(lam, "who") == {"who": "base", "base": 1}
    # while version 1 still runs with the order it was published with
    assert ran(lam, "who", "1") == {"who": "override", "base": 1}
    # And removing every layer leaves the function without them
    bare = lam.update_function_configuration(FunctionName="who", Layers=[])
    assert "Layers" not in bare


def test_layer_versions_are_listed_read_and_deleted_but_stay_for_their_functions(
    lam: Any,
) -> None:
    # Given two versions of a layer, and another layer for x86_64 only
    one = publish(lam, "deps", {"python/dep.py": "V = 1\n"}, CompatibleRuntimes=["python3.11"])
    two = publish(lam, "deps", {"python/dep.py": "V = 2\n"}, CompatibleRuntimes=["python3.11"])
    x86 = publish(lam, "x86", {"bin/tool": "#!/bin/sh\n"}, CompatibleArchitectures=["x86_64"])
    # The account's code size counts them
    sizes = [v["Content"]["CodeSize"] for v in (one, two, x86)]
    assert lam.get_account_settings()["AccountUsage"]["TotalCodeSize"] == sum(sizes)
    # They are listed newest first, and each layer with its latest version
    listed = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["Version"] for v in listed] == [2, 1]
    layers = {layer["LayerName"]: layer for layer in lam.list_layers()["Layers"]}
    assert sorted(layers) == ["deps", "x86"]
    assert layers["deps"]["LatestMatchingVersion"]["Version"] == 2
    # filtered by runtime or architecture
    pythons = lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
    assert [layer["LayerName"] for layer in pythons] == ["deps"]
    by_arch = lam.list_layers(CompatibleArchitecture="x86_64")["Layers"]
    assert [layer["LayerName"] for layer in by_arch] == ["x86"]
    # and paged
    first = lam.list_layer_versions(LayerName="deps", MaxItems=1)
    assert [v["Version"] for v in first["LayerVersions"]] == [2]
    rest = lam.list_layer_versions(LayerName="deps", Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    pages = lam.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": 1})
    assert [[layer["LayerName"] for layer in p["Layers"]] for p in pages] == [["deps"], ["x86"]]
    # A version is read by name and number, or by its ARN, and its zip downloaded
    got = lam.get_layer_version(LayerName="deps", VersionNumber=1)
    assert got["LayerVersionArn"] == one["LayerVersionArn"]
    assert got["CompatibleRuntimes"] == ["python3.11"]
    by_arn = lam.get_layer_version_by_arn(Arn=one["LayerVersionArn"])
    assert by_arn["Content"]["CodeSha256"] == one["Content"]["CodeSha256"]
    zipped = httpx.get(got["Content"]["Location"], timeout=10)
    assert zipped.status_code == 200
    assert len(zipped.content) == one["Content"]["CodeSize"]
    # Given a function using version 1
    create(
        lam,
        "old-user",
        "import dep\ndef handler(e, c):\n    return dep.V\n",
        Layers=[one["LayerVersionArn"]],
    )
    assert lam.invoke(FunctionName="old-user")["Payload"].read() == b"1"
    # When version 1 is deleted (twice: deleting is idempotent, as on Lambda)
    lam.delete_layer_version(LayerName="deps", VersionNumber=1)
    lam.delete_layer_version(LayerName="deps", VersionNumber=1)
    # Then it is gone from the listings and cannot be read
    listed = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["Version"] for v in listed] == [2]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version(LayerName="deps", VersionNumber=1)
    # and a new function cannot start to use it
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        create(lam, "new-user", Layers=[one["LayerVersionArn"]])
    assert f"Layer version {one['LayerVersionArn']} does not exist." in str(refused.value)
    # But the function already using it still starts with it (a fresh sandbox: new env)
    lam.update_function_configuration(
        FunctionName="old-user", Environment={"Variables": {"AFTER": "delete"}}
    )
    assert lam.invoke(FunctionName="old-user")["Payload"].read() == b"1"
    # And version numbers are never reused
    assert publish(lam, "deps", {"python/dep.py": "V = 3\n"})["Version"] == 3
    assert two["Version"] == 2


def test_bad_layers_are_refused_with_lambdas_errors(lam: Any, clients: Any) -> None:
    valid = publish(lam, "ok", {"python/ok.py": ""})["LayerVersionArn"]
    # A zip that is not a zip
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.publish_layer_version(LayerName="broken", Content={"ZipFile": b"not a zip"})
    # A layer that would hide the runtime's own /opt/faas
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as hidden:
        publish(lam, "sneaky", {"faas/runtimes/agent.py": "evil = True\n"})
    assert "/opt/faas" in str(hidden.value)
    # A layer from S3, which this server does not read
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        from_s3 = {"S3Bucket": "my-bucket", "S3Key": "layer.zip"}
        lam.publish_layer_version(LayerName="s3", Content=from_s3)
    # None of those was published
    assert [layer["LayerName"] for layer in lam.list_layers()["Layers"]] == ["ok"]
    # A function naming a version that does not exist
    missing = f"{LAYER_ARN}:ok:9"
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as not_there:
        create(lam, "f", Layers=[missing])
    assert f"Layer version {missing} does not exist." in str(not_there.value)
    # or more than five layers (boto3 would not check that: the server does)
    unchecked = clients(story.ADMIN, validate=False)
    many = [f"{LAYER_ARN}:l{i}:1" for i in range(6)]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as too_many:
        create(unchecked, "f", Layers=many)
    assert "at most 5" in str(too_many.value)
    # and a change to a missing version leaves the function as it was
    create(lam, "g", Layers=[valid])
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(FunctionName="g", Layers=[valid, missing])
    assert lam.get_function_configuration(FunctionName="g")["Layers"][0]["Arn"] == valid
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="f")
    # A version that does not exist is not found
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version(LayerName="ok", VersionNumber=7)
