"""Facts about LVM volume groups and logical volumes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .serial import JsonDataclass


@dataclass(frozen=True)
class LogicalVolume(JsonDataclass):
    name: str
    vg: str
    size_bytes: int
    path: str


@dataclass(frozen=True)
class VolumeGroup(JsonDataclass):
    name: str
    size_bytes: int
    free_bytes: int
    extent_bytes: int
    lvs: dict[str, LogicalVolume] = field(default_factory=dict)


def parse_lvm_fullreport(text: str) -> dict[str, VolumeGroup]:
    """Parse ``lvm fullreport --reportformat json --units b --nosuffix``
    (one report per VG, each with its "vg" and "lv" rows). Hidden LVs
    (``[name]``, e.g. a thin pool's metadata) are left out, as ``lvs`` does."""
    groups: dict[str, VolumeGroup] = {}
    if not text.strip():
        return groups
    for report in json.loads(text)["report"]:
        for row in report.get("vg", []):
            vg = VolumeGroup(
                name=row["vg_name"], size_bytes=int(row["vg_size"]), free_bytes=int(row["vg_free"]),
                extent_bytes=int(row["vg_extent_size"]),
            )
            for lv in report.get("lv", []):
                if not lv["lv_name"].startswith("["):
                    vg.lvs[lv["lv_name"]] = LogicalVolume(
                        name=lv["lv_name"], vg=vg.name, size_bytes=int(lv["lv_size"]), path=lv["lv_path"],
                    )
            groups[vg.name] = vg
    return groups


class VolumeGroups(FactBase[dict[str, VolumeGroup]]):
    """
    Volume groups with their sizes and logical volumes (bytes).

    .. code:: python

        {"vg0": VolumeGroup(name="vg0", size_bytes=25765609472, free_bytes=..., extent_bytes=4194304,
                            lvs={"small": LogicalVolume(name="small", vg="vg0",
                                                        size_bytes=1073741824, path="/dev/vg0/small")})}
    """

    default = dict
    requires_command = "lvm"

    def command(self) -> str:
        # One LVM process (a device scan each) instead of vgs + lvs; vgs
        # with LV columns would drop a VG that has no LV. The pv/seg
        # reports that fullreport always prints are cut to one column.
        return (
            "lvm fullreport --reportformat json --units b --nosuffix "
            "--configreport vg -o vg_name,vg_size,vg_free,vg_extent_size "
            "--configreport lv -o lv_name,lv_size,lv_path "
            "--configreport pv -o pv_name --configreport pvseg -o pvseg_start "
            "--configreport seg -o seg_start 2>/dev/null"
        )

    def process(self, output: list[str]) -> dict[str, VolumeGroup]:
        return parse_lvm_fullreport("\n".join(output))
