"""SigV4 at the edge: what boto3 and the AWS CLI sign, the server verifies, and nothing else.

botocore is the oracle: requests it signs, given to the verifier as the server
receives them (the prepared URL's path and query, the headers http.client sends),
must verify, and must stop verifying when any signed part changes. The public
AWS SigV4 test suite's vectors pin the canonical form; freshness and malformed
headers are tables with literal dates.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path, percent_encode, percent_encode_sequence

from faas.errors import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    SignatureExpired,
)
from gateway.edge import sigv4

ACCESS_KEY_ID = "AKIAS7AABGYUPJLTKV7N"
SECRET = "admin-key-0123456789abcdef"


@dataclass(frozen=True)
class Received:
    """A request as the server's ASGI scope holds it."""

    method: str
    raw_path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def verify(self, secret: str = SECRET) -> bool:
        auth = sigv4.parse(self.headers)
        return sigv4.verify(
            auth,
            secret,
            self.method,
            self.raw_path,
            self.query,
            self.headers,
            hashlib.sha256(self.body).hexdigest(),
        )


def on_the_wire(request: AWSRequest | AWSPreparedRequest) -> Received:
    """What the server receives for a botocore request once it is sent.

    The request target is the prepared URL's path and query (urllib3 leaves an
    already-encoded target alone); http.client adds ``Host`` (no default port)
    and ``Accept-Encoding``, and sends ``str`` header values as Latin-1.
    """
    prepared = request.prepare() if isinstance(request, AWSRequest) else request
    url = urlsplit(prepared.url)
    headers = [(b"host", url.netloc.encode()), (b"accept-encoding", b"identity")]
    for name, value in prepared.headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        headers.append((name.lower().encode("latin-1"), raw))
    body = prepared.body or b""
    assert isinstance(body, bytes)
    return Received(
        prepared.method, (url.path or "/").encode("ascii"), url.query.encode(), headers, body
    )


def signed(request: AWSRequest, secret: str = SECRET, region: str = "us-east-1") -> AWSRequest:
    SigV4Auth(Credentials(ACCESS_KEY_ID, secret), "lambda", region).add_auth(request)
    return request


# --- Random requests, signed by botocore --------------------------------------------------

ODD = [
    "a",
    "Z",
    "0",
    ":",
    "%",
    " ",
    "ሴ",
    "é",
    "~",
    "+",
    "=",
    "&",
    "?",
    "#",
    "/",
    "*",
    "!",
    ".",
    "-",
]


def odd_text(rng: random.Random, longest: int = 8) -> str:
    return "".join(rng.choice(ODD) for _ in range(rng.randint(0, longest)))


def random_request(rng: random.Random) -> AWSRequest:
    """A request as botocore's serializers build one: labels and query percent-encoded."""
    endpoint = rng.choice(
        ["http://127.0.0.1:9001", "https://lambda.local", "http://localhost:8080/lambda-api"]
    )
    segments = []
    for _ in range(rng.randint(0, 4)):
        segments.append(rng.choice([percent_encode(odd_text(rng) or "x"), "", ".", ".."]))
    url = endpoint + "".join("/" + s for s in segments)
    pairs: list[tuple[str, str]] = []
    for _ in range(rng.randint(0, 4)):
        name = rng.choice([p[0] for p in pairs]) if pairs and rng.random() < 0.3 else odd_text(rng)
        pairs.append((name, rng.choice(["", odd_text(rng)])))
    params = None
    how = rng.choice(["url", "params", "flag"])
    if pairs and how == "url":
        url += "?" + percent_encode_sequence(pairs)
    elif pairs and how == "params":
        params = pairs  # urlencoded into the URL by prepare(): a space is sent as '+'
    elif how == "flag":
        url += "?" + percent_encode(odd_text(rng) or "flag")  # a name without '='
    headers = {}
    for name, value in [
        ("Content-Type", "application/json"),
        ("X-Amz-Invocation-Type", "Event"),
        ("X-Custom", "  spaced   out\t value  "),
        ("X-Latin", "café  crème"),
        ("X-Amz-Client-Context", "eyJjdXN0b20iOiB7fX0="),
    ]:
        if rng.random() < 0.4:
            headers[name] = value
    body = rng.choice([b"", b'{"name": "world"}', rng.randbytes(rng.randint(1, 300))])
    if rng.random() < 0.15:
        headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    if rng.random() < 0.1:
        headers["Date"] = "set by botocore"  # botocore then signs Date, not X-Amz-Date
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    return AWSRequest(method=method, url=url, params=params, headers=headers, data=body)


SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_what_botocore_signs_verifies_as_the_server_receives_it(seed: int) -> None:
    received = on_the_wire(signed(random_request(random.Random(seed))))

    auth = sigv4.parse(received.headers)
    sigv4.check_fresh(auth, time.time())
    assert received.verify(), sigv4.canonical_request(
        auth,
        received.method,
        received.raw_path,
        received.query,
        received.headers,
        hashlib.sha256(received.body).hexdigest(),
    )


def flip_a_bit(data: bytes, rng: random.Random, spare: bytes = b"") -> bytes:
    """``data`` with one bit of one byte flipped, a byte of ``spare`` left alone."""
    positions = [i for i, byte in enumerate(data) if byte not in spare]
    if not positions:
        return data + b"x"
    i = rng.choice(positions)
    return data[:i] + bytes([data[i] ^ 1 << rng.randrange(7)]) + data[i + 1 :]


def another_path(raw_path: bytes, rng: random.Random) -> bytes:
    """``raw_path`` with a bit flipped where botocore would not sign the same path."""
    for _ in range(100):
        # '.' and '/' spared: a flip there may only spell the same path another way
        changed = flip_a_bit(raw_path, rng, spare=b"./")
        if normalize_url_path(changed.decode("latin-1")) != normalize_url_path(
            raw_path.decode("latin-1")
        ):
            return changed
    return raw_path + b"x"  # all of it dot segments: one more segment


def said(query: bytes) -> list[tuple[str, str]]:
    """What a query says, spelling aside (urllib as the oracle)."""
    return sorted(parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1"))


def another_query(query: bytes, rng: random.Random) -> bytes:
    """``query`` with a bit flipped where it no longer says the same (not ``%3a`` for ``%3A``)."""
    for _ in range(100):
        changed = flip_a_bit(query, rng)
        if said(changed) != said(query):
            return changed
    return query + b"&x"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_change_to_any_signed_part_is_refused(seed: int) -> None:
    rng = random.Random(seed)
    received = on_the_wire(signed(random_request(rng)))
    signed_names = set(sigv4.parse(received.headers).signed_headers) - {b"x-amz-date", b"date"}
    name = rng.choice(sorted(signed_names))
    path = another_path(received.raw_path, rng)
    changed_header = [(n, v + b"!" if n == name else v) for n, v in received.headers]
    dropped_header = [(n, v) for n, v in received.headers if n != name]

    assert received.verify()
    assert not replace(received, body=flip_a_bit(received.body, rng)).verify()
    assert not replace(received, raw_path=path).verify()
    assert not replace(received, query=another_query(received.query, rng)).verify()
    assert not replace(received, headers=changed_header).verify()
    assert not replace(received, headers=dropped_header).verify()
    assert not replace(received, method="OPTIONS").verify()
    assert not received.verify(secret=flip_a_bit(SECRET.encode(), rng).decode("latin-1"))


# --- boto3's Lambda client, exactly as it sends ---------------------------------------------


class Sent(Exception):
    """Raised where botocore would send: the request is kept, nothing leaves the process."""


def sent_by_boto3(call: str, **kwargs: object) -> AWSPreparedRequest:
    client = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET, region_name="local-1"
    ).client(
        "lambda",
        endpoint_url="http://127.0.0.1:9001",
        config=Config(retries={"total_max_attempts": 1}),
    )
    kept: list[AWSPreparedRequest] = []

    def keep(request: AWSPreparedRequest, **_: object) -> None:
        kept.append(request)
        raise Sent

    client.meta.events.register("before-send", keep)
    with pytest.raises(Sent):
        getattr(client, call)(**kwargs)
    return kept[0]


ARN = "arn:aws:lambda:local-1:000000000000:function:hello"


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("invoke", {"FunctionName": ARN, "Payload": b'{"name": "world"}', "Qualifier": "live"}),
        ("invoke", {"FunctionName": "hello:live", "InvocationType": "Event", "Payload": b""}),
        ("invoke", {"FunctionName": "hello", "LogType": "Tail", "ClientContext": "e30="}),
        ("get_function", {"FunctionName": "name%3Awith%25escapes"}),
        ("list_functions", {"Marker": "a b+c/ሴ~*'()!", "MaxItems": 5}),
        ("list_versions_by_function", {"FunctionName": ARN, "Marker": "2"}),
        ("update_function_configuration", {"FunctionName": "hello", "Timeout": 9}),
        ("tag_resource", {"Resource": ARN, "Tags": {"team": "café"}}),
        ("untag_resource", {"Resource": ARN, "TagKeys": ["a", "b", "a b"]}),
        ("delete_function", {"FunctionName": "hello", "Qualifier": "$LATEST"}),
    ],
)
def test_what_boto3s_lambda_client_sends_verifies(call: str, kwargs: dict[str, object]) -> None:
    received = on_the_wire(sent_by_boto3(call, **kwargs))

    assert received.verify()
    assert not received.verify(secret=SECRET + "x")


