"""Versions and aliases through the Lambda API: a release process as boto3 runs it.

Publish freezes the code and configuration; an alias points at a version and
can send a share of calls to another one, by weight; the function's reserved
concurrency applies to every version.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e import test_lambda_api_story as story
from tests.helpers import handler_zip, wait_until

lam, clients = story.lam, story.clients


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    """The story's server (an admin key, an invoke key), with schedules by the second."""
    return {
        **server_env,
        "FAAS_ADMIN_KEY": story.ADMIN,
        "FAAS_INVOKE_KEYS": f"{story.INVOKER}:echo",
        "FAAS_SCHEDULE_SECONDS": "1",
        "FAAS_SCHEDULE_POLL_S": "0.2",
    }


arn, create = story.arn, story.create

V = """
import os
def handler(event, context):
    return {{"code": "{code}", "version": context.function_version,
            "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
            "stage": os.environ.get("STAGE")}}
"""


def ran(lam: Any, name: str, qualifier: str | None = None) -> dict[str, Any]:
    extra = {"Qualifier": qualifier} if qualifier is not None else {}
    answer = lam.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, answer
    body: dict[str, Any] = json.loads(answer["Payload"].read())
    body["executed"] = answer["ExecutedVersion"]
    return body


def release(lam: Any, code: str, **fields: Any) -> dict[str, Any]:
    """Replace the code and publish it: the new version's configuration."""
    lam.update_function_code(FunctionName="shop", ZipFile=handler_zip(V.format(code=code)))
    if fields:
        lam.update_function_configuration(FunctionName="shop", **fields)
    published: dict[str, Any] = lam.publish_version(FunctionName="shop", Description=code)
    lam.get_waiter("published_version_active").wait(
        FunctionName="shop",
        Qualifier=published["Version"],
        WaiterConfig={"Delay": 1, "MaxAttempts": 2},
    )
    return published


def two_versions(lam: Any) -> None:
    """A function "shop" with version 1 (code "one") and version 2 (code "two")."""
    create(lam, "shop", V.format(code="one"))
    lam.publish_version(FunctionName="shop")
    release(lam, "two")


def test_a_version_keeps_its_code_and_configuration_while_latest_moves_on(lam: Any) -> None:
    create(lam, "shop", V.format(code="one"), Environment={"Variables": {"STAGE": "a"}})
    one = lam.publish_version(FunctionName="shop")
    assert one["Version"] == "1" and one["FunctionArn"] == arn("shop") + ":1"
    # Publishing again with nothing changed gives the same version
    assert lam.publish_version(FunctionName="shop")["Version"] == "1"
    two = release(lam, "two", Environment={"Variables": {"STAGE": "b"}})
    assert two["Version"] == "2"
    # Each version runs its own code and environment, and knows which it is
    assert ran(lam, "shop", "1") == {
        "code": "one",
        "version": "1",
        "env_version": "1",
        "stage": "a",
        "executed": "1",
    }
    assert ran(lam, "shop:2") | {} == {
        "code": "two",
        "version": "2",
        "env_version": "2",
        "stage": "b",
        "executed": "2",
    }
    latest = ran(lam, "shop")
    assert (latest["code"], latest["version"], latest["executed"]) == ("two", "$LATEST", "$LATEST")
    # The versions are listed with $LATEST, and a version is read back as published
    listed = lam.list_versions_by_function(FunctionName="shop")["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert listed[0]["FunctionArn"] == arn("shop") + ":$LATEST"
    got = lam.get_function_configuration(FunctionName="shop", Qualifier="1")
    assert (got["Version"], got["Environment"]) == ("1", {"Variables": {"STAGE": "a"}})
    # A version never published is not found
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="shop", Qualifier="9", Payload=b"{}")
    # Deleting a version leaves the others; $LATEST cannot be deleted alone
    lam.delete_function(FunctionName="shop", Qualifier="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="shop", Qualifier="1", Payload=b"{}")
    assert ran(lam, "shop", "2")["code"] == "two"
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.delete_function(FunctionName="shop", Qualifier="$LATEST")


def test_an_alias_splits_calls_between_two_versions_by_weight(lam: Any) -> None:
    two_versions(lam)
    live = lam.create_alias(
        FunctionName="shop",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    assert live["AliasArn"] == arn("shop") + ":live"
    # Over 200 calls through the alias, about 30% run version 2 (mean 60, sd 6.5)
    runs = [ran(lam, "shop", "live") for _ in range(200)]
    twos = sum(1 for r in runs if r["executed"] == "2")
    assert 35 <= twos <= 85, twos
    assert all(r["code"] == {"1": "one", "2": "two"}[r["executed"]] for r in runs)
    # Moving the alias wholly to version 2 sends every call there
    lam.update_alias(
        FunctionName="shop",
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    assert {ran(lam, "shop:live")["executed"] for _ in range(20)} == {"2"}
    assert lam.get_alias(FunctionName="shop", Name="live")["FunctionVersion"] == "2"
    # An alias is read by its ARN too, and listed
    assert [a["Name"] for a in lam.list_aliases(FunctionName="shop")["Aliases"]] == ["live"]
    # A version an alias uses cannot be deleted; once the alias is gone it can
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName="shop", Qualifier="2")
    lam.delete_alias(FunctionName="shop", Name="live")
    lam.delete_function(FunctionName="shop", Qualifier="2")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName="shop", Name="live")


def test_bad_aliases_are_refused_naming_the_field(lam: Any, server: Any) -> None:
    two_versions(lam)
    release(lam, "three")
    bad = [
        (
            {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}},
            "AdditionalVersionWeights",
        ),
        (
            {
                "FunctionVersion": "1",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
            },
            "AdditionalVersionWeights",
        ),
        ({"FunctionVersion": "7"}, "Function not found"),
    ]
    for fields, words in bad:
        with pytest.raises(lam.exceptions.ClientError) as refused:
            lam.create_alias(FunctionName="shop", Name="live", **fields)
        assert words in refused.value.response["Error"]["Message"], refused.value.response
    # A field the operation does not have (a client other than boto3 may send one)
    url = f"{server.url}/2015-03-31/functions/shop/aliases"
    body = json.dumps({"Name": "x", "FunctionVersion": "1", "Weight": 1}).encode()
    odd = httpx.post(url, content=body, headers=story.signed_headers("POST", url, body))
    assert odd.status_code == 400 and "Weight is not a field of CreateAlias" in odd.text
    lam.create_alias(FunctionName="shop", Name="live", FunctionVersion="1")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_alias(FunctionName="shop", Name="live", FunctionVersion="2")
    stale = lam.get_alias(FunctionName="shop", Name="live")["RevisionId"]
    lam.update_alias(FunctionName="shop", Name="live", Description="moved")
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(FunctionName="shop", Name="live", FunctionVersion="2", RevisionId=stale)


