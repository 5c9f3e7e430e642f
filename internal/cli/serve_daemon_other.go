//go:build windows || plan9

package cli

import ucli "github.com/urfave/cli/v2"

func daemonize(*ucli.Context) error {
	return usageErrorf("-d: running in the background is not supported on this system; use a service manager")
}
