"""Small measuring helpers: Redis ``INFO commandstats`` deltas, medians and percentiles."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


class CommandStats:
    """Counts Redis commands (those run inside Lua scripts included) between two snapshots.

    ``INFO`` itself, issued by this counter, is left out; commands the benchmark issues to
    watch progress are subtracted by the caller (``poll_cost``).
    """

    def __init__(self, url: str) -> None:
        self.client: Any = Redis.from_url(url)

    async def snapshot(self) -> Counter[str]:
        """Calls per command name, plus ``usec:<name>`` for the server time of scripts
        (a script's time includes the commands it runs)."""
        info = await self.client.info("commandstats")
        counts: Counter[str] = Counter()
        for key, value in info.items():
            name = key.removeprefix("cmdstat_")
            if name != "info":
                counts[name] = int(value["calls"])
            if name in SCRIPT_COMMANDS:
                counts[f"usec:{name}"] = int(value["usec"])
        return counts

    async def server_version(self) -> str:
        info = await self.client.info("server")
        name = "valkey" if "valkey_version" in info else "redis"
        return f"{name} {info.get('valkey_version', info.get('redis_version', '?'))}"

    async def close(self) -> None:
        await self.client.aclose()


def delta(before: Counter[str], after: Counter[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for name, calls in after.items():
        diff = calls - before.get(name, 0)
        if diff:
            out[name] = diff
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan
