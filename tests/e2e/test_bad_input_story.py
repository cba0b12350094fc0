"""Bad input over HTTP: refused when it is given, with a 422 naming the field, and nothing stored.

A JSON string may spell half a UTF-16 surrogate pair (``"\\ud800"``), which no
UTF-8 text can hold; an env value may hold a NUL, which no process environment
can. Both used to be accepted and fail later (a 500 on every read, a 502 on
every invoke). Bodies are sent as the raw bytes a client writes. A zip whose
parts disagree (entries inside each other, a data descriptor that lies) shows
different files to different unzippers, so it is refused as a bad zip.
"""

from __future__ import annotations

import httpx

from tests.helpers import handler_zip, upload
from tests.zips import overlapping, rewrite_descriptor, streamed

GREETER = "import os\ndef handler(event, context):\n    return os.environ['GREETING']\n"
JSON = {"content-type": "application/json"}
SURROGATE = "lone UTF-16 surrogate"


def refused(reply: httpx.Response, field: str | None, words: str) -> None:
    """The reply a user should get: a 422 whose JSON names the field and says what is wrong."""
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "ValidationFailed"
    assert body.get("field") == field
    assert words in body["message"], body


def test_env_no_process_can_take_is_refused_when_configured_and_the_function_keeps_working(
    api: httpx.Client,
) -> None:
    # Given a function whose env greets, invoked once
    assert upload(api, "greeter", handler_zip(GREETER), env='{"GREETING": "hi"}').status_code == 201
    assert api.post("/v1/functions/greeter/invoke", content=b"{}").json() == "hi"

    # When another is created with an env value holding a lone surrogate, or a NUL
    lone = upload(api, "bad", handler_zip(GREETER), env='{"GREETING": "\\ud800"}')
    nul = upload(api, "bad", handler_zip(GREETER), env='{"GREETING": "a\\u0000b"}')
    # Then both are refused naming env and the variable, and no function is made
    refused(lone, "env", f"env value of 'GREETING' is not text: it holds a {SURROGATE}")
    refused(nul, "env", "env value of 'GREETING' holds a NUL character")
    assert api.get("/v1/functions/bad").status_code == 404
    # and names no environment can hold are refused as they were
    for name in ("", "A=B", "A\\u0000", "\\udfff"):
        named = upload(api, "bad", handler_zip(GREETER), env=f'{{"{name}": "x"}}')
        refused(named, "env", "is not a valid variable name")

    # When the working function's env is patched to either
    for value in (b'"\\ud800"', b'"a\\u0000b"'):
        patch = api.patch(
            "/v1/functions/greeter", content=b'{"env": {"GREETING": %s}}' % value, headers=JSON
        )
        refused(patch, "env", "env value of 'GREETING'")
    # Then its env is unchanged and it still answers, from the same config
    assert api.get("/v1/functions/greeter").json()["env"] == {"GREETING": "hi"}
    invoked = api.post("/v1/functions/greeter/invoke", content=b"{}")
    assert invoked.status_code == 200 and invoked.json() == "hi"


def test_a_schedule_whose_input_is_not_text_is_refused_and_the_schedules_stay_readable(
    api: httpx.Client,
) -> None:
    # Given a function with a nightly schedule
    assert upload(api, "nightly", handler_zip(GREETER), env='{"GREETING": "x"}').status_code == 201
    rule = b'{"name": "run", "expression": "cron(0 3 * * ? *)"'
    assert api.put("/v1/functions/nightly/schedules", content=b"[" + rule + b"}]").is_success
    # When its schedules are replaced by one whose constant input holds a lone surrogate
    bad = api.put(
        "/v1/functions/nightly/schedules", content=b"[" + rule + b', "input": {"msg": "\\ud800"}}]'
    )
    # Then that is refused naming the input, and the schedules read back as they were
    refused(bad, "[0].input.msg", f"[0].input.msg is not text: it holds a {SURROGATE}")
    listed = api.get("/v1/functions/nightly/schedules")
    assert listed.status_code == 200, listed.text
    assert [(s["name"], s["input"]) for s in listed.json()["schedules"]] == [("run", None)]


