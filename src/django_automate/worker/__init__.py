"""Workers: the claim loop, lease heartbeats, signal handling and execution backends."""
