"""Rules: JSON Logic evaluation and validation, and matching events to rules."""
