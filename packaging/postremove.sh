#!/bin/sh
# After removing the mqtt package. A purge (deb) also deletes the broker's saved state and
# logs; the user mqtt stays, as files elsewhere may still belong to it.
# Arguments: deb "remove", "purge", "upgrade ..."; rpm "0" (remove) or "1" (upgrade).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/mqtt /var/log/mqtt
fi
exit 0
