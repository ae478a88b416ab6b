"""Native guardrails compiled from the packs: SCPs (AWS), Azure Policy, organization policy (Google Cloud).

``export(gk, cloud, on=...)`` compiles the customers on file into a :class:`Bundle` (``_compile`` decides
what is controlled per customer, ``aws``/``azure``/``gcp`` write the cloud's documents); ``write`` and
``read_manifest`` keep the last export on disk and ``diff`` compares against it; ``_apply`` puts a
bundle in place through the clouds' own SDKs (opt-in).
"""

from __future__ import annotations

from gatekeeper.gates.guardrails._bundle import Artifact, Bundle, diff, read_manifest, write
from gatekeeper.gates.guardrails._compile import Exception_, Guard, compile_guard, compile_guards
from gatekeeper.gates.guardrails._export import CLOUDS, export

__all__ = [
    "CLOUDS",
    "Artifact",
    "Bundle",
    "Exception_",
    "Guard",
    "compile_guard",
    "compile_guards",
    "diff",
    "export",
    "read_manifest",
    "write",
]
