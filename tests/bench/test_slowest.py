"""Each run keeps its slowest few requests per endpoint, with their URL and when they were sent,
so a p99 over its goal can be found in the stack's logs (`make bench BENCH_ARGS=--keep-state`)."""

from __future__ import annotations

from bench.stats import SLOWEST_KEPT, Latencies


def test_the_slowest_samples_are_kept_slowest_first_with_what_they_were() -> None:
    lat = Latencies()
    for i, seconds in enumerate([0.05, 0.633, 0.02, 0.3, 0.1, 0.4]):
        lat.add("POST /v1/proposals", seconds, f"/v1/proposals#{i}", f"t{i}")
    lat.add("POST isg-votes", 0.01, "/v1/proposals/p/isg-votes", "t9")
    slowest = lat.slowest()
    assert [s["what"] for s in slowest["POST /v1/proposals"]] == [
        "/v1/proposals#1",
        "/v1/proposals#5",
        "/v1/proposals#3",
    ]
    assert slowest["POST /v1/proposals"][0] == {"ms": 633.0, "what": "/v1/proposals#1", "at": "t1"}
    assert len(slowest["POST /v1/proposals"]) == SLOWEST_KEPT
    assert slowest["POST isg-votes"] == [{"ms": 10.0, "what": "/v1/proposals/p/isg-votes", "at": "t9"}]
    assert lat.summary()["POST /v1/proposals"]["count"] == 6  # every sample still counts


def test_runs_taken_in_turns_keep_the_slowest_of_both() -> None:
    first, second = Latencies(), Latencies()
    for i, seconds in enumerate([0.9, 0.1, 0.2]):
        first.add("accept", seconds, f"a{i}", "")
    for i, seconds in enumerate([0.5, 0.05, 0.7]):
        second.add("accept", seconds, f"b{i}", "")
    first.merge(second)
    assert [s["what"] for s in first.slowest()["accept"]] == ["a0", "b2", "b0"]
