"""twonode: turn two Debian servers into a replicated storage and virtualisation cluster."""
