"""trace_id handling: context, W3C traceparent parsing and logging integration."""
