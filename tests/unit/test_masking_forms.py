"""A secret is masked in the forms real libraries write it in, and in every attribute of a log record.

The encoded forms are produced by the libraries themselves (httpx, urllib, email, json,
repr), not written out by hand, so a library that escapes differently fails here.
"""

from __future__ import annotations

import base64
import email.header
import email.message
import email.policy
import html
import json
import logging
import quopri
import traceback
from urllib.parse import quote, urlencode

import httpx
import pytest

from django_automate.connectors.responses import BODY_EXCERPT_CHARS, status_error
from django_automate.policy import masking
from django_automate.policy.logfilter import RedactingFilter
from django_automate.policy.redaction import REDACTED
from django_automate.tracing.logging import JSONFormatter

# Characters URL encoders disagree about, a space, quotes, a backslash and non-ASCII (1 to 4 UTF-8 bytes).
SECRET = "k3y+a=b&c@d/e f\"g'h\\i é€😀:;,!*~"


def _mail_header(policy: email.policy.Policy, value: str) -> str:
    message = email.message.EmailMessage(policy=policy)
    message["Subject"] = value
    message.set_content("body")
    return message.as_string().split("Content-Type")[0]


def library_forms(secret: str) -> dict[str, str]:
    """Name → text a library writes when it carries ``secret`` (around it: ordinary context)."""
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200))) as client:
        sent = client.get("http://example.test/p", params={"t": secret}).request
    return {
        "httpx raw query": str(httpx.URL(f"http://example.test/x?t={secret}")),
        "httpx path": str(httpx.URL(f"http://example.test/{secret}")),
        "httpx raw_path": httpx.URL(f"http://example.test/{secret}?q={secret}").raw_path.decode(),
        "httpx params": str(httpx.URL("http://example.test/x", params={"t": secret})),
        "httpx sent request": str(sent.url),
        "httpx merged params": str(httpx.URL("http://example.test/x?a=1").copy_merge_params({"t": secret})),
        "urlencode": urlencode({"t": secret}),
        "urlencode quote": urlencode({"t": secret}, quote_via=quote),
        "quote lower-case escapes": quote(secret, safe="").lower(),
        "quote twice": quote(quote(secret, safe=""), safe=""),
        "json": json.dumps({"t": secret}),
        "json utf-8": json.dumps({"t": secret}, ensure_ascii=False),
        "json in json": json.dumps(json.dumps({"t": secret})),
        "repr str": repr({"t": secret}),
        "repr bytes": repr([(b"authorization", f"Bearer {secret}".encode())]),
        "KeyError": str(KeyError(secret)),
        "html": html.escape(f"<p>{secret}</p>"),
        "base64 basic auth": base64.b64encode(f"user:{secret}".encode()).decode(),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode(),
        "hex upper": secret.encode().hex().upper(),
        "mail header": email.header.Header(secret, "utf-8").encode(),
        "mail message": _mail_header(email.policy.default, f"a subject long enough to be folded: {secret} and after"),
        "mail message smtp": _mail_header(email.policy.SMTP, secret),
        "quoted-printable": quopri.encodestring(secret.encode()).decode(),
    }


FORMS = library_forms(SECRET)


def test_the_libraries_really_write_the_secret_in_different_forms():
    # A guard on the test itself: were these all the same text, they would prove little.
    assert len(set(FORMS.values())) == len(FORMS)
    assert SECRET not in FORMS["httpx raw query"] and "+a=b&c@d/e%20f" in FORMS["httpx raw query"]


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_secret_is_masked_in_the_form_a_library_writes_it(name):
    text = f"HTTP Request: GET {FORMS[name]} done"
    masked = masking.mask_text(text, {SECRET})
    assert REDACTED in masked
    assert library_forms(SECRET)[name] not in masked
    # What is left around the mask is never a recognisable piece of the secret.
    for piece in ("k3y", "a=b&c", "%2Bk3y", "e%20f", "\\u00e9", "%C3%A9", "=C3=A9"):
        assert piece.lower() not in masked.lower(), (piece, masked)


@pytest.mark.parametrize("text", ["nothing to see", "k3y+a", "HTTP Request: GET https://example.test/?t=1"])
def test_text_without_the_secret_is_left_alone(text):
    assert masking.mask_text(text, {SECRET}) == text


def test_an_excerpt_is_masked_before_it_is_cut_so_no_prefix_of_the_secret_survives():
    values = {SECRET}
    body = "x" * (BODY_EXCERPT_CHARS - 10) + SECRET
    with masking.scope(values):
        assert masking.excerpt(body, BODY_EXCERPT_CHARS) == "x" * (BODY_EXCERPT_CHARS - 10) + REDACTED[:10]
        request = httpx.Request("GET", "http://example.test/")
        error = status_error(httpx.Response(500, content=body.encode(), request=request), body.encode())
    assert error is not None
    assert "k3y" not in error.details["body"] and error.details["body"].endswith(REDACTED[:10])


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


class _Token:
    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return f"Token({self.value})"


@pytest.fixture
def captured():
    logger = logging.getLogger("test_masking_forms")
    plain = _Capture(logging.Formatter("%(message)s %(data)s %(nested)s %(blob)s %(token)s"))
    structured = _Capture(JSONFormatter())
    for handler in (plain, structured):
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, plain, structured
    for handler in (plain, structured):
        logger.removeHandler(handler)


def test_every_attribute_of_a_record_made_during_a_step_is_masked_extras_of_any_type_included(captured):
    logger, plain, structured = captured
    extra = {
        "data": json.dumps({"t": SECRET}),
        "nested": {"list": [("deep", {SECRET: f"x {SECRET}"})], "n": 1},
        "blob": f"Bearer {SECRET}".encode(),
        "token": _Token(SECRET),
    }
    with masking.scope({SECRET}):
        logger.warning("calling %s with %r", FORMS["httpx raw query"], {"t": SECRET}, extra=extra, stack_info=True)
    for line in plain.lines + structured.lines:
        assert REDACTED in line
        for form in FORMS.values():
            assert form not in line
        assert "k3y" not in line
    record = plain.records[0]
    assert record.nested["n"] == 1  # values holding no secret keep their type
    assert "k3y" not in str(record.__dict__)


def test_the_json_formatter_keeps_the_masked_traceback_of_a_crash(captured):
    logger, plain, structured = captured
    with masking.scope({SECRET}):
        try:
            raise RuntimeError(f"upstream rejected {SECRET}")
        except RuntimeError:
            logger.exception("Step crashed", extra={"data": None, "nested": None, "blob": None, "token": None})
    line = json.loads(structured.lines[0])
    assert "Traceback (most recent call last)" in line["exc_info"]
    assert f"RuntimeError: upstream rejected {REDACTED}" in line["exc_info"]
    assert "k3y" not in structured.lines[0] and "k3y" not in plain.lines[0]


def test_the_json_formatter_still_writes_the_traceback_of_records_made_outside_a_step(captured):
    logger, _plain, structured = captured
    try:
        raise ValueError("plain failure")
    except ValueError:
        logger.exception("failed", extra={"data": 1, "nested": 2, "blob": 3, "token": 4})
    assert "ValueError: plain failure" in json.loads(structured.lines[0])["exc_info"]


def test_the_redacting_filter_masks_records_made_without_a_logger():
    record = logging.makeLogRecord(
        {"msg": "got %s", "args": (SECRET,), "data": {"t": [SECRET]}, "exc_text": "".join(traceback.format_stack())}
    )
    record.exc_text += SECRET
    with masking.scope({SECRET}):
        RedactingFilter().filter(record)
    assert "k3y" not in record.getMessage() + str(record.data) + record.exc_text
