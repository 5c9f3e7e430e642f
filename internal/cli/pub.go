package cli

import ucli "github.com/urfave/cli/v2"

// pubCommand is `mqtt pub` (and `mosquitto_pub`): publish messages.
func pubCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "topic", Aliases: []string{"t"}, Usage: "publish to `TOPIC` (no + or #)"},
		&ucli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "send `MESSAGE` as the payload"},
		&ucli.StringFlag{Name: "file", Aliases: []string{"f"}, TakesFile: true, Usage: "send the contents of `FILE` as the payload"},
		&ucli.BoolFlag{Name: "stdin-line", Aliases: []string{"l"}, Usage: "send each line of standard input as a message"},
		&ucli.BoolFlag{Name: "null-message", Aliases: []string{"n"}, Usage: "send an empty payload"},
		&ucli.BoolFlag{Name: "stdin-file", Aliases: []string{"s"}, Usage: "send all of standard input as one message"},
		&ucli.BoolFlag{Name: "retain", Aliases: []string{"r"}, Usage: "retain the message (an empty retained payload clears it)"},
		&ucli.IntFlag{Name: "repeat", Usage: "publish the message `COUNT` times"},
		&ucli.Float64Flag{Name: "repeat-delay", Usage: "wait `SECONDS` between repeats"},
		&ucli.IntFlag{Name: "max-inflight", Aliases: []string{"M"}, Usage: "at most `COUNT` QoS 1/2 messages in flight"},
	}
	return &ucli.Command{
		Name:  "pub",
		Usage: "publish a message",
		Description: "Connects to a broker, publishes one message (or one per line of standard input with -l) " +
			"and disconnects. Flags and exit codes follow mosquitto_pub.",
		Flags: append(flags, connFlags()...),
		Action: func(c *ucli.Context) error {
			if _, err := connOptionsFrom(c); err != nil {
				return err
			}
			return notImplemented(c, "pub")
		},
	}
}
