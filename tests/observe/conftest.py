"""The web fixtures (an app around a Gatekeeper, tokens per role) for the metrics tests."""

from tests.web.conftest import client, shipped_policies, web_gk

__all__ = ["client", "shipped_policies", "web_gk"]
