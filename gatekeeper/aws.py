"""``gatekeeper.aws``: the boto3/botocore adapter (``import gatekeeper.aws``, ``from gatekeeper.aws import install``).

The implementation is :mod:`gatekeeper.adapters.aws`; this module is its public name, so that both
``gatekeeper.aws.install()`` (after ``import gatekeeper``) and ``import gatekeeper.aws`` work.
"""

from __future__ import annotations

from gatekeeper.adapters.aws import (
    CODE_DENIED,
    CODE_PENDING,
    ExportControlDenied,
    ExportControlError,
    ExportLicensePending,
    Operation,
    install,
    installed,
    is_protected,
    operations,
    protect,
    translate,
    uninstall,
)

__all__ = [
    "CODE_DENIED",
    "CODE_PENDING",
    "ExportControlDenied",
    "ExportControlError",
    "ExportLicensePending",
    "Operation",
    "install",
    "installed",
    "is_protected",
    "operations",
    "protect",
    "translate",
    "uninstall",
]
