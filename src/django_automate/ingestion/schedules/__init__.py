"""Schedules: tick computation (cron or interval, timezone aware) and the scheduler loop that emits their events."""
