"""Catalog of chips and instance types (data files in ``data/``) and the 3A090 classification."""

from gatekeeper.catalog._catalog import Catalog, Chip, InstanceType, default_catalog, load_catalog, normalize
from gatekeeper.catalog.classify import Classification, Figure, classify, total_processing_performance

__all__ = [
    "Catalog",
    "Chip",
    "Classification",
    "Figure",
    "InstanceType",
    "classify",
    "default_catalog",
    "load_catalog",
    "normalize",
    "total_processing_performance",
]
