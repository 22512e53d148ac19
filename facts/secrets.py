"""What a fact must not carry: DRBD's shared secret.

A resource file, and ``drbdsetup show``, hold ``shared-secret "..."``. A
fact's output reaches pyinfra's debug output and the captured fixtures, so
a command that prints either pipes it through MASK_SECRETS first.
"""

#: The value shown instead of a secret.
HIDDEN = "(hidden)"

#: A sed filter (POSIX ERE) that replaces every shared secret's value: as
#: the configuration shows it (``shared-secret "..."``) and as drbdadm
#: shows the drbdsetup command line of a failed command
#: (``--shared-secret=...``).
MASK_SECRETS = (f"sed -E -e 's/(shared-secret[[:space:]]+)\"[^\"]*\"/\\1\"{HIDDEN}\"/g' "
                f"-e 's/(--shared-secret=)[^[:space:]]*/\\1{HIDDEN}/g'")
