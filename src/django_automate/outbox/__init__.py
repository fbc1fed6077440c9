"""The transactional outbox: enqueue, claim (SKIP LOCKED), leases with fencing, retries."""
