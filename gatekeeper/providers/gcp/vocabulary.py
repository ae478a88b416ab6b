"""Google Cloud's accelerator vocabulary as the catalog's names: data.

Cloud TPU names a slice by version and size (``v5litepod-8``, ``v4-32``) or by an
``accelerator_config`` (type ``V5P``, topology ``2x2x1``); Vertex AI names GPUs by an enum
(``NVIDIA_TESLA_A100``). The catalog (gatekeeper/catalog/data/gcp.yaml) knows accelerators by
their GKE / Compute Engine names (``tpu-v5-lite-podslice``, ``nvidia-tesla-a100``); these tables map
one onto the other. A name not here is passed through as it is, so the catalog decides it as an
unknown accelerator (fail closed).
"""

from __future__ import annotations

import re

# TPU version prefix -> (catalog accelerator type, TensorCores per chip: the size suffix counts cores
# for v2-v5p and chips for the "lite" generations). Sources: cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e.
TPU_VERSIONS: dict[str, tuple[str, int]] = {
    "v2": ("tpu-v2", 2),
    "v3": ("tpu-v3", 2),
    "v4": ("tpu-v4-podslice", 2),
    "v5litepod": ("tpu-v5-lite-podslice", 1),
    "v5e": ("tpu-v5-lite-podslice", 1),
    "v5p": ("tpu-v5p-slice", 2),
    "v6e": ("tpu-v6e-slice", 1),
}
# AcceleratorConfig.Type enum names -> version prefix.
TPU_CONFIG_TYPES: dict[str, str] = {"V2": "v2", "V3": "v3", "V4": "v4", "V5LITE_POD": "v5litepod", "V5P": "v5p",
                                    "V6E": "v6e"}


def tpu_slice(accelerator_type: str) -> tuple[str, float] | None:
    """(catalog accelerator type, chips) of ``v5litepod-8``; None when it is not ``VERSION-SIZE``."""
    m = re.fullmatch(r"\s*([a-z0-9]+?)-(\d{1,7})\s*", accelerator_type.lower())
    if m is None:
        return None
    name, per_chip = TPU_VERSIONS.get(m.group(1), (f"tpu-{m.group(1)}", 1))
    return name, max(int(m.group(2)) / per_chip, 1)


def tpu_topology(kind: str, topology: str) -> tuple[str, float] | None:
    """(catalog accelerator type, chips) of an accelerator_config: chips are the topology's product."""
    dims = re.fullmatch(r"\s*(\d{1,4})x(\d{1,4})(?:x(\d{1,4}))?\s*", topology.lower())
    if dims is None:
        return None
    chips = 1
    for d in dims.groups():
        chips *= int(d) if d else 1
    version = TPU_CONFIG_TYPES.get(kind.upper(), kind.lower())
    return TPU_VERSIONS.get(version, (f"tpu-{version}", 1))[0], float(chips)


def vertex_accelerator(enum_name: str) -> str:
    """``NVIDIA_TESLA_A100`` -> ``nvidia-tesla-a100`` (the Compute Engine name the catalog knows)."""
    return enum_name.strip().lower().replace("_", "-")