def test_a_secret_that_is_not_text_is_refused_and_the_old_secrets_stay(api: httpx.Client) -> None:
    # Given a function with one secret
    assert upload(api, "vault", handler_zip(GREETER), env='{"GREETING": "x"}').status_code == 201
    assert api.put("/v1/functions/vault/secrets", content=b'{"TOKEN": "t-1"}').is_success
    # When the secrets are replaced by a value, or a name, holding a lone surrogate
    value = api.put("/v1/functions/vault/secrets", content=b'{"TOKEN": "p4ss\\ud800"}')
    name = api.put("/v1/functions/vault/secrets", content=b'{"\\udc00": "t-2"}')
    # Then both are refused naming the secret (never echoing the value); the old one stays
    refused(value, "TOKEN", f"TOKEN is not text: it holds a {SURROGATE}")
    assert "p4ss" not in value.text
    refused(name, "\\udc00", f"the key \\udc00 is not text: it holds a {SURROGATE}")
    assert api.get("/v1/functions/vault/secrets").json() == {"secrets": ["TOKEN"]}


def test_every_config_body_refuses_a_surrogate_wherever_it_is_with_a_422(
    api: httpx.Client,
) -> None:
    # Given a function
    assert upload(api, "configured", handler_zip(GREETER), env='{"G": "x"}').status_code == 201
    base = "/v1/functions/configured"
    # When each config document carries a lone surrogate in a key or a value
    rule = b'"name": "a", "expression": "rate(1 hour)"'
    rows = [
        ("async-config", b'{"\\ud800": 1}', "\\ud800"),
        ("async-config", b'{"on_failure": {"function": "\\ud800"}}', "on_failure.function"),
        ("http", b'{"\\ud800": true}', "\\ud800"),
        ("http", b'{"enabled": true, "routes": ["GET /\\ud800"]}', "routes[0]"),
        ("http", b'{"enabled": true, "cors": {"\\ud800": []}}', "cors.\\ud800"),
        ("schedules", b'[{%s, "\\ud800": 0}]' % rule, "[0].\\ud800"),
        ("schedules", b'[{"name": "a", "expression": "rate(\\ud800 hours)"}]', "[0].expression"),
    ]
    for path, body, field in rows:
        reply = api.put(f"{base}/{path}", content=body)
        # Then each is a 422 naming where the bad text is, never a 500
        refused(reply, field, SURROGATE)
    # and nothing was stored: every config reads back as before
    assert api.get(f"{base}/async-config").json()["max_retries"] == 2
    assert api.get(f"{base}/http").json()["enabled"] is False
    assert api.get(f"{base}/schedules").json() == {"schedules": []}


def test_a_zip_that_unzippers_would_read_differently_is_refused_as_a_bad_zip(
    api: httpx.Client,
) -> None:
    # Given a function whose code is a zip every unzipper reads alike (a data descriptor,
    # as `zip - . | ...` writes, that tells the truth)
    honest = streamed(("app.py", GREETER.encode()))
    assert upload(api, "greeter", honest, env='{"GREETING": "v1"}').status_code == 201
    # When zips that read differently in different unzippers are uploaded, new or as code
    rows = [
        (
            overlapping("app.py", "hidden.py", b"print('seen by some unzippers only')\n"),
            "entries 'app.py' and 'hidden.py' overlap",
        ),
        (
            rewrite_descriptor(streamed(("app.py", GREETER.encode())), size=10),
            "entry 'app.py': its data descriptor says size 10, the central directory size",
        ),
    ]
    for code, words in rows:
        created = upload(api, "sneaky", code)
        replaced = api.put(
            "/v1/functions/greeter/code", content=code, headers={"content-type": "application/zip"}
        )
        # Then each is a 400 saying what is wrong, like any other bad zip
        for reply in (created, replaced):
            assert reply.status_code == 400, reply.text
            assert reply.json()["error"] == "InvalidBundle"
            assert words in reply.json()["message"]
    # and nothing changed: no new function, the old code still runs
    assert api.get("/v1/functions/sneaky").status_code == 404
    assert api.get("/v1/functions/greeter/code").content == honest
    assert api.post("/v1/functions/greeter/invoke", content=b"{}").json() == "v1"
