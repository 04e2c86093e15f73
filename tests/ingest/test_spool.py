"""The durable spool: offsets, consumers, duplicates, truncation, size limit and survival across reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.model import DeviceClass
from devices.payloads import Channel
from devices.reading import Reading
from ingest.errors import SpoolClosedError, SpoolError, SpoolFullError
from ingest.refusals import RefusalReason, RefusedMessage
from ingest.spool import Spool, SpoolReader


def reading(device: str = "d1", seq: int | None = 1, ts: float = 1000.0, **fields: float) -> Reading:
    return Reading(
        device_id=device,
        device_class=DeviceClass.WATER_METER,
        channel=Channel.TELEMETRY,
        ts=ts,
        seq=seq,
        fields=dict(fields) or {"volume_m3": 1.5},
        community_id="c1",
        microgrid_id="mg1",
        building_id="b1",
        household_id="h1",
        received_at=ts + 0.5,
    )


def test_append_read_commit_roundtrip(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", consumers=("telemetry", "rules")) as spool:
        res = spool.append([reading(seq=1), reading(seq=2), reading(seq=3)], now=10.0)
        assert (res.last_offset, res.stored, res.duplicates) == (3, 3, [])
        got = spool.read("telemetry", limit=2)
        assert [o for o, _ in got] == [1, 2]
        assert got[0][1] == reading(seq=1)
        spool.commit("telemetry", 2)
        assert [o for o, _ in spool.read("telemetry")] == [3]
        assert [o for o, _ in spool.read("rules")] == [1, 2, 3]
        assert spool.depth("telemetry") == 1
        assert spool.depth("rules") == 3


def test_duplicates_by_device_and_seq_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Spool(path) as spool:
        spool.append([reading("d1", 1), reading("d2", 1)])
    with Spool(path) as spool:
        res = spool.append([reading("d1", 1), reading("d1", 2), reading("d1", 2), reading(seq=None)])
        assert res.duplicates == [reading("d1", 1), reading("d1", 2)]
        assert res.stored == 2
        assert res.last_offset == 4


def test_seq_reused_with_new_timestamp_is_a_restarted_counter_not_a_duplicate(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.append([reading("d1", 1, ts=1000.0)])
        res = spool.append([reading("d1", 1, ts=5000.0)])
        assert res.duplicates == []
        assert res.stored == 1


def test_all_duplicates_store_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.append([reading(seq=1)])
        res = spool.append([reading(seq=1)])
        assert (res.last_offset, res.stored) == (1, 0)
        assert spool.depth("telemetry") == 1


def test_cursors_and_offsets_persist(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Spool(path, consumers=("telemetry", "rules")) as spool:
        spool.append([reading(seq=i) for i in range(1, 6)])
        spool.commit("telemetry", 4)
        spool.commit("telemetry", 2)  # never moves back
    with Spool(path, consumers=("telemetry", "rules")) as spool:
        assert spool.position("telemetry") == 4
        assert spool.position("rules") == 0
        assert spool.append([reading(seq=9)]).last_offset == 6


def test_truncate_keeps_what_the_slowest_consumer_needs(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", consumers=("telemetry", "rules"), dedup_window=0) as spool:
        for i in range(1, 4):
            spool.append([reading(seq=i)])
        spool.commit("telemetry", 3)
        spool.commit("rules", 1)
        assert spool.truncate() == 1
        assert [o for o, _ in spool.read("rules")] == [2, 3]
        spool.commit("rules", 3)
        assert spool.truncate() == 2
        assert spool.read("rules") == []
        assert spool.append([reading(seq=7)]).last_offset == 4


def test_oldest_age(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        assert spool.oldest_age("telemetry", now=100.0) == 0.0
        spool.append([reading(seq=1)], now=40.0)
        spool.append([reading(seq=2)], now=70.0)
        assert spool.oldest_age("telemetry", now=100.0) == 60.0
        spool.commit("telemetry", 1)
        assert spool.oldest_age("telemetry", now=100.0) == 30.0


def test_full_spool_refuses_appends_until_drained(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", max_bytes=64 * 1024) as spool:
        seq = 0
        while spool.writable():
            seq += 1
            spool.append([reading(seq=seq, volume_m3=float(seq))])
        with pytest.raises(SpoolFullError):
            spool.append([reading(seq=seq + 1)])
        assert not spool.writable()
        spool.commit("telemetry", spool.last_offset)
        spool.truncate()
        assert spool.writable()
        spool.append([reading(seq=seq + 1)])


def test_dedup_window_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Spool(path, dedup_window=3) as spool:
        spool.append([reading(seq=i) for i in range(1, 6)])
        # seq 1 fell out of the window: stored again; seq 5 is still remembered
        res = spool.append([reading(seq=1), reading(seq=5)])
        assert res.duplicates == [reading(seq=5)]
        spool.commit("telemetry", spool.last_offset)
        spool.truncate()
    with Spool(path, dedup_window=3) as spool:
        assert spool.append([reading(seq=5)]).duplicates == [reading(seq=5)]


def test_misuse_raises_spool_errors(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    with pytest.raises(SpoolError, match="unknown spool consumer"):
        spool.read("nobody")
    spool.close()
    with pytest.raises(SpoolClosedError):
        spool.append([reading()])
    with pytest.raises(SpoolError):
        Spool(tmp_path / "s2.db", consumers=())


@pytest.mark.parametrize("tail", [0, 3, 50_000])
def test_reads_are_the_same_from_memory_tail_and_from_disk(tmp_path: Path, tail: int) -> None:
    with Spool(tmp_path / "s.db", consumers=("telemetry", "rules"), tail_readings=tail) as spool:
        for b in range(5):
            spool.append([reading(seq=b * 10 + i) for i in range(4)])
        spool.commit("telemetry", 6)
        got = spool.read("telemetry", limit=7)
        assert [o for o, _ in got] == list(range(7, 14))
        assert [r.seq for _, r in got] == [12, 13, 20, 21, 22, 23, 30]
        assert [o for o, _ in spool.read("rules", limit=100)] == list(range(1, 21))


def test_truncate_keeps_the_dedup_window_and_a_reopened_spool_still_sees_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Spool(path, dedup_window=3) as spool:
        for i in range(1, 7):
            spool.append([reading(seq=i)])
        spool.commit("telemetry", 6)
        assert spool.truncate() == 3  # offsets 4..6 stay: they back the dedup window
    with Spool(path, dedup_window=3) as spool:
        assert spool.read("telemetry") == []
        res = spool.append([reading(seq=4), reading(seq=6), reading(seq=2)])
        assert res.duplicates == [reading(seq=4), reading(seq=6)]


def test_new_consumer_starts_at_the_slowest_existing_cursor(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Spool(path) as spool:
        spool.append([reading(seq=i) for i in range(1, 5)])
        spool.commit("telemetry", 3)
    with Spool(path, consumers=("telemetry", "rules")) as spool:
        assert [o for o, _ in spool.read("rules")] == [4]


def test_read_after_reads_past_the_cursor_for_pipelined_consumers(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", tail_readings=0) as spool:
        spool.append([reading(seq=i) for i in range(1, 6)])
        assert [o for o, _ in spool.read_after(2, limit=2)] == [3, 4]
        assert spool.position("telemetry") == 0
        assert spool.read_after(5) == []


# --- refused messages on their way to the dead letters ---------------------------------------------------------


def refusal(i: int, payload: bytes = b"{oops") -> RefusedMessage:
    return RefusedMessage(f"cw/c1/d{i}/telemetry", payload, RefusalReason.MALFORMED_JSON, "Invalid JSON", 100.0 + i)


def test_refused_messages_are_kept_with_the_append_and_with_the_cursor_move(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        res = spool.append([reading(seq=1)], refused=[refusal(1), refusal(2)])
        assert (res.last_offset, res.stored) == (1, 1)
        only_refused = spool.append([], refused=[refusal(3)])  # a batch of junk only: no offsets taken
        assert (only_refused.last_offset, only_refused.stored) == (1, 0)
        spool.commit("telemetry", 1, refused=[refusal(4)])
        assert spool.position("telemetry") == 1
        rows = spool.refused()
        assert [row_id for row_id, _ in rows] == [1, 2, 3, 4]
        assert rows[0][1] == refusal(1)._replace(reason="malformed_json", payload_size=5)
        assert [r.topic for _, r in spool.refused(limit=2)] == ["cw/c1/d1/telemetry", "cw/c1/d2/telemetry"]


def test_refused_rows_are_numbered_for_good_and_read_in_bounded_runs(tmp_path: Path) -> None:
    """Row ids only grow, also after deletions and a reopen: the dead letters' mark relies on it."""
    path = tmp_path / "s.db"
    with Spool(path) as spool:
        spool.append([], refused=[refusal(i) for i in range(3)])
        spool.forget_refused(3)
        assert spool.refused() == []
        first_id = spool.spool_id
    with Spool(path) as spool:
        assert spool.spool_id == first_id
        spool.append([], refused=[refusal(9, b"x" * 1000), refusal(10, b"y" * 1000)])
        assert [row_id for row_id, _ in spool.refused()] == [4, 5]
        assert [row_id for row_id, _ in spool.refused(max_bytes=1500)] == [4]
        assert [row_id for row_id, _ in spool.refused(max_bytes=10)] == [4]  # always at least one
        spool.forget_refused(4)
        assert [row_id for row_id, _ in spool.refused()] == [5]
    with Spool(tmp_path / "other.db") as other:
        assert other.spool_id != first_id


