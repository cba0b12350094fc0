"""SNS's query protocol, answered: XML documents as botocore's query parser reads them.
Pure.

Every answer is ``<{Action}Response xmlns=...>``, its ``<{Action}Result>`` (for
actions that return something) and ``<ResponseMetadata><RequestId>``; an error is
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>``. Text is
escaped (``&``, ``<``, ``>``; a carriage return as ``&#13;``, which XML would
otherwise read as a newline).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.responses import Response

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
MEDIA_TYPE = "text/xml"


def escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def element(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f"<{name}>{escape(value)}</{name}>"


def fields(values: Mapping[str, str | None]) -> str:
    return "".join(element(name, value) for name, value in values.items())


def entries(values: Mapping[str, str]) -> str:
    """A map: ``<entry><key/><value/></entry>`` each."""
    return "".join(
        f"<entry>{element('key', k)}{element('value', v)}</entry>" for k, v in values.items()
    )


def members(items: Iterable[str]) -> str:
    """A list of structures (each already XML): ``<member>...</member>`` each."""
    return "".join(f"<member>{item}</member>" for item in items)


def answer(action: str, request_id: str, result: str | None = None) -> Response:
    body = f'<?xml version="1.0"?><{action}Response xmlns="{XMLNS}">'
    if result is not None:
        body += f"<{action}Result>{result}</{action}Result>"
    body += f"<ResponseMetadata>{element('RequestId', request_id)}</ResponseMetadata>"
    body += f"</{action}Response>"
    return Response(body, media_type=MEDIA_TYPE, headers={"x-amzn-RequestId": request_id})


def error(status: int, kind: str, code: str, message: str, request_id: str) -> Response:
    body = (
        f'<?xml version="1.0"?><ErrorResponse xmlns="{XMLNS}"><Error>'
        f"{element('Type', kind)}{element('Code', code)}{element('Message', message)}"
        f"</Error>{element('RequestId', request_id)}</ErrorResponse>"
    )
    return Response(
        body, status_code=status, media_type=MEDIA_TYPE, headers={"x-amzn-RequestId": request_id}
    )
