"""Which Debian release a node runs, and what that changes
(twonode/releases.py, facts/os_release.py, twonode/packages.py)."""

from pathlib import Path

import pytest

from facts.os_release import NodeOsRelease
from twonode import packages
from twonode.releases import BOOKWORM, SUPPORTED, TRIXIE, UnsupportedRelease, release_of

FIXTURES = Path(__file__).parent / "fixtures" / "os"


def os_release(name: str):
    return NodeOsRelease().process((FIXTURES / f"{name}__os-release.txt").read_text().splitlines())


def release(os):
    return release_of(os.id, os.codename, os.version_id, os.pretty_name)


@pytest.mark.parametrize("name, expected", [("bookworm", BOOKWORM), ("trixie", TRIXIE)])
def test_each_supported_release_is_read_from_its_own_os_release(name, expected):
    os = os_release(name)
    assert release(os) is expected
    assert os.pretty_name == f"Debian GNU/Linux {expected.version} ({name})"


@pytest.mark.parametrize("edit, named", [
    # Debian testing after trixie: a codename, no VERSION_ID.
    (lambda text: text.replace("trixie", "forky").replace('VERSION_ID="13"\n', ""), "forky"),
    # Not Debian at all, though its codename were one of Debian's.
    (lambda text: text.replace("ID=debian", "ID=ubuntu"), "ID=ubuntu"),
    # A trixie that says it is 12: never guessed either way.
    (lambda text: text.replace('VERSION_ID="13"', 'VERSION_ID="12"'), "VERSION_ID=12"),
])
def test_a_release_twonode_does_not_know_is_refused_with_what_it_knows(edit, named):
    text = edit((FIXTURES / "trixie__os-release.txt").read_text())
    with pytest.raises(UnsupportedRelease) as refused:
        release(NodeOsRelease().process(text.splitlines()))
    message = str(refused.value)
    assert named in message
    assert "Debian 12 (bookworm) and Debian 13 (trixie)" in message and "Nothing was changed" in message


def test_trixie_installs_the_package_of_each_agent_as_the_archive_ships_it():
    # Every fence agent of trixie's archive, with the package that ships it
    # (read off the packages' file lists).
    lines = (FIXTURES / "trixie__fence-agent-packages.txt").read_text().splitlines()
    shipped = dict(line.split() for line in lines)
    assert len(shipped) > 80
    for agent, package in shipped.items():
        assert TRIXIE.fence_agent_packages({agent}) == [package], agent


def test_bookworm_installs_its_one_fence_agents_package():
    assert BOOKWORM.fence_agent_packages({"fence_redfish", "fence_ipmilan"}) == ["fence-agents"]
    assert BOOKWORM.fence_agent_packages(set()) == TRIXIE.fence_agent_packages(set()) == []


@pytest.mark.parametrize("rel", SUPPORTED.values(), ids=SUPPORTED)
def test_the_agents_come_with_the_drbd_area_only(rel):
    # The fence-peer handler is DRBD's: tasks/drbd.py run alone installs it.
    with_drbd = packages.wanted(rel, ["drbd"], {"fence_ipmilan"})
    assert with_drbd[0] == "drbd-utils" and len(with_drbd) == 2
    assert not any(p.startswith("fence-agents") for p in packages.wanted(rel, ["nfs", "libvirt"], {"fence_ipmilan"}))
    assert packages.wanted(rel, ["drbd"], set()) == ["drbd-utils"]


def test_the_lab_image_holds_every_areas_packages_and_the_redfish_agent():
    listed = packages.lab_packages(TRIXIE)
    assert set(listed) == {p for area in packages.AREAS.values() for p in area} | {"fence-agents-redfish"}
