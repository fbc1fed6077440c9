"""Everything that turns the outside world into Events: webhooks, emit(), model changes, schedules."""
