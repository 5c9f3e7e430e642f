#!/bin/sh
# Before removing the mqtt package: stop and disable the service (not on upgrades).
# Arguments: deb "remove" or "upgrade <new-version>"; rpm "0" (remove) or "1" (upgrade).
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now mqtt.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
