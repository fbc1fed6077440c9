"""Governance against the real database: secrets, budgets, audit, and the canary leak test."""