def test_a_function_name_is_signed_encoded_twice() -> None:
    # Given boto3 sends my:fn as my%3Afn, when it signs, the path is encoded once more
    received = on_the_wire(sent_by_boto3("get_function", FunctionName="my:fn"))

    assert received.raw_path == b"/2015-03-31/functions/my%3Afn"
    assert sigv4.canonical_uri(received.raw_path) == "/2015-03-31/functions/my%253Afn"
    assert received.verify()


# --- The public AWS SigV4 test suite (service "service", us-east-1, 20150830T123600Z) --------

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_SCOPE = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
SUITE_HOST = (b"host", b"example.amazonaws.com")
SUITE_DATE = (b"x-amz-date", b"20150830T123600Z")
EMPTY = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Vector:
    name: str
    method: str
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    signed_headers: str
    signature: str
    canonical: str | None = None  # the suite's creq, where it gives one for this request


VECTORS = [
    Vector(
        "get-vanilla",
        "GET",
        b"/",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-vanilla-query-order-key-case",
        "GET",
        b"/?Param2=value2&Param1=value1",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
        f"x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-vanilla-query-order-value",
        "GET",
        b"/?Param1=value2&Param1=value1",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
    ),
    Vector(
        "get-vanilla-utf8-query",
        "GET",
        "/?ሴ=bar".encode(),
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\n"
        f"x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-unreserved",
        "GET",
        b"/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    Vector(
        "get-header-key-duplicate",
        "GET",
        b"/",
        (
            SUITE_HOST,
            (b"my-header1", b"value2"),
            (b"my-header1", b"value2"),
            (b"my-header1", b"value1"),
            SUITE_DATE,
        ),
        b"",
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
        f"x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-header-value-trim",
        "GET",
        b"/",
        (SUITE_HOST, (b"my-header1", b" value1"), (b"my-header2", b' "a   b   c"'), SUITE_DATE),
        b"",
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        'GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\n'
        f"x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-slashes",
        "GET",
        b"//example//",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY}",
    ),
    Vector(
        "get-relative-relative",
        "GET",
        b"/example1/example2/../..",
        (SUITE_HOST, SUITE_DATE),
        b"",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    Vector(
        "post-x-www-form-urlencoded",
        "POST",
        b"/",
        (
            (b"content-type", b"application/x-www-form-urlencoded"),
            SUITE_HOST,
            SUITE_DATE,
            (b"content-length", b"13"),
        ),
        b"Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
]


def suite_request(vector: Vector) -> Received:
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={SUITE_SCOPE}, SignedHeaders={vector.signed_headers}, "
        f"Signature={vector.signature}"
    )
    path, _, query = vector.target.partition(b"?")
    headers = [*vector.headers, (b"authorization", authorization.encode())]
    return Received(vector.method, path, query, headers, vector.body)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_the_aws_test_suite_vectors_verify(vector: Vector) -> None:
    received = suite_request(vector)
    auth = sigv4.parse(received.headers, service="service")
    payload = hashlib.sha256(received.body).hexdigest()

    assert (auth.access_key_id, auth.date, auth.region) == ("AKIDEXAMPLE", "20150830", "us-east-1")
    if vector.canonical is not None:
        assert vector.canonical == sigv4.canonical_request(
            auth, received.method, received.raw_path, received.query, received.headers, payload
        )
    assert sigv4.verify(
        auth,
        SUITE_SECRET,
        received.method,
        received.raw_path,
        received.query,
        received.headers,
        payload,
    )
    assert not sigv4.verify(
        auth,
        SUITE_SECRET[:-1],
        received.method,
        received.raw_path,
        received.query,
        received.headers,
        payload,
    )


