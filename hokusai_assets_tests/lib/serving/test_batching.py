import asyncio

from hokusai_assets.lib.serving.batching import MicroBatcher


def run(coroutine):
    return asyncio.run(coroutine)


async def echo(model, rows):
    return rows


def test_concurrent_requests_for_one_model_are_scored_in_one_call_and_each_gets_its_rows():
    calls = []

    async def score(model, rows):
        calls.append((model, list(rows)))
        return [f"{model}:{row}" for row in rows]

    async def main():
        batcher = MicroBatcher(score, max_batch_rows=100, max_wait_ms=50)
        return await asyncio.gather(
            batcher.submit("m1", [1, 2]), batcher.submit("m1", [3]), batcher.submit("m2", [4]), batcher.submit("m1", [5, 6])
        )

    results = run(main())
    assert results == [["m1:1", "m1:2"], ["m1:3"], ["m2:4"], ["m1:5", "m1:6"]]
    assert sorted(calls) == [("m1", [1, 2, 3, 5, 6]), ("m2", [4])]  # one call per model


def test_a_full_batch_is_scored_without_waiting_and_the_next_opens_a_new_one():
    sizes = []

    async def main():
        batcher = MicroBatcher(echo, max_batch_rows=3, max_wait_ms=10_000, on_batch=sizes.append)
        return await asyncio.wait_for(
            asyncio.gather(batcher.submit("m", [1, 2]), batcher.submit("m", [3]), batcher.submit("m", [4, 5, 6])), 5
        )

    assert run(main()) == [[1, 2], [3], [4, 5, 6]]
    assert sorted(sizes) == [3, 3]


def test_without_a_wait_every_request_is_its_own_call():
    sizes = []

    async def main():
        batcher = MicroBatcher(echo, max_batch_rows=10, max_wait_ms=0, on_batch=sizes.append)
        return await asyncio.gather(batcher.submit("m", [1]), batcher.submit("m", [2]))

    assert run(main()) == [[1], [2]]
    assert sizes == [1, 1]


def test_a_failing_batch_fails_each_of_its_callers():
    async def score(model, rows):
        raise RuntimeError("model broke")

    async def main():
        batcher = MicroBatcher(score, max_batch_rows=10, max_wait_ms=20)
        return await asyncio.gather(batcher.submit("m", [1]), batcher.submit("m", [2]), return_exceptions=True)

    results = run(main())
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]


def test_a_cancelled_batch_leaves_no_caller_waiting():
    async def main():
        started = asyncio.Event()

        async def slow(model, rows):
            started.set()
            await asyncio.sleep(60)

        batcher = MicroBatcher(slow, max_batch_rows=10, max_wait_ms=1)
        callers = [asyncio.create_task(batcher.submit("m", [i])) for i in range(2)]
        await asyncio.wait_for(started.wait(), 5)
        for task in list(batcher._closing):
            task.cancel()  # as when the server stops mid-batch
        return await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 5)

    assert [type(r) for r in run(main())] == [asyncio.CancelledError, asyncio.CancelledError]
