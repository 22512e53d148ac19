"""Local volumes: LVs formatted XFS, in fstab, mounted; grown online when the
configured size grows (XFS cannot shrink, and neither does this task).

    pyinfra inventory.py tasks/storage.py
"""

from shlex import quote

from pyinfra import host
from pyinfra.operations import server

from facts.blockdev import DeviceSignatures
from facts.lvm import VolumeGroups
from twonode import paths, reads
from twonode.area import daemon_reload, open_area
from twonode.context import DeployStopped
from twonode.lvm import LV_CREATED, LV_GROWN, ensure_lv, require_vg
from twonode.ops import fstab_entry, mount
from twonode.snapshot import fact

AREA = "storage"
c = open_area(AREA, reads.storage)
devices = reads.local_devices(c)

vg = require_vg(fact(VolumeGroups), c.volume_group)
contents = fact(DeviceSignatures, devices=devices) if devices else {}

for vol, device in host.loop(zip(c.local_volumes, devices)):
    lv = ensure_lv(vg, vol.name, vol.size, AREA)
    found = contents.get(device)
    types = {s.type for s in found.signatures} if found and found.exists else set()
    if found is not None and found.error:
        raise DeployStopped(
            f"{host.name}: cannot tell what {device} (local volume {vol.name!r}) holds ({found.error}): "
            "refusing to format it. Nothing was changed."
        )
    if types - {"xfs"}:
        raise DeployStopped(
            f"{host.name}: {device} (local volume {vol.name!r}) holds {found.describe()}, not XFS: "
            "refusing to format it. Nothing was changed. Move the data away or use another LV name."
        )
    if lv == LV_CREATED or not types:
        # No -f: mkfs.xfs then refuses a device that holds a filesystem,
        # a second guard behind the fact read above.
        server.shell(name=f"{AREA}: mkfs.xfs {device}", commands=[f"mkfs.xfs -q {quote(device)}"])
    elif lv == LV_GROWN:
        server.shell(name=f"{AREA}: grow XFS on {vol.mount_point}", commands=[f"xfs_growfs {quote(vol.mount_point)}"])
    daemon_reload(AREA, "the new fstab",
                  fstab_entry(paths.mapper_device(vg.name, vol.name), vol.mount_point, "xfs", vol.mount_options, 2, AREA))
    mount(vol.mount_point, AREA)
