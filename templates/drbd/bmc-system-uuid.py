#!/usr/bin/python3
"""The UUID that the peer's BMC reports for the system it fences (installed
by twonode; run by the fence check, templates/drbd/fence-peer.sh).

    bmc-system-uuid < peer-options

Reads the fence agent's options on stdin, as fence_redfish does (ip,
ipport, username, password, systems_uri, ssl_insecure), asks the BMC for
that system over Redfish, and prints its "UUID". The fence check compares
it with the peer's own machine UUID: a BMC address or systems_uri that
names another machine (this node itself, a neighbour in the chassis)
answers "on" like the right one, and a fence through it would power off
that machine and take the peer for fenced.

Trusts what fence_redfish trusts: REQUESTS_CA_BUNDLE (a pinned
certificate), else the system's CAs, or nothing with ssl_insecure.
Exit 0 with the UUID ("" if the BMC reports none); 1 with the reason,
which the fence check logs, never the password.
"""

import os
import sys

import requests  # fence-agents-redfish's own dependency

#: A flag's values that set it, as fence-agents reads its stdin: anything
#: else (an empty value too) leaves it off.
TRUE = ("1", "yes", "on", "true")


def main() -> int:
    options = {}
    for line in sys.stdin.read().splitlines():
        name, _, value = line.partition("=")
        options[name.strip()] = value.strip()
    host = options.get("ip", "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    url = f"https://{host}:{options.get('ipport', '443')}{options.get('systems_uri', '')}"
    verify = False if options.get("ssl_insecure", "").lower() in TRUE \
        else os.environ.get("REQUESTS_CA_BUNDLE", True)
    if verify is False:
        # Said knowingly in group_data (accept_unverified_tls), and shown by the status.
        requests.packages.urllib3.disable_warnings()
    try:
        reply = requests.get(url, auth=(options.get("username", ""), options.get("password", "")),
                             verify=verify, timeout=30, headers={"Accept": "application/json"})
        reply.raise_for_status()
        value = reply.json().get("UUID") or ""
    except (requests.RequestException, ValueError, AttributeError) as error:
        # The exception's text names the URL, never the password.
        print(f"{url}: {error.__class__.__name__}: {error}")
        return 1
    print(str(value).strip().lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
