package cli

import ucli "github.com/urfave/cli/v2"

// subCommand is `mqtt sub` (and `mosquitto_sub`): subscribe and print messages.
func subCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringSliceFlag{Name: "topic", Aliases: []string{"t"}, Usage: "subscribe to `FILTER` (repeatable)"},
		&ucli.StringSliceFlag{Name: "filter-out", Aliases: []string{"T"}, Usage: "do not print messages on topics matching `FILTER` (repeatable)"},
		&ucli.StringSliceFlag{Name: "unsubscribe", Aliases: []string{"U"}, Usage: "unsubscribe from `FILTER` once subscribed (repeatable)"},
		&ucli.IntFlag{Name: "count", Aliases: []string{"C"}, Usage: "exit after `COUNT` messages"},
		&ucli.IntFlag{Name: "timeout", Aliases: []string{"W"}, Usage: "exit with code 27 after `SECONDS`"},
		&ucli.BoolFlag{Name: "exit-on-suback", Aliases: []string{"E"}, Usage: "exit once every subscription is acknowledged"},
		&ucli.BoolFlag{Name: "no-retained", Aliases: []string{"R"}, Usage: "do not print retained (stale) messages"},
		&ucli.BoolFlag{Name: "retained-only", Usage: "exit at the first message that is not retained"},
		&ucli.BoolFlag{Name: "remove-retained", Usage: "clear each retained message received"},
		&ucli.BoolFlag{Name: "retain-as-published", Usage: "v5: keep the retain flag as published"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print the topic before the payload"},
		&ucli.BoolFlag{Name: "no-newline", Aliases: []string{"N"}, Usage: "do not print a newline after each message"},
		&ucli.StringFlag{Name: "format", Aliases: []string{"F"}, Usage: "print each message as `FORMAT` (%t topic, %p payload, %j JSON, ...)"},
		&ucli.BoolFlag{Name: "pretty", Usage: "indent JSON output"},
		&ucli.Float64Flag{Name: "random-filter", Usage: "print only `PERCENT` of the messages, chosen at random"},
	}
	return &ucli.Command{
		Name:  "sub",
		Usage: "subscribe and print messages",
		Description: "Connects to a broker, subscribes to one or more topic filters and prints the messages " +
			"it receives. Flags, output formats and exit codes follow mosquitto_sub.",
		Flags: append(flags, connFlags()...),
		Action: func(c *ucli.Context) error {
			if _, err := connOptionsFrom(c); err != nil {
				return err
			}
			return notImplemented(c, "sub")
		},
	}
}
