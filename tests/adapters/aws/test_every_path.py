"""Every self-contained row of the AWS spec through the wrapper, over HTTP against ThreadedMotoServer:
a China-headquartered customer is blocked before the call leaves, a verified US customer and plain
compute are not blocked by gatekeeper (moto, or botocore's own validation, may then refuse them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore
import pytest

from gatekeeper.providers.aws import SPEC
from gatekeeper.service import Gatekeeper
from tests.adapters.aws.conftest import CN_HQ, US, Aws, _reset
from tests.adapters.aws.test_new_paths import outcome
from tests.providers.aws_samples import NO_PLAIN, READS_EXISTING, SAMPLES, plain

ROWS = sorted(SAMPLES)


def test_every_row_has_a_sample_or_its_own_test() -> None:
    assert set(SPEC.by_key) == set(SAMPLES) | READS_EXISTING
    assert not set(SAMPLES) & READS_EXISTING


@pytest.fixture(scope="module")
def http_aws(moto_server: str) -> Iterator[Aws]:
    _reset(moto_server)
    yield Aws("http", moto_server)
    _reset(moto_server)


@pytest.mark.parametrize("key", ROWS, ids=[f"{s}.{o}" for s, o in ROWS])
def test_every_path_is_decided_before_it_leaves(http_aws: Aws, gk: Gatekeeper, key: tuple[str, str]) -> None:
    service, name = key
    method = botocore.xform_name(name)
    params = SAMPLES[key]

    def call(p: dict[str, Any]) -> Any:
        return lambda c: getattr(c, method)(**p)

    assert outcome(http_aws, service, CN_HQ, call(params)) == ("blocked", [])
    if key not in NO_PLAIN:
        assert outcome(http_aws, service, CN_HQ, call(plain(params)))[0] == "sent"
    assert outcome(http_aws, service, US, call(params))[0] == "sent"
