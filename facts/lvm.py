"""Facts about LVM volume groups and logical volumes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from .serial import JsonDataclass
from .sections import section_text


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


def parse_lvm_reports(vgs_json: str, lvs_json: str) -> dict[str, VolumeGroup]:
    """Parse ``vgs``/``lvs --reportformat json --units b --nosuffix``."""
    groups: dict[str, VolumeGroup] = {}
    if vgs_json.strip():
        for vg in json.loads(vgs_json)["report"][0]["vg"]:
            groups[vg["vg_name"]] = VolumeGroup(
                name=vg["vg_name"], size_bytes=int(vg["vg_size"]), free_bytes=int(vg["vg_free"]),
                extent_bytes=int(vg["vg_extent_size"]),
            )
    if lvs_json.strip():
        for lv in json.loads(lvs_json)["report"][0]["lv"]:
            vg = groups.get(lv["vg_name"])
            if vg is not None:
                vg.lvs[lv["lv_name"]] = LogicalVolume(
                    name=lv["lv_name"], vg=lv["vg_name"], size_bytes=int(lv["lv_size"]), path=lv["lv_path"],
                )
    return groups


class VolumeGroups(FactBase):
    """
    Volume groups with their sizes and logical volumes (bytes).

    .. code:: python

        {"vg0": VolumeGroup(name="vg0", size_bytes=25765609472, free_bytes=..., extent_bytes=4194304,
                            lvs={"small": LogicalVolume(name="small", vg="vg0",
                                                        size_bytes=1073741824, path="/dev/vg0/small")})}
    """

    default = dict
    requires_command = "vgs"

    def command(self) -> str:
        opts = "--reportformat json --units b --nosuffix"
        return (
            f"echo @@vgs; vgs {opts} -o vg_name,vg_size,vg_free,vg_extent_size 2>/dev/null; "
            f"echo @@lvs; lvs {opts} -o lv_name,vg_name,lv_size,lv_path 2>/dev/null; true"
        )

    def process(self, output: list[str]) -> dict[str, VolumeGroup]:
        parts = section_text(output)
        return parse_lvm_reports(parts.get("vgs", ""), parts.get("lvs", ""))
