#!/bin/sh
# After installing or upgrading the mqtt package: the system user the service runs as,
# the directories it writes, and systemd's view of the unit.
# Arguments: deb "configure <old-version>"; rpm "1" (install) or "2" (upgrade).
set -e

if ! getent group mqtt >/dev/null 2>&1; then
	groupadd --system mqtt
fi
if ! getent passwd mqtt >/dev/null 2>&1; then
	useradd --system --gid mqtt --home-dir /var/lib/mqtt --no-create-home \
		--shell /usr/sbin/nologin --comment "mqtt broker" mqtt
fi

# The broker reads /etc/mqtt (password and ACL files, keys) through its group, and writes
# only /var/lib/mqtt and /var/log/mqtt.
chgrp mqtt /etc/mqtt
chmod 0750 /etc/mqtt
install -d -o mqtt -g mqtt -m 0750 /var/lib/mqtt /var/log/mqtt

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	case "$1" in
	configure)
		# Debian: enable and start on first install, as Debian's mosquitto package does;
		# the shipped configuration listens on loopback only. Restart on upgrade.
		if [ -z "$2" ]; then
			systemctl enable --now mqtt.service >/dev/null 2>&1 || true
		else
			systemctl try-restart mqtt.service >/dev/null 2>&1 || true
		fi
		;;
	2)
		# RPM upgrade: restart if running. A first install leaves the service disabled,
		# as Fedora's policy asks: systemctl enable --now mqtt.
		systemctl try-restart mqtt.service >/dev/null 2>&1 || true
		;;
	esac
fi
exit 0
