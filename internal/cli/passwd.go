package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mqttkit/mqtt/internal/auth"
	ucli "github.com/urfave/cli/v2"
)

// passwdCommand is `mqtt passwd` (and `mosquitto_passwd`): manage password files.
func passwdCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "passwd",
		Usage:     "manage a password file",
		ArgsUsage: "FILE USER [PASSWORD]",
		Description: "Adds, updates or deletes users in a Mosquitto-compatible password file ($7$ PBKDF2-SHA512 " +
			"by default, $6$ SHA512 for Mosquitto 1.6 and earlier).",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "c", Usage: "create the file, overwriting any existing one"},
			&ucli.BoolFlag{Name: "b", Usage: "batch mode: the password is given on the command line"},
			&ucli.BoolFlag{Name: "D", Usage: "delete the user"},
			&ucli.BoolFlag{Name: "U", Usage: "hash a plain-text user:password file in place"},
			&ucli.StringFlag{Name: "H", Value: "sha512-pbkdf2", Usage: "hash `sha512-pbkdf2|sha512`"},
			&ucli.IntFlag{Name: "I", Value: 101, Usage: "PBKDF2 `ITERATIONS`"},
		},
		// The work, and mosquitto_passwd's messages, live in internal/auth.
		Action: func(c *ucli.Context) error {
			opts := auth.PasswdOptions{
				Create:  c.Bool("c"),
				Batch:   c.Bool("b"),
				Delete:  c.Bool("D"),
				Upgrade: c.Bool("U"),
				Hash:    c.String("H"),
				Args:    c.Args().Slice(),
			}
			if c.IsSet("I") {
				opts.Iterations, opts.IterationsSet = c.Int("I"), true
			}
			var stdin io.Reader = os.Stdin
			if c.App.Reader != nil {
				stdin = c.App.Reader
			}
			if code := auth.Passwd(opts, c.App.Name+helpSuffix(c), stdin, c.App.Writer, c.App.ErrWriter); code != 0 {
				return exitf(code, "") // already reported
			}
			return nil
		},
		OnUsageError: passwdUsageError,
	}
}

// passwdUsageError answers a bad option as mosquitto_passwd does: its message for -H or -I
// without a value, and for an -I that is not a positive number; its usage on standard output
// for an unknown option. Exit 1.
func passwdUsageError(c *ucli.Context, err error, isSubcommand bool) error {
	if errors.Is(err, flag.ErrHelp) {
		return onUsageError(c, err, isSubcommand)
	}
	msg := err.Error()
	if m := reNeedsArg.FindStringSubmatch(msg); m != nil {
		fmt.Fprintf(c.App.ErrWriter, "Error: -%s argument given but not enough other arguments.\n", m[1])
		return exitf(exitError, "")
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil && m[2] == "I" {
		fmt.Fprintln(c.App.ErrWriter, "Error: Number of iterations must be > 0.")
		return exitf(exitError, "")
	}
	if reUndefined.MatchString(msg) {
		fmt.Fprint(c.App.Writer, auth.PasswdUsage(c.App.Name+helpSuffix(c)))
		return exitf(exitError, "")
	}
	return onUsageError(c, err, isSubcommand)
}
