//go:build !windows && !plan9

package cli

import (
	"fmt"
	"log/syslog"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// openSyslog connects to the system logger (network and addr empty: the local syslog
// socket); facility -1 is daemon, 0..7 local0..local7.
func openSyslog(network, addr string, facility int) (syslogWriter, error) {
	p := syslog.LOG_DAEMON
	if facility >= 0 {
		p = syslog.LOG_LOCAL0 + syslog.Priority(facility)<<3
	}
	return syslog.Dial(network, addr, p|syslog.LOG_INFO, "mqtt")
}

// dropPrivileges switches to the named user (and its group) when running as root, as
// Mosquitto's "user" directive. It is a no-op for other users.
func dropPrivileges(name string) (bool, error) {
	if os.Geteuid() != 0 || name == "" || name == "root" {
		return false, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return false, fmt.Errorf("cannot drop privileges to %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("cannot drop privileges to %q: uid %q gid %q", name, u.Uid, u.Gid)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return false, fmt.Errorf("cannot drop privileges to %q: setgroups: %w", name, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return false, fmt.Errorf("cannot drop privileges to %q: setgid: %w", name, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return false, fmt.Errorf("cannot drop privileges to %q: setuid: %w", name, err)
	}
	return true, nil
}
