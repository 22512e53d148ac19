"""The two servers: how pyinfra reaches them, their cluster addresses and
NICs, and how each is fenced through its BMC."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import InterfaceName, Mac, NodeName, Strict

#: Options a fence agent reads on its stdin (`name=value` lines); the ones
#: twonode writes itself (from `address`, `port`, `username` and the password
#: file) or that would change what the handler asks for are not accepted.
FENCE_OPTION = r"^[a-z][a-z0-9_]{0,40}$"
FENCE_OPTION_VALUE = r"^[A-Za-z0-9_./:@,+=-]{0,200}$"
FENCE_OPTIONS_OWNED = {"action", "ip", "ipaddr", "ipport", "username", "login", "password", "passwd",
                       "password_script", "passwd_script", "port", "plug", "nodename", "delay"}
#: fence-agents' IPMI agents whose default is IPMI 1.5 ("-I lan": the
#: password crosses the network in the clear or MD5-hashed), unless
#: lanplus=1. (fence_ilo3/4/5 and fence_ipmilanplus default to lanplus.)
IPMI_AGENTS_WITHOUT_LANPLUS = {"fence_ipmilan", "fence_idrac", "fence_imm"}


class Bmc(Strict):
    """The node's BMC, through which its PEER powers it off (fencing)."""

    #: A fence agent of Debian's fence-agents (fence_redfish, fence_ipmilan, ...).
    agent: str = Field("fence_redfish", pattern=r"^fence_[a-z0-9_]{1,40}$")
    #: Where the peer reaches the BMC (its management network address).
    address: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
    #: Its port: 443 for Redfish, 623 for IPMI.
    port: int = Field(443, ge=1, le=65535)
    #: The BMC user the agent logs in as (its password: fencing.passwords_file).
    username: str = Field(pattern=r"^[A-Za-z0-9._@+-]{1,64}$")
    #: More of the agent's options, e.g. {"ssl_insecure": "1",
    #: "systems_uri": "/redfish/v1/Systems/1"}. The password is never here:
    #: see Fencing.passwords_file.
    options: dict[str, str] = {}
    #: True: you accept that the peer does not verify this BMC's TLS
    #: certificate (the agent option ssl_insecure). Anyone on the management
    #: network who answers at the BMC's address then receives its password,
    #: and can answer "Off" to a fence. Only for a BMC whose certificate
    #: cannot be made trusted (the lab's self-signed one).
    accept_unverified_tls: bool = False
    #: fence_redfish: a PEM file on the machine that runs pyinfra with the
    #: certificate (or its CA's) that the BMC's TLS certificate must chain
    #: to, e.g. the BMC's own self-signed one. The peer then trusts that
    #: and nothing else for this BMC, instead of the node's system CAs. The
    #: certificate must name the BMC's `address` (subjectAltName).
    ca_file: str | None = Field(None, pattern=r"^[A-Za-z0-9_./~+-]{1,255}$")

    @field_validator("options")
    @classmethod
    def _plain_options(cls, options: dict[str, str]) -> dict[str, str]:
        for name, value in options.items():
            if name in FENCE_OPTIONS_OWNED:
                raise ValueError(f"option {name!r} is set by twonode (address, port, username, the password "
                                 "file, the action): remove it")
            if not re.fullmatch(FENCE_OPTION, name):
                raise ValueError(f"option {name!r} is not a fence agent option name: lower-case letters, "
                                 "digits and '_', as the agent reads them on stdin (e.g. 'ssl_insecure')")
            if not re.fullmatch(FENCE_OPTION_VALUE, value):
                raise ValueError(f"option {name!r}: {value!r} holds characters a fence agent's stdin line "
                                 "does not take here: letters, digits and '_./:@,+=-' only")
        return options

    @model_validator(mode="after")
    def _ipmi_over_lanplus(self) -> "Bmc":
        if self.agent in IPMI_AGENTS_WITHOUT_LANPLUS and self.options.get("lanplus") != "1":
            raise ValueError(
                f"{self.agent} talks IPMI 1.5 unless told otherwise, which sends the BMC password over the "
                'network unencrypted: add "lanplus": "1" to its options (IPMI 2.0), or use fence_redfish '
                "where the BMC has Redfish. Note that fence_ipmilan hands the password to ipmitool on its "
                "command line, which other local users of the node can see while it runs")
        return self

    @property
    def verifies_tls(self) -> bool:
        return self.options.get("ssl_insecure", "").lower() not in ("1", "true", "yes", "on")

    @model_validator(mode="after")
    def _unverified_tls_said_knowingly(self) -> "Bmc":
        if not self.verifies_tls and not self.accept_unverified_tls:
            raise ValueError(
                "ssl_insecure turns off the check of the BMC's TLS certificate: whoever answers at its "
                "address on the management network gets the BMC password, and can answer \"Off\" to a fence "
                "while the peer runs. Give the BMC a certificate the nodes trust and remove ssl_insecure; or, "
                'knowing that, add "accept_unverified_tls": true to this bmc (the status then says '
                '"TLS NOT verified")')
        return self

    @model_validator(mode="after")
    def _ca_file_for_verified_tls(self) -> "Bmc":
        if self.ca_file and self.agent != "fence_redfish":
            raise ValueError(f"ca_file is the certificate fence_redfish checks the BMC's TLS against; "
                             f"{self.agent} does not use it: remove ca_file")
        if self.ca_file and not self.verifies_tls:
            raise ValueError("ca_file pins the BMC's certificate, and ssl_insecure turns the check off: "
                             "remove ssl_insecure (and accept_unverified_tls)")
        return self

    @model_validator(mode="after")
    def _redfish_names_its_system(self) -> "Bmc":
        # Without systems_uri fence_redfish picks a system of the BMC on its
        # own: on a BMC that manages several (a chassis, a blade enclosure)
        # it may power off, or find "already off", another machine than the
        # peer, and the survivor would write on beside a running peer.
        if self.agent == "fence_redfish" and not self.options.get("systems_uri"):
            raise ValueError(
                'fence_redfish needs the peer\'s own system: add "systems_uri" to its options, e.g. '
                '"/redfish/v1/Systems/1" (the BMC lists its systems at https://BMC/redfish/v1/Systems)')
        return self


