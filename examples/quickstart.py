"""The README's example: define a job, enqueue it, run a worker, read the result."""

import asyncio
from dataclasses import dataclass

from conveyor import Backoff, JobContext, Queue, Worker

emails = Queue("emails")  # URL from CONVEYOR_URL, else the embedded SQLite file


@dataclass
class Welcome:
    user_id: int
    address: str


@emails.job(payload=Welcome)
async def send_welcome(job: JobContext[Welcome]) -> str:
    await job.log(f"sending to {job.data.address}")
    return f"sent to user {job.data.user_id}"


async def main() -> None:
    job = await send_welcome.add(Welcome(7, "ada@example.com"), attempts=3,
                                 backoff=Backoff.exponential(1))
    async with Worker(emails):
        print(await job.wait(timeout=10))
    await emails.close()


if __name__ == "__main__":
    asyncio.run(main())
