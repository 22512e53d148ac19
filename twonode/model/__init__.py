"""The cluster description, validated before any host is touched.

``group_data/all.py`` holds a plain ``cluster = {...}`` dict; :class:`Cluster`
turns it into typed objects or raises a :class:`pydantic.ValidationError`
whose messages name the field and say how to fix it. The inventory validates
it while pyinfra loads the inventory, that is before any connection.

One module per part: ``base`` (strict models, sizes, safe values),
``nodes`` (servers, cluster network, fencing), ``volumes`` (local and
replicated volumes, DRBD, o2cb), ``services`` (NFS, libvirt, monitoring) and
``cluster`` (the whole, and the checks across parts), ``o2cb_timing`` (o2cb's
timeouts derived from the longest fence).
"""

from .base import is_under, size_to_bytes
from .cluster import Cluster
from .nodes import Bmc, ClusterNetwork, Fencing, Node
from .services import Export, ExportClient, Libvirt, Monitoring, Nfs, Pool, VirtNetwork
from .volumes import Drbd, LocalVolume, O2cb, ReplicatedVolume

__all__ = ["Bmc", "Cluster", "ClusterNetwork", "Drbd", "Export", "ExportClient", "Fencing", "Libvirt",
           "LocalVolume", "Monitoring", "Nfs", "Node", "O2cb", "Pool", "ReplicatedVolume", "VirtNetwork", "is_under",
           "size_to_bytes"]
