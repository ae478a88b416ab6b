"""AWS vocabulary of InstanceRequirements and AWS Batch, as the catalog's chips map onto it: data."""

from __future__ import annotations

# Chip vendor (chips.yaml) -> EC2 AcceleratorManufacturers value. Gaudi is sold by Intel, reported
# by EC2 as "habana". A vendor missing here is admitted by every manufacturer filter.
MANUFACTURERS: dict[str, str] = {
    "NVIDIA": "nvidia", "AMD": "amd", "AWS": "amazon-web-services", "Intel": "habana", "Xilinx": "xilinx",
}
# Chip vendor -> the EC2 AcceleratorTypes values it may be reported under. Where EC2's reporting is
# not certain (Trainium, Qualcomm) both plausible kinds are listed: a filter must not exclude a chip
# AWS would launch. A vendor missing here is admitted by every kind filter.
KINDS: dict[str, frozenset[str]] = {
    "NVIDIA": frozenset({"gpu"}), "AMD": frozenset({"gpu"}), "Intel": frozenset({"gpu", "inference"}),
    "AWS": frozenset({"inference", "gpu"}), "Qualcomm": frozenset({"inference", "gpu"}),
}
# AWS Batch instance-type keywords. "optimal" picks "instance types that match the demand of your job
# queues" from families AWS chooses and changes server-side (documented today as c4/m4/r4/c5/m5/r5,
# moving to the default_x86_64 families): gatekeeper cannot see what it will launch, so it is decided
# as every accelerated type the catalog knows (the most restrictive it could admit). The default_*
# bundles are documented as fixed CPU families by architecture and are decided as those.
BATCH_ANY_ACCELERATED = "optimal"
BATCH_KEYWORDS: dict[str, tuple[str, ...]] = {
    "default_x86_64": ("m6i", "c6i", "r6i", "c7i"),
    "default_arm64": ("m6g", "c6g", "r6g", "c7g"),
}
