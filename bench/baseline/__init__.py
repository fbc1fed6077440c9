"""A bench-only Django app: the minimal view that the webhook endpoint is compared with."""
