"""What a node's size class means on each platform: pod resources, VM machine types and the JVM heap.

One table so that a "medium" writer gets comparable capacity on Kubernetes, EC2 and Compute Engine. Besu's JVM heap
is set to about half the memory limit: the rest is RocksDB's off-heap caches and the sidecars.
"""

from __future__ import annotations

from dataclasses import dataclass

from lacchain.stack_config import Size


@dataclass(frozen=True)
class SizeClass:
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    heap: str
    """Besu's ``-Xmx``."""
    aws_instance_type: str
    gcp_machine_type: str


SIZES: dict[Size, SizeClass] = {
    Size.SMALL: SizeClass("500m", "1", "2Gi", "4Gi", "2g", "t3.medium", "e2-medium"),
    Size.MEDIUM: SizeClass("1", "2", "4Gi", "8Gi", "4g", "m6i.large", "e2-standard-2"),
    Size.LARGE: SizeClass("2", "4", "8Gi", "16Gi", "8g", "m6i.xlarge", "e2-standard-4"),
    Size.XLARGE: SizeClass("4", "8", "16Gi", "32Gi", "16g", "m6i.2xlarge", "e2-standard-8"),
}


def size_class(size: Size) -> SizeClass:
    return SIZES[size]
