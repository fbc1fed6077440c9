"""The Procrastinate side of the pipeline comparison: a no-op task, its app, and a batch defer.

Imported only by the subprocesses of ``bench/versus_procrastinate.py``, with Procrastinate on
their ``PYTHONPATH`` (``lazy.py``). ``python -m bench.procrastinate_app N`` defers N jobs in
one transaction and prints the time of the commit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from procrastinate import App, PsycopgConnector  # type: ignore[import-not-found]

app = App(connector=PsycopgConnector(conninfo=os.environ["AUTOMATE_BENCH_PROCRASTINATE_DSN"]))


@app.task(name="noop", queue="bench")
def noop(n: int) -> None:
    """Nothing: what is measured is the queue around it (a sync task, as Django code usually is)."""


async def defer(count: int) -> None:
    async with app.open_async():
        await noop.batch_defer_async(*({"n": n} for n in range(count)))


if __name__ == "__main__":
    asyncio.run(defer(int(sys.argv[1])))
    print(time.time())
