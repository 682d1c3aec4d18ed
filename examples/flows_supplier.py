"""A supplier sync as a flow: one job per product family, one per image of a family, and
each parent runs once its children are done, with what they returned (docs/flows.md).

    python examples/flows_supplier.py                                   # SQLite file
    CONVEYOR_URL=redis://localhost:6379 python examples/flows_supplier.py
    conveyor jobs tree flows-suppliers acme-2026-12-01                  # then look at it
"""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor import (
    JobContext,
    JobTree,
    Queue,
    UnrecoverableError,
    WaitForChildren,
    Worker,
    add_flow,
)

suppliers = Queue("flows-suppliers")  # CONVEYOR_URL, else the SQLite file
families = Queue("flows-families", backend=suppliers.backend)
images = Queue("flows-images", backend=suppliers.backend)

FEED = {  # what the supplier's API answers: its families, and each family's images
    "A100": ["https://cdn.example/a100-front.jpg", "https://cdn.example/a100-back.jpg"],
    "A200": ["https://cdn.example/a200-front.jpg", "https://cdn.example/a200-gone.jpg"],
    "A300": [],
}


@images.job()
async def fetch_image(job: JobContext[dict[str, str]]) -> dict[str, Any]:
    url = job.data["url"]
    if url.endswith("-gone.jpg"):
        raise UnrecoverableError(f"404 for {url}")  # no retry helps a missing image
    return {"url": url, "bytes": 1000 * len(url)}  # a download and a resize go here


@families.job()
async def sync_family(job: JobContext[dict[str, Any]]) -> dict[str, Any]:
    family = job.data["family"]
    if job.data.get("step") is None:
        # First run: find the family's images, add one child job each, and wait for them
        # without holding a worker slot. The ids derive from this job's id, so a run cut
        # short after add_children (a worker killed) adds the same jobs again, which
        # finds the first run's jobs instead of doubling them.
        await job.add_children(
            [
                fetch_image.node(
                    {"url": url},
                    job_id=f"{job.id}-image-{n}",
                    on_failure="ignore",  # publish the family without a broken image
                )
                for n, url in enumerate(FEED[family])
            ]
        )
        if family == "A200" and job.attempts_made == 0:
            raise ConnectionError("worker lost after adding the images (simulated)")
        raise WaitForChildren(data={**job.data, "step": "publish"})
    # Second run: every image has finished. Publish the family with those that came.
    fetched = await job.children_values()  # {"flows-images:<id>": what fetch_image returned}
    broken = await job.children_failures()  # {"flows-images:<id>": "UnrecoverableError: ..."}
    return {"family": family, "images": len(fetched), "broken": sorted(broken)}


@suppliers.job()
async def sync_supplier(job: JobContext[dict[str, str]]) -> dict[str, Any]:
    # Runs once, after every family: no polling task waits for them.
    published = (await job.children_values()).values()
    return {
        "supplier": job.data["supplier"],
        "families": sorted(f["family"] for f in published),
        "images": sum(f["images"] for f in published),
        "broken": [ref for f in published for ref in f["broken"]],
    }


def show(tree: JobTree, depth: int = 0) -> None:
    print(f"{'  ' * depth}{tree.ref} {tree.state}")
    for child in tree.children:
        show(child, depth + 1)


async def main() -> None:
    for queue in (suppliers, families, images):
        await queue.obliterate(force=True)  # start afresh each time the example runs
    run = "acme-2026-12-01"  # one sync per supplier and day: adding it twice adds it once
    supplier = sync_supplier.node(
        {"supplier": "acme"},
        job_id=run,
        children=[
            sync_family.node({"family": family}, job_id=f"{run}-{family}", attempts=2)
            for family in FEED
        ],
    )
    flow = await add_flow(supplier)
    print(flow.job.id, flow.job.state, [child.job.state for child in flow.children])
    again = await add_flow(supplier)  # a producer that crashed and ran again
    print("added again:", again.job.created, "with", len(again.children), "children")

    await Worker([suppliers, families, images]).run_burst()  # until no job is left

    done = await suppliers.get_job(run)
    assert done is not None
    assert done.state == "completed", done.failed_reason
    print("result:", done.result)
    show(await suppliers.tree(run))
    family = await families.get_job(f"{run}-A200")
    assert family is not None
    assert family.parent == ("flows-suppliers", run)
    values, failures = await family.children_values(), await family.children_failures()
    assert len(values) + len(failures) == len(FEED["A200"])  # the retry added no more
    print(f"{family.id}: parent {family.parent}, attempts {family.attempts_made},"
          f" images {sorted(values)}, broken {failures}")
    print(f"look at it: conveyor jobs tree {suppliers.name} {run}")
    await suppliers.close()


if __name__ == "__main__":
    asyncio.run(main())
