package cli

import (
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
			if code := auth.Passwd(opts, stdin, c.App.Writer, c.App.ErrWriter); code != 0 {
				return exitf(code, "") // already reported
			}
			return nil
		},
	}
}