class Fencing(Strict):
    """How a node that loses its peer makes sure the peer is off before it
    goes on writing (DRBD `fencing resource-and-stonith`)."""

    #: "power": the peer is powered off through its BMC (nodes.N.bmc).
    #: "none": no fencing; a cut cluster link can then split the data (see
    #: the docs/concepts.md, "Fencing"). Must be said explicitly.
    mode: Literal["power", "none"]
    #: On the machine that runs pyinfra, outside the repository: one line per
    #: node, `NODE = "password"` (TOML), readable by you only. The
    #: environment variable TWONODE_FENCE_PASSWORDS, if set, names it instead.
    passwords_file: str = Field("~/.config/twonode/bmc-passwords.toml", pattern=r"^[A-Za-z0-9_./~+-]{1,255}$")
    #: Seconds the peer's fence agent takes at worst to power a node off:
    #: its login, the "off", and its polls until the BMC reads off (time
    #: `fence_ipmilan ... -o off` against a running node: a few seconds on a
    #: real BMC). o2cb's timeouts are derived from it and race_delay
    #: (docs/concepts.md, "Fencing").
    agent_time: int = Field(10, ge=1, le=60)
    #: Seconds the node that is not first_node waits before it fences, so
    #: that when both lose the link at once exactly one survives: first_node's
    #: fence must have landed before this one starts, so at least agent_time
    #: + 5 (the two notice a cut up to DRBD's 3-s ping interval apart). A
    #: longer delay lengthens the pause of the survivor's writes when
    #: first_node is lost: o2cb's timeouts grow with it.
    race_delay: int = Field(15, ge=5, le=120)

    @field_validator("race_delay")
    @classmethod
    def _outlasts_the_agent(cls, delay: int, info: ValidationInfo) -> int:
        agent_time = info.data.get("agent_time")
        if agent_time is None or info.data.get("mode") != "power":  # agent_time refused, or no fencing
            return delay
        if delay < agent_time + RACE_MARGIN:
            raise ValueError(
                f"{delay} s is too short for an agent that takes {agent_time} s (agent_time): when the "
                "cluster link is cut, first_node's fence must land before the other node's starts, and "
                f"the two notice the cut up to DRBD's ping interval apart. Use at least "
                f"{agent_time + RACE_MARGIN} s, or measure the agent and lower agent_time "
                "(docs/concepts.md, 'Fencing')")
        return delay


#: race_delay beyond agent_time: DRBD's ping interval (3 s), and 2 s more.
RACE_MARGIN = 5


class Node(Strict):
    """One of the two servers."""

    #: The node's name: its host name (`uname -n`), which o2cb looks for.
    name: NodeName
    #: Where pyinfra reaches the node (its public LAN address or DNS name).
    ssh_host: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")
    #: Its SSH port.
    ssh_port: int = Field(22, ge=1, le=65535)
    #: The node's address on the dedicated cluster network (DRBD, o2cb).
    cluster_address: IPv4Address
    #: Persistent NIC names pinned to MACs by udev, e.g. {"eth1": "00:0e:..."}.
    nics: dict[InterfaceName, Mac] = {}
    #: Its BMC, for the peer's fence agent (with fencing mode "power").
    bmc: Bmc | None = None


class ClusterNetwork(Strict):
    """The dedicated network for replication and the OCFS2 heartbeat."""

    #: The network's address and prefix, e.g. 192.168.3.0/24.
    network: IPv4Network
    #: The NIC (a key of each node's ``nics``) that carries it.
    interface: InterfaceName
    #: /etc/hosts names each node's cluster address as <node><suffix>
    #: (e.g. fiori-cluster): DRBD and o2cb use the addresses, people the names.
    hosts_suffix: str = Field("-cluster", pattern=r"^[a-z0-9-]{1,20}$")
    #: The MTU of the cluster NIC as the system has it (twonode does not set
    #: it). With NFS in mode single, the private network crosses this link in
    #: a VXLAN, whose 50 bytes of headers come off the private bridges' MTU.
    mtu: int = Field(1500, ge=1280, le=9216)

    @field_validator("network", mode="before")
    @classmethod
    def _no_host_bits(cls, value):
        # pydantic only says "not a valid IPv4 network" for "192.168.3.6/24".
        if isinstance(value, str):
            try:
                iface = IPv4Interface(value)
            except ValueError:
                return value
            if iface.ip != iface.network.network_address:
                raise ValueError(
                    f"{value!r} has host bits set: write the network itself, e.g. '{iface.network}'"
                )
        return value

