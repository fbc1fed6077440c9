"""Inbound webhooks: ``POST /automate/hooks/<slug>/``."""