def test_reserved_concurrency_applies_to_every_version(lam: Any) -> None:
    create(lam, "shop", V.format(code="one"))
    lam.publish_version(FunctionName="shop")
    lam.put_function_concurrency(FunctionName="shop", ReservedConcurrentExecutions=0)
    for qualifier in ("1", "$LATEST"):
        with pytest.raises(lam.exceptions.TooManyRequestsException):
            lam.invoke(FunctionName="shop", Qualifier=qualifier, Payload=b"{}")
    lam.delete_function_concurrency(FunctionName="shop")
    assert ran(lam, "shop", "1")["code"] == "one"


def test_create_and_update_can_publish_at_once(lam: Any) -> None:
    created = create(lam, "shop", V.format(code="one"), Publish=True)
    assert created["Version"] == "1"
    updated = lam.update_function_code(
        FunctionName="shop", ZipFile=handler_zip(V.format(code="two")), Publish=True
    )
    assert updated["Version"] == "2"
    assert ran(lam, "shop", "2")["code"] == "two"


def test_v1_and_http_routes_reach_a_version_or_an_alias(lam: Any, api: Any) -> None:
    two_versions(lam)
    lam.create_alias(FunctionName="shop", Name="live", FunctionVersion="1")
    # /v1 takes ?qualifier= (a version or an alias), as the Lambda API's Qualifier
    for qualifier, code in (("1", "one"), ("live", "one"), ("2", "two"), ("$LATEST", "two")):
        answer = api.post("/v1/functions/shop/invoke", params={"qualifier": qualifier}, json={})
        assert answer.status_code == 200, answer.text
        assert answer.json()["code"] == code
    assert api.post("/v1/functions/shop/invoke", params={"qualifier": "9"}).status_code == 404
    bad = api.post("/v1/functions/shop/invoke", params={"qualifier": "no way"})
    assert bad.status_code == 422 and bad.json()["field"] == "qualifier"
    # The function's HTTP config serves /fn/NAME:ALIAS/ with the alias's version
    assert api.put("/v1/functions/shop/http", json={"enabled": True}).status_code == 200
    through_alias = api.get("/fn/shop:live/anything")
    assert through_alias.status_code == 200, through_alias.text
    assert through_alias.json()["code"] == "one"
    assert api.get("/fn/shop/anything").json()["code"] == "two"


def finished(api: Any, request_id: str) -> dict[str, Any]:
    """The async invocation once it is over."""
    record: dict[str, Any] = wait_until(
        lambda: api.get(f"/v1/invocations/{request_id}").json(),
        done=lambda r: r.get("state") in ("succeeded", "failed", "dead_lettered"),
        what=f"async invocation {request_id} to finish",
        within_s=60,
    )
    return record


def test_events_and_schedules_run_the_version_or_alias_they_name(lam: Any, api: Any) -> None:
    two_versions(lam)
    lam.create_alias(FunctionName="shop", Name="live", FunctionVersion="1")
    # An Event through /v1 with a qualifier runs that version
    queued = api.post(
        "/v1/functions/shop/invoke",
        params={"qualifier": "1"},
        json={},
        headers={"X-Amz-Invocation-Type": "Event"},
    )
    assert queued.status_code == 202, queued.text
    record = finished(api, queued.json()["requestId"])
    assert record["state"] == "succeeded", record
    assert record["result"]["code"] == "one"
    # And through the Lambda API, by an alias
    sent = lam.invoke(FunctionName="shop", Qualifier="live", InvocationType="Event", Payload=b"{}")
    assert sent["StatusCode"] == 202
    record = finished(api, sent["ResponseMetadata"]["RequestId"])
    assert record["result"]["version"] == "1"
    # A schedule may target the alias too: its ticks run the alias's version
    rules = [{"name": "tick", "expression": "rate(1 second)", "qualifier": "live"}]
    put = api.put("/v1/functions/shop/schedules", json=rules)
    assert put.status_code == 200, put.text
    assert put.json()["schedules"][0]["qualifier"] == "live"
    logs = wait_until(
        lambda: api.get("/v1/functions/shop/logs").json()["logs"],
        done=lambda found: any(r["kind"] == "schedule" for r in found),
        what="a scheduled run of shop:live",
        within_s=30,
    )
    ran_by_schedule = [r for r in logs if r["kind"] == "schedule"]
    assert all("Version: 1\n" in r["log"] for r in ran_by_schedule), ran_by_schedule
    # A qualifier that names nothing is refused at once
    missing = api.post(
        "/v1/functions/shop/invoke",
        params={"qualifier": "9"},
        headers={"X-Amz-Invocation-Type": "Event"},
        json={},
    )
    assert missing.status_code == 404
