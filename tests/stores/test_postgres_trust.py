"""The audit trust (pinned keys, the witness's digest) in PostgreSQL, with the audit-trust types
(``gatekeeper.audit.witness``). The tables exist from migration 1."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gatekeeper.audit import witness
from gatekeeper.stores import open_store
from gatekeeper.stores.postgres_trust import open_postgres_trust
from gatekeeper.stores.testing import LocalPostgres
from tests.stores.backends import postgres_url


@pytest.fixture
def trust(local_postgres: LocalPostgres) -> Any:
    url = postgres_url(local_postgres)
    open_store(url).init()
    t = open_postgres_trust(url)
    yield t
    t.close()


def _digest(seq: int, log_id: str = "default") -> Any:
    return witness.Digest(log_id=log_id, seq=seq, head_hash=f"{seq:064x}", segment="segment-00000001.jsonl",
                          at="2026-12-04T00:00:00+00:00", key_id="k1", signature="sig")


def test_implements_the_protocols(trust: Any) -> None:
    assert isinstance(trust, witness.Witness) and isinstance(trust, witness.KeyRegistry)


def test_the_digest_only_moves_forward(trust: Any) -> None:
    assert trust.latest_digest("default") is None
    assert trust.publish_digest(_digest(5)) is True
    assert trust.publish_digest(_digest(3)) is False
    assert trust.latest_digest("default") == _digest(5)
    assert trust.publish_digest(_digest(9)) is True and trust.latest_digest("default").seq == 9
    assert trust.latest_digest("other") is None


def test_concurrent_publishers_keep_the_highest(trust: Any) -> None:
    barrier = threading.Barrier(8)

    def publish(k: int) -> None:
        barrier.wait()
        for seq in range(k, 200, 8):
            trust.publish_digest(_digest(seq))

    threads = [threading.Thread(target=publish, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert trust.latest_digest("default").seq == 199


def test_keys_are_pinned_once_oldest_first(trust: Any) -> None:
    first = witness.PinnedKey("ed25519:" + "a" * 64, "QUJD", "2026-01-01T00:00:00+00:00", witness.PIN_CREATED)
    second = witness.PinnedKey("ed25519:" + "b" * 64, "REVG", "2026-02-01T00:00:00+00:00", witness.PIN_ROTATION,
                               signed_by=first.fingerprint, signature="sig")
    trust.pin_key("default", second)
    trust.pin_key("default", first)
    trust.pin_key("default", witness.PinnedKey(first.fingerprint, "WFla", "2027-01-01T00:00:00+00:00", "other"))
    assert trust.pinned_keys("default") == [first, second]
    assert trust.pinned_keys("other") == []
