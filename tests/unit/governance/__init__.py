"""Unit tests of secrets, redaction and masking, budget windows and the audit chain."""