@pytest.mark.parametrize(
    ("raw_path", "canonical"),
    [
        (b"", "/"),
        (b"/", "/"),
        (b"/./", "/"),
        (b"/example/..", "/"),
        (b"/./example", "/example"),
        (b"/a b/", "/a%20b/"),  # the suite's get-space: a raw space
        ("/ሴ".encode(), "/%E1%88%B4"),  # its get-utf8
        (b"/functions/my%3Afn/invocations", "/functions/my%253Afn/invocations"),
        (b"/keep~tilde/and-dash_.x", "/keep~tilde/and-dash_.x"),
    ],
)
def test_the_path_is_signed_normalized_and_encoded_once_more(
    raw_path: bytes, canonical: str
) -> None:
    assert sigv4.canonical_uri(raw_path) == canonical


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        (b"", ""),
        (b"b=2&a=1", "a=1&b=2"),
        (b"a=2&a=10&a=1", "a=1&a=10&a=2"),
        (b"flag&a=", "a=&flag="),
        (b"q=a+b%2Bc", "q=a%20b%2Bc"),  # '+' is a space; an escaped '+' stays one
        (b"k=%7e%2a", "k=~%2A"),  # '~' needs no escape, '*' does, in capitals
        (b"Marker=a%20b", "Marker=a%20b"),
    ],
)
def test_the_query_is_signed_decoded_encoded_strictly_and_sorted(
    query: bytes, canonical: str
) -> None:
    assert sigv4.canonical_query(query) == canonical


# --- The body the signature covers ---------------------------------------------------------


def request_claiming(claim: str, body: bytes) -> Received:
    request = AWSRequest(
        "POST",
        "http://127.0.0.1:9001/2015-03-31/functions/hello/invocations",
        headers={"X-Amz-Content-SHA256": claim},
        data=body,
    )
    return on_the_wire(signed(request))


def test_a_body_hash_named_in_a_header_must_be_the_bodys() -> None:
    body = b'{"name": "world"}'

    honest = request_claiming(hashlib.sha256(body).hexdigest(), body)
    swapped = replace(request_claiming(hashlib.sha256(body).hexdigest(), body), body=b"{}")
    unsigned = request_claiming("UNSIGNED-PAYLOAD", body)

    assert honest.verify()
    assert not swapped.verify()
    assert not unsigned.verify()


# --- Freshness: 5 minutes either side ------------------------------------------------------

SIGNED = "20261206T101010Z"


def at(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def auth_signed_at(stamp: str) -> sigv4.Authorization:
    return sigv4.parse(headers(date=stamp))


def headers(
    *,
    date: str = SIGNED,
    authorization: str | None = None,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> list[tuple[bytes, bytes]]:
    if authorization is None:
        authorization = (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{date[:8]}/us-east-1/lambda/"
            f"aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
        )
    return [
        (b"host", b"127.0.0.1:9001"),
        (b"x-amz-date", date.encode()),
        (b"authorization", authorization.encode()),
        *extra,
    ]


@pytest.mark.parametrize(
    "now", ["20261206T101410Z", "20261206T100610Z", "20261206T101510Z", "20261206T100510Z"]
)
def test_a_request_signed_within_5_minutes_either_side_is_fresh(now: str) -> None:
    sigv4.check_fresh(auth_signed_at(SIGNED), at(now))


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (
            "20261206T102010Z",
            "Signature expired: 20261206T101010Z is now earlier than 20261206T101510Z "
            "(20261206T102010Z - 5 min.)",
        ),
        (
            "20261206T101611Z",
            "Signature expired: 20261206T101010Z is now earlier than 20261206T101111Z "
            "(20261206T101611Z - 5 min.)",
        ),
        (
            "20261206T100410Z",
            "Signature not yet current: 20261206T101010Z is still later than 20261206T100910Z "
            "(20261206T100410Z + 5 min.)",
        ),
    ],
)
def test_a_request_signed_6_minutes_away_is_refused_as_aws_words_it(now: str, message: str) -> None:
    with pytest.raises(SignatureExpired) as refused:
        sigv4.check_fresh(auth_signed_at(SIGNED), at(now))

    assert refused.value.message == message
    assert isinstance(refused.value, InvalidSignature)


def test_a_date_header_stands_in_for_x_amz_date() -> None:
    request = AWSRequest("GET", "http://127.0.0.1:9001/2015-03-31/functions", headers={"Date": "x"})
    received = on_the_wire(signed(request))

    auth = sigv4.parse(received.headers)

    assert b"date" in auth.signed_headers and b"x-amz-date" not in auth.signed_headers
    assert abs(auth.signed_at - time.time()) < 60
    assert received.verify()


# --- What the Authorization header says ------------------------------------------------------


