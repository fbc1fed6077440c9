"""The append-only audit log with a hash chain."""
