"""Policy: redaction of sensitive values, budgets."""