def test_the_authorization_header_is_read_into_its_parts() -> None:
    auth = sigv4.parse(headers())

    assert auth == sigv4.Authorization(
        access_key_id=ACCESS_KEY_ID,
        date="20261206",
        region="us-east-1",
        service="lambda",
        signed_headers=(b"host", b"x-amz-date"),
        signature="0" * 64,
        amz_date=SIGNED,
        signed_at=at(SIGNED),
    )
    assert auth.scope == "20261206/us-east-1/lambda/aws4_request"


def test_no_authorization_header_is_a_missing_token() -> None:
    with pytest.raises(MissingAuthenticationToken, match=r"^Missing Authentication Token$"):
        sigv4.parse([(b"host", b"127.0.0.1:9001"), (b"x-amz-date", SIGNED.encode())])


CREDENTIAL = f"Credential={ACCESS_KEY_ID}/20261206/us-east-1/lambda/aws4_request"
SIGNATURE = f"Signature={'a' * 64}"


@pytest.mark.parametrize(
    ("authorization", "complaint"),
    [
        ("Bearer admin-key-0123456789abcdef", "must use the AWS4-HMAC-SHA256 algorithm"),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        (f"AWS4-HMAC-SHA256 {CREDENTIAL}, {SIGNATURE}", "requires 'SignedHeaders' parameter"),
        (f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host", "requires 'Signature' parameter"),
        ("AWS4-HMAC-SHA256 Credential, SignedHeaders=host", "not a valid key=value pair"),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261206/lambda/aws4_request, "
            f"SignedHeaders=host, {SIGNATURE}",
            "Credential must be ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
        ),
        (
            f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=x-amz-date, {SIGNATURE}",
            "'Host' or ':authority' must be a 'SignedHeader'",
        ),
        (
            f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host;;x-amz-date, {SIGNATURE}",
            "SignedHeaders must be header names",
        ),
        (
            f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host, Signature=xyz",
            "Signature must be 64 hexadecimal digits",
        ),
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(
    authorization: str, complaint: str
) -> None:
    with pytest.raises(IncompleteSignature, match=complaint):
        sigv4.parse(headers(authorization=authorization))


@pytest.mark.parametrize("date", ["2026-12-06T10:10:10Z", "20261306T101010Z", "20261206T101010"])
def test_a_request_date_not_in_iso_8601_basic_form_is_refused(date: str) -> None:
    with pytest.raises(IncompleteSignature, match="X-Amz-Date must be in the ISO 8601 basic"):
        sigv4.parse(
            headers(
                date=date,
                authorization=f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host, {SIGNATURE}",
            )
        )


def test_a_request_without_a_date_says_which_headers_it_needs() -> None:
    authorization = f"AWS4-HMAC-SHA256 {CREDENTIAL}, SignedHeaders=host, {SIGNATURE}"

    with pytest.raises(IncompleteSignature, match="either a 'X-Amz-Date' or a 'Date' header"):
        sigv4.parse([(b"host", b"h"), (b"authorization", authorization.encode())])


def test_two_authorization_headers_are_refused() -> None:
    with pytest.raises(IncompleteSignature, match="more than one Authorization"):
        sigv4.parse(headers(extra=((b"authorization", b"AWS4-HMAC-SHA256 x=y"),)))


@pytest.mark.parametrize(
    ("credential", "complaint"),
    [
        (
            f"{ACCESS_KEY_ID}/20261206/us-east-1/s3/aws4_request",
            "Credential should be scoped to correct service: 'lambda'.",
        ),
        (
            f"{ACCESS_KEY_ID}/20261206/us-east-1/lambda/aws5_request",
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'.",
        ),
        (
            f"{ACCESS_KEY_ID}/20261205/us-east-1/lambda/aws4_request",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20261205' != '20261206', from '20261206T101010Z'.",
        ),
    ],
)
def test_a_scope_that_is_not_this_services_or_this_days_is_an_invalid_signature(
    credential: str, complaint: str
) -> None:
    authorization = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, {SIGNATURE}"

    with pytest.raises(InvalidSignature) as refused:
        sigv4.parse(headers(authorization=authorization))

    assert refused.value.message == complaint


def test_any_region_is_taken_and_signed_over() -> None:
    request = AWSRequest("GET", "http://127.0.0.1:9001/2015-03-31/functions")
    received = on_the_wire(signed(request, region="local-1"))

    assert sigv4.parse(received.headers).region == "local-1"
    assert received.verify()
