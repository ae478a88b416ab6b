"""``gatekeeper.aws``: the boto3/botocore adapter (``import gatekeeper.aws``, ``from gatekeeper.aws import install``).

The implementation is :mod:`gatekeeper.adapters.aws`; this module is its public name, so that both
``gatekeeper.aws.install()`` (after ``import gatekeeper``) and ``import gatekeeper.aws`` work. It
re-exports exactly the adapter's public names.
"""

from __future__ import annotations

from gatekeeper.adapters.aws import *  # noqa: F403 - the adapter's public surface, as it declares it
from gatekeeper.adapters.aws import __all__ as __all__