def test_refused_payloads_are_cut_and_their_size_kept(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db", refused_payload_max=100) as spool:
        spool.append([], refused=[refusal(1, b"z" * 5000), refusal(2, b"w")._replace(payload_size=7)])
        (_, big), (_, cut_before) = spool.refused()
        assert (big.payload, big.payload_size) == (b"z" * 100, 5000)
        assert (cut_before.payload, cut_before.payload_size) == (b"w", 7)


def test_a_failed_refusal_write_keeps_neither_the_cursor_move_nor_the_append(tmp_path: Path) -> None:
    """One transaction: a refused row that cannot be written (NOT NULL) leaves the cursor where it was and the
    batch unappended, so nothing is ever passed or acknowledged without its refusals."""
    broken = refusal(1)._replace(topic=None)
    with Spool(tmp_path / "s.db") as spool:
        spool.append([reading(seq=1)])
        with pytest.raises(SpoolError):
            spool.commit("telemetry", 1, refused=[refusal(2), broken])
        assert spool.position("telemetry") == 0
        with pytest.raises(SpoolError):
            spool.append([reading(seq=2)], refused=[broken])
        assert spool.last_offset == 1
        assert [r.seq for _, r in spool.read("telemetry")] == [1]
        assert spool.refused() == []
        spool.commit("telemetry", 1, refused=[refusal(3)])  # the connection is usable afterwards
        assert [r.topic for _, r in spool.refused()] == [refusal(3).topic]


def test_a_reader_in_another_process_keeps_refusals_with_its_cursor(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.db") as spool:
        spool.append([reading(seq=1), reading(seq=2)])
        reader = SpoolReader(tmp_path / "s.db")
        try:
            before = reader.data_version()
            assert reader.data_version() == before  # its own reads and writes do not count
            reader.commit("telemetry", 2, refused=[refusal(1)])
            assert reader.data_version() == before
            assert spool.position("telemetry") == 2
            assert [r.topic for _, r in spool.refused()] == [refusal(1).topic]
            spool.append([reading(seq=3)])
            assert reader.data_version() != before  # the ingester's append does
        finally:
            reader.close()
