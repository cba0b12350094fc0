"""The chunked-body reader of the container's HTTP server (pure): a body as it arrives."""

from __future__ import annotations

import pytest

from runtimes.protocol.http1 import ChunkedBody, HttpError, parse_head

BODY = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Error: boom\r\n\r\n"


def feed_in_pieces(data: bytes, size: int) -> tuple[list[bytes], dict[str, str], bool]:
    body, buf, got, ended = ChunkedBody(), bytearray(), [], False
    for at in range(0, len(data), size):
        buf += data[at : at + size]
        pieces, ended = body.feed(buf)
        got += pieces
    return got, body.trailers, ended


@pytest.mark.parametrize("size", [1, 2, 3, 7, len(BODY)])
def test_a_body_read_in_any_pieces_gives_its_data_and_trailers(size: int) -> None:
    pieces, trailers, ended = feed_in_pieces(BODY, size)
    assert ended
    assert b"".join(pieces) == b"hello world!"
    assert trailers == {"x-error": "boom"}


def test_each_chunk_is_given_as_soon_as_it_arrived() -> None:
    body, buf = ChunkedBody(), bytearray(b"5\r\nhel")
    assert body.feed(buf) == ([b"hel"], False)
    buf += b"lo\r\n"
    assert body.feed(buf) == ([b"lo"], False)
    buf += b"0\r\n\r\nGET /next HTTP/1.1\r\n"
    assert body.feed(buf) == ([], True)
    assert bytes(buf) == b"GET /next HTTP/1.1\r\n"  # the next request stays in the buffer
    assert body.total == 5


@pytest.mark.parametrize(
    "bad",
    [b"zz\r\nhello\r\n", b"5\r\nhelloXX", b"123456789\r\n", b"0\r\nno colon\r\n\r\n"],
)
def test_a_malformed_body_is_refused(bad: bytes) -> None:
    with pytest.raises(HttpError) as refused:
        ChunkedBody().feed(bytearray(bad))
    assert refused.value.args[0] == 400


def test_a_chunked_head_is_read_and_other_codings_refused() -> None:
    request, length, _ = parse_head(b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert request.chunked is not None and length == 0
    for head in (
        b"POST /r HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    ):
        with pytest.raises(HttpError) as refused:
            parse_head(head)
        assert refused.value.args[0] == 411
