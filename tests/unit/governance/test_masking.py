"""Resolved secret values are masked in every form they come back in, and in log records."""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import threading
from urllib.parse import quote, quote_plus

import pytest

from django_automate.policy import masking
from django_automate.policy.redaction import REDACTED, mask_values

SECRET = 'sk_live/Zx9+"q"é&=?:@ tail'


def encodings(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "raw": value,
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value),
        "json": json.dumps(value)[1:-1],
        "json_utf8": json.dumps(value, ensure_ascii=False)[1:-1],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }


@pytest.mark.parametrize("form", sorted(encodings(SECRET)))
def test_every_encoded_form_of_a_secret_is_masked_inside_text(form):
    text = f"before {encodings(SECRET)[form]} after"
    masked = masking.mask_text(text, {SECRET})
    assert masked == f"before {REDACTED} after"


@pytest.mark.parametrize("prefix", ["", "u", "us", "user:", "user:x"])
def test_a_secret_base64_encoded_inside_a_longer_value_is_masked_at_any_alignment(prefix):
    # e.g. HTTP Basic auth: base64("user:" + secret)
    blob = base64.b64encode(f"{prefix}{SECRET}".encode()).decode()
    masked = masking.mask_text(f"Authorization: Basic {blob}", {SECRET})
    assert REDACTED in masked
    # What is left of the blob is at most a few characters on each side: not enough to decode the secret.
    leftover = masked.removeprefix("Authorization: Basic ").split(REDACTED)
    assert all(len(part) <= len(base64.b64encode(prefix.encode())) + 4 for part in leftover)


def test_masking_ignores_letter_case_because_hosts_and_escapes_come_back_in_either():
    value = "CANARY-8f14e45f"
    assert masking.mask_text("https://canary-8f14e45f.example/", {value}) == f"https://{REDACTED}.example/"
    assert masking.mask_text(value.encode().hex().upper(), {value}) == REDACTED


def test_mask_values_walks_keys_values_lists_and_tuples_and_leaves_other_types():
    data = {"k": ["x tok3n-value y", ("tok3n-value",)], "tok3n-value": 1, "n": 5, "none": None}
    assert mask_values(data, {"tok3n-value"}) == {
        "k": [f"x {REDACTED} y", (REDACTED,)],
        REDACTED: 1,
        "n": 5,
        "none": None,
    }


def test_empty_and_missing_secrets_change_nothing():
    assert mask_values({"a": "text"}, set()) == {"a": "text"}
    assert mask_values({"a": "text"}, {""}) == {"a": "text"}


def test_short_base64_fragments_are_not_masked_on_their_own():
    forms = masking.secret_forms("abcd")
    assert base64.b64encode(b"abcd").decode() in forms
    assert all(len(form) >= 4 for form in forms)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def handler():
    handler = ListHandler()
    logger = logging.getLogger("governance.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)


def test_log_records_created_inside_a_scope_are_masked_message_args_and_traceback(handler):
    logger = logging.getLogger("governance.test")
    values: set[str] = set()
    with masking.scope(values):
        values.add("s3cr3t-value")  # resolved after the scope started: still masked
        logger.info("calling with %s", "s3cr3t-value")
        try:
            raise RuntimeError("boom s3cr3t-value " + base64.b64encode(b"s3cr3t-value").decode())
        except RuntimeError:
            logger.exception("failed")
    logger.info("outside %s", "s3cr3t-value")
    assert handler.lines[0] == f"calling with {REDACTED}"
    assert "RuntimeError: boom" in handler.lines[1] and "Traceback" in handler.lines[1]
    assert "s3cr3t-value" not in handler.lines[1] and "czNjcjN0LXZhbHVl" not in handler.lines[1]
    assert handler.records[1].exc_info is None  # error reporters reading exc_info get nothing to leak
    assert handler.lines[2] == "outside s3cr3t-value"  # no scope, no masking


def test_the_scope_follows_copied_contexts_into_helper_threads(handler):
    logger = logging.getLogger("governance.test")
    with masking.scope({"thread-secret"}):
        context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(logger.warning, "in thread: thread-secret"))
    thread.start()
    thread.join()
    assert handler.lines == [f"in thread: {REDACTED}"]
