"""Key-based redaction: one policy for stored data, payload views and log records."""

from __future__ import annotations

import logging

from django_automate.policy import masking
from django_automate.policy.logfilter import RedactingFilter
from django_automate.policy.redaction import REDACTED, present, redact


def make_record(msg: str, args: object = (), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_tuples_are_redacted_like_lists():
    assert redact({"rows": ({"token": "t", "id": 1},)}) == {"rows": ({"token": REDACTED, "id": 1},)}


def test_payloads_are_shown_redacted_unless_raw_was_allowed():
    payload = {"card": {"number": "4242", "private_note": "x"}}
    assert present(payload) == {"card": {"number": "4242", "private_note": REDACTED}}
    assert present(payload, raw=True) == payload


def test_filter_redacts_extra_values_by_key_and_nested_structures():
    record = make_record("done", api_token="abc", payload={"password": "p", "user": "u"}, action="x")
    assert RedactingFilter().filter(record)
    assert record.api_token == REDACTED
    assert record.payload == {"password": REDACTED, "user": "u"}
    assert record.action == "x"


def test_filter_redacts_mapping_arguments_and_dicts_among_positional_arguments():
    record = make_record("%(user)s %(session_id)s", {"user": "bob", "session_id": "s1"})
    RedactingFilter().filter(record)
    assert record.getMessage() == f"bob {REDACTED}"
    record = make_record("headers %s", ({"Authorization": "Bearer x", "Accept": "*/*"},))
    RedactingFilter().filter(record)
    assert record.getMessage() == f"headers {{'Authorization': '{REDACTED}', 'Accept': '*/*'}}"


def test_filter_masks_resolved_values_in_records_made_before_the_scope_began():
    record = make_record("token is %s", ("v4lue-123",), detail="got v4lue-123")
    with masking.scope({"v4lue-123"}):
        RedactingFilter().filter(record)
    assert record.getMessage() == f"token is {REDACTED}"
    assert record.detail == f"got {REDACTED}"
