"""The public surface is small and pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import gatekeeper
import gatekeeper.testing
from gatekeeper.model import Outcome


def test_all_is_pinned() -> None:
    assert sorted(gatekeeper.__all__) == sorted([
        "ComputeItem", "CustomerProfile", "Decision", "Gatekeeper", "Outcome", "ProvisioningRequest",
        "__version__", "acting_for", "configure", "current",
    ])
    for name in gatekeeper.__all__:
        assert hasattr(gatekeeper, name)


def test_adapters_are_lazy_attributes() -> None:
    assert gatekeeper.aws.__name__ == "gatekeeper.aws"
    for name in ("install", "protect"):
        assert callable(getattr(gatekeeper.aws, name))
    assert callable(gatekeeper.azure.policy) and callable(gatekeeper.azure.install)
    assert callable(gatekeeper.gcp.install)


def test_testing_helpers_decide_with_the_real_engine() -> None:
    from gatekeeper.policy import shipped_policies_dir

    t = gatekeeper.testing
    pending = t.decide(shipped_policies_dir(), instance_type="p5.48xlarge",
                       customer=t.customer(country="SG", parent="CN"))
    assert pending.outcome == Outcome.PENDING
    assert t.decide(shipped_policies_dir(), instance_type="p5.48xlarge",
                    customer=t.customer()).outcome == Outcome.ALLOW
    assert t.decide(shipped_policies_dir(), instance_type="p5.48xlarge").outcome == Outcome.PENDING  # unknown
    sink = t.ListAuditSink()
    assert sink.append({"a": 1})["seq"] == 1 and sink.records == [{"a": 1, "seq": 1}]
