"""A logging filter that applies the redaction policy to log records.

Add it to your handlers (``LOGGING["filters"]``) so that structured values passed with
``extra=`` or as a mapping argument are redacted by key, and resolved secret values of the
step being executed are masked, exactly as they are in stored step data::

    LOGGING = {
        "filters": {"automate_redact": {"()": "django_automate.policy.logfilter.RedactingFilter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["automate_redact"]}},
        ...
    }
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django_automate.policy import masking
from django_automate.policy.redaction import REDACTED, is_sensitive, redact, sensitive_keys

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Redact ``extra`` values and mapping arguments by key; mask the current step's secret values."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = sensitive_keys()
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD or name.startswith("_"):
                continue
            if is_sensitive(name, keys):
                setattr(record, name, REDACTED)
            elif isinstance(value, (dict, list, tuple)):
                setattr(record, name, redact(value, keys))
        if isinstance(record.args, Mapping):
            record.args = redact(dict(record.args), keys)
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a, keys) if isinstance(a, (dict, list)) else a for a in record.args)
        # Records created during a step were masked at birth (masking.install_record_masking);
        # this pass covers records built some other way (logging.makeLogRecord) in the step's context.
        values = masking.active_values()
        if values:
            masking.mask_record(record, values)
        return True
