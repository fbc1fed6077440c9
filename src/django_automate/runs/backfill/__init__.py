"""Backfill: replay the events a filter selects, after a dry run, as a cancellable, resumable background job.

:mod:`.filters` reads and applies the filter, :mod:`.planning` decides the runs an event's
current rules start, :mod:`.dry_run` counts them without writing, :mod:`.services` requests,
cancels and resumes backfills (audited), and :mod:`.batches` is the worker's job.
"""
