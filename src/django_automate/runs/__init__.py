"""Execution runs: state transitions and the step executor."""
