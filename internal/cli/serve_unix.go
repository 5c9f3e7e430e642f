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

// switchUser makes the process run as u (its primary group, no supplementary groups). Go's
// syscall.Setuid and Setgid apply to every thread of the process.
func switchUser(u *user.User) error {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("cannot drop privileges to %q: uid %q gid %q", u.Username, u.Uid, u.Gid)
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("cannot drop privileges to %q: setgroups: %w", u.Username, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("cannot drop privileges to %q: setgid: %w", u.Username, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("cannot drop privileges to %q: setuid: %w", u.Username, err)
	}
	return nil
}

func geteuid() int { return os.Geteuid() }
