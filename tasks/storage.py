"""Local volumes: LVs formatted XFS, in fstab, mounted; grown online when the
configured size grows (XFS cannot shrink, and neither does this task).

    pyinfra inventory.py tasks/storage.py
"""

from pyinfra import host
from pyinfra.operations import server

from facts.blockdev import DeviceSignatures
from facts.lvm import VolumeGroups
from twonode import packages
from twonode.context import DeployStopped, cluster
from twonode.ops import LV_CREATED, LV_GROWN, ensure_lv, fstab_entry, install, mount, require_vg

AREA = "storage"
c = cluster()
install(packages.STORAGE, AREA)

vg = require_vg(host.get_fact(VolumeGroups), c.volume_group)
devices = tuple(f"/dev/{vg.name}/{v.name}" for v in c.local_volumes)
contents = host.get_fact(DeviceSignatures, devices=devices) if devices else {}

for vol in host.loop(c.local_volumes):
    device = f"/dev/{vg.name}/{vol.name}"
    lv = ensure_lv(vg, vol.name, vol.size, AREA)
    found = contents.get(device)
    types = {s.type for s in found.signatures} if found and found.exists else set()
    if types - {"xfs"}:
        raise DeployStopped(
            f"{host.name}: {device} (local volume {vol.name!r}) holds {found.describe()}, not XFS: "
            "refusing to format it. Nothing was changed. Move the data away or use another LV name."
        )
    if lv == LV_CREATED or not types:
        # No -f: mkfs.xfs then refuses a device that holds a filesystem,
        # a second guard behind the fact read above.
        server.shell(name=f"{AREA}: mkfs.xfs {device}", commands=[f"mkfs.xfs -q {device}"])
    elif lv == LV_GROWN:
        server.shell(name=f"{AREA}: grow XFS on {vol.mount_point}", commands=[f"xfs_growfs {vol.mount_point}"])
    fstab_entry(f"/dev/mapper/{vg.name}-{vol.name}", vol.mount_point, "xfs", vol.mount_options, 2, AREA)
    mount(vol.mount_point, AREA)
