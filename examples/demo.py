"""The quick-start demo: an order pipeline on the embedded default backend.

Enqueues a few hundred jobs of four kinds (async, thread, process pool, flaky with
retries), runs a worker in this process and shows the queue's counts live, then reads
back results, logs and the error history of a job that needed retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table

from conveyor import (
    Backoff,
    BulkJob,
    JobContext,
    ProcessJob,
    Queue,
    SyncJobContext,
    Worker,
    WorkerSettings,
)
from conveyor.backends import resolve_url

orders = Queue("demo-orders")
console = Console()


@dataclass
class Order:
    order_id: int
    amount_cents: int


@orders.job(payload=Order)
async def send_receipt(job: JobContext[Order]) -> str:
    await asyncio.sleep(0.01)  # an email API call
    await job.update_progress(100)
    return f"receipt for order {job.data.order_id}"


@orders.job(payload=Order)
def render_invoice(job: SyncJobContext[Order]) -> int:
    job.log(f"rendering invoice for {job.data.order_id}")  # plain def: runs in a thread
    time.sleep(0.005)
    return job.data.amount_cents


@orders.job(cpu_bound=True)
def thumbnail(job: ProcessJob[dict[str, int]]) -> str:
    digest = b"x" * 10_000  # CPU work runs in a process pool, off the event loop
    for _ in range(job.data["rounds"]):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:12]


@orders.job(payload=Order)
async def charge_card(job: JobContext[Order]) -> str:
    if job.attempts_made == 0 and random.random() < 0.3:
        raise ConnectionError("payment gateway timed out")  # retried with backoff
    return f"charged {job.data.amount_cents / 100:.2f}"


def counts_table(counts: dict[str, int], elapsed: float) -> Table:
    table = Table(title=f"queue {orders.name!r} — {elapsed:.1f}s")
    for state in ("waiting", "prioritized", "delayed", "active", "completed", "failed"):
        table.add_column(state, justify="right")
    table.add_row(*(str(counts[s]) for s in ("waiting", "prioritized", "delayed", "active",
                                             "completed", "failed")))
    return table


async def main() -> None:
    console.print(f"[bold]conveyor demo[/] on {resolve_url()}")
    await orders.obliterate(force=True)
    jobs = []
    for i in range(1, 101):
        order = Order(i, random.randint(500, 50_000))
        jobs.append(BulkJob("send_receipt", order))
        jobs.append(BulkJob("render_invoice", order, options={"priority": 5}))
        jobs.append(BulkJob("charge_card", order,
                            options={"attempts": 3, "backoff": Backoff.fixed(0.2)}))
    jobs += [BulkJob("thumbnail", {"rounds": 20_000}) for _ in range(8)]
    await orders.add_bulk(jobs)
    total = len(jobs)
    started = time.monotonic()
    async with Worker(orders, settings=WorkerSettings(concurrency=20)):
        with Live(console=console, refresh_per_second=8) as live:
            while True:
                counts = await orders.counts()
                live.update(counts_table(dict(counts), time.monotonic() - started))
                if counts["completed"] + counts["failed"] >= total:
                    break
                await asyncio.sleep(0.1)
    console.print(f"[green]{total} jobs done in {time.monotonic() - started:.1f}s[/]")
    retried = [j for j in await orders.get_jobs("completed", limit=1000) if j.errors]
    if retried:
        job = retried[0]
        console.print(f"job {job.id} ({job.name}) needed {job.attempts_made} attempts; "
                      f"first error: {job.errors[0].type}: {job.errors[0].message}; "
                      f"result: {job.result!r}")
    invoice = next(j for j in await orders.get_jobs("completed", limit=1000)
                   if j.name == "render_invoice")
    console.print(f"job {invoice.id} logs: {await invoice.logs()}")
    console.print("Inspect it yourself: [bold].venv/bin/conveyor queues[/]")
    await orders.close()


if __name__ == "__main__":
    asyncio.run(main())
