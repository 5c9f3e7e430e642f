//go:build windows || plan9

package cli

import "errors"

func openSyslog(string, string, int) (syslogWriter, error) {
	return nil, errors.New("syslog is not available on this system")
}

func dropPrivileges(string) (bool, error) { return false, nil }
