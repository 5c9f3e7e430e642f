//go:build windows || plan9

package cli

import (
	"errors"
	"os/user"
)

func openSyslog(string, string, int) (syslogWriter, error) {
	return nil, errors.New("syslog is not available on this system")
}

func switchUser(*user.User) error { return errors.New("changing user is not supported on this system") }

func geteuid() int { return -1 } // never root: no user to drop to
