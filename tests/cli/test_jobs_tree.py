"""``conveyor jobs tree`` draws a flow across queues with each job's state (a child trimmed
by retention as missing), and ``conveyor jobs show`` names a job's parent and counts its
children; on every backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor import FlowJob, FlowNode, JobContext, Queue, UnrecoverableError, Worker, add_flow
from tests.conformance.helpers import FAST, until_state

from .conftest import Invoke, assert_error


@dataclass(frozen=True)
class Catalog:
    """A supplier (queue 0) over two families (queue 1) over three images (queue 2)."""

    suppliers: Queue
    families: Queue
    images: Queue
    flow: FlowJob

    def ref(self, *path: int) -> str:
        """``queue:id`` of the node at ``path`` (child indexes from the supplier)."""
        node = self.flow
        for index in path:
            node = node.children[index]
        return f"{node.job.queue.name}:{node.job.id}"


async def _catalog(make_queue: Callable[..., Queue], *, run_images: bool = True) -> Catalog:
    """The flow, with its images run (one fails under ``ignore``, one is trimmed at once by
    ``remove_on_complete=True``) so that both families are ready and the supplier waits."""
    suppliers, families, images = make_queue(), make_queue(), make_queue()

    @images.job()
    async def fetch_image(job: JobContext[dict[str, str]]) -> str:
        if job.data["url"] == "bad":
            raise UnrecoverableError("no image at bad")
        return job.data["url"].upper()

    image = fetch_image.node
    flow = await add_flow(
        FlowNode(suppliers, "sync_supplier", {"supplier": 7}, children=[
            FlowNode(families, "sync_family", {"family": "A"}, children=[
                image({"url": "a"}),
                image({"url": "bad"}, on_failure="ignore"),
            ]),
            FlowNode(families, "sync_family", {"family": "B"}, children=[
                image({"url": "c"}, remove_on_complete=True),
            ]),
        ])
    )  # fmt: skip
    if run_images:
        async with Worker(images, settings=FAST):
            for family in flow.children:
                await until_state(family.job, "waiting")
    return Catalog(suppliers, families, images, flow)


async def _ok(cli: Invoke, *args: str) -> str:
    result = await cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


async def test_the_tree_spans_three_queues_with_each_state(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue, run_images=False)
    before = await _ok(cli, "jobs", "tree", c.suppliers.name, c.flow.job.id, "--url", backend_url)
    assert _lines(before) == [
        f"tree of {c.ref()} at {backend_url}",
        f"{c.ref()}  sync_supplier  waiting-children",
        f"├── {c.ref(0)}  sync_family  waiting-children",
        f"│   ├── {c.ref(0, 0)}  fetch_image  waiting",
        f"│   └── {c.ref(0, 1)}  fetch_image  waiting",
        f"└── {c.ref(1)}  sync_family  waiting-children",
        f"    └── {c.ref(1, 0)}  fetch_image  waiting",
    ]

    async with Worker(c.images, settings=FAST):
        for family in c.flow.children:
            await until_state(family.job, "waiting")
    after = await _ok(cli, "jobs", "tree", c.suppliers.name, c.flow.job.id, "--url", backend_url)
    assert _lines(after)[1:] == [
        f"{c.ref()}  sync_supplier  waiting-children",
        f"├── {c.ref(0)}  sync_family  waiting",
        f"│   ├── {c.ref(0, 0)}  fetch_image  completed",
        f"│   └── {c.ref(0, 1)}  fetch_image  failed  UnrecoverableError: no image at bad",
        f"└── {c.ref(1)}  sync_family  waiting",
        f"    └── {c.ref(1, 0)}  missing (no longer stored)",
    ]


async def test_a_subtree_from_its_own_queue(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue)
    family = c.flow.children[0].job
    shown = await _ok(cli, "jobs", "tree", c.families.name, family.id, "--url", backend_url)
    assert _lines(shown)[1:] == [
        f"{c.ref(0)}  sync_family  waiting",
        f"├── {c.ref(0, 0)}  fetch_image  completed",
        f"└── {c.ref(0, 1)}  fetch_image  failed  UnrecoverableError: no image at bad",
    ]


async def test_json_nests_the_nodes_and_marks_a_trimmed_child_missing(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue)
    tree = json.loads(
        await _ok(
            cli, "jobs", "tree", c.suppliers.name, c.flow.job.id, "--url", backend_url, "--json"
        )
    )

    def shape(node: dict[str, Any]) -> tuple[Any, ...]:
        kids = tuple(shape(child) for child in node["children"])
        return (node["ref"], node["name"], node["state"], node["failed_reason"], kids)

    assert shape(tree) == (
        c.ref(), "sync_supplier", "waiting-children", None, (
            (c.ref(0), "sync_family", "waiting", None, (
                (c.ref(0, 0), "fetch_image", "completed", None, ()),
                (c.ref(0, 1), "fetch_image", "failed", "UnrecoverableError: no image at bad", ()),
            )),
            (c.ref(1), "sync_family", "waiting", None, (
                (c.ref(1, 0), None, "missing", None, ()),
            )),
        ),
    )  # fmt: skip
    assert (tree["queue"], tree["id"]) == (c.suppliers.name, c.flow.job.id)


async def test_an_unknown_id_fails_as_jobs_show_does(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue, run_images=False)
    words = f"no job 404 in queue '{c.suppliers.name}'"
    tree = await cli("jobs", "tree", c.suppliers.name, "404", "--url", backend_url)
    assert_error(tree, 1, words)
    show = await cli("jobs", "show", c.suppliers.name, "404", "--url", backend_url)
    assert_error(show, 1, words)
    assert tree.stderr == show.stderr
    unknown = await cli("jobs", "tree", "no-such-queue", "1", "--url", backend_url)
    assert_error(unknown, 1, "no queue named 'no-such-queue'")


async def test_jobs_show_names_the_parent_and_counts_the_children(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue)
    family, failed = c.flow.children[0].job, c.flow.children[0].children[1].job
    child = _lines(await _ok(cli, "jobs", "show", c.images.name, failed.id, "--url", backend_url))
    assert f"parent     {c.ref(0)} (on failure: ignore)" in child
    assert not any(line.startswith("children ") for line in child)

    page = _lines(await _ok(cli, "jobs", "show", c.families.name, family.id, "--url", backend_url))
    assert f"parent     {c.ref()} (on failure: fail)" in page
    assert "children   0 pending, 1 completed, 1 failed" in page

    top = _lines(
        await _ok(cli, "jobs", "show", c.suppliers.name, c.flow.job.id, "--url", backend_url)
    )
    assert "children   2 pending, 0 completed, 0 failed" in top
    assert not any(line.startswith("parent ") for line in top)


async def test_jobs_show_json_has_the_parent_and_the_children_counts(
    cli: Invoke, make_queue: Callable[..., Queue], backend_url: str
) -> None:
    c = await _catalog(make_queue)
    trimmed_parent = c.flow.children[1].job

    async def shown(queue: Queue, job_id: str) -> dict[str, Any]:
        args = ("jobs", "show", queue.name, job_id, "--url", backend_url, "--json")
        found: dict[str, Any] = json.loads(await _ok(cli, *args))
        return found

    family = await shown(c.families, trimmed_parent.id)
    assert (family["parent"], family["on_failure"]) == (c.ref(), "fail")
    assert family["children"] == {"pending": 0, "completed": 1, "failed": 0}
    supplier = await shown(c.suppliers, c.flow.job.id)
    assert (supplier["parent"], supplier["on_failure"]) == (None, None)
    assert supplier["children"] == {"pending": 2, "completed": 0, "failed": 0}
    plain = await c.images.add("fetch_image", {"url": "d"})
    alone = await shown(c.images, plain.id)
    assert alone["parent"] is None
    assert alone["children"] == {"pending": 0, "completed": 0, "failed": 0}
