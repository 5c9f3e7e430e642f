package cli

import ucli "github.com/urfave/cli/v2"

// serveCommand is `mqtt serve` (and `mosquitto`): the broker.
func serveCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "serve",
		Usage: "run the MQTT broker",
		Description: "Runs the MQTT 3.1, 3.1.1 and 5.0 broker. Without a configuration file it listens on port 1883 " +
			"with its embedded defaults. The configuration file uses mosquitto.conf syntax.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config-file", Aliases: []string{"c"}, TakesFile: true,
				Usage: "read the configuration from `FILE` (mosquitto.conf syntax)"},
			&ucli.IntSliceFlag{Name: "port", Aliases: []string{"p"},
				Usage: "listen on `PORT` (repeatable; ignored when the configuration defines listeners)"},
			&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log everything (log_type all)"},
		},
		Action: func(c *ucli.Context) error {
			return notImplemented(c, "serve")
		},
	}
}
