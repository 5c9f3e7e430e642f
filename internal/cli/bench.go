package cli

import ucli "github.com/urfave/cli/v2"

// benchCommand is `mqtt bench`: load-test a broker.
func benchCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "bench",
		Usage: "load-test a broker",
		Description: "Opens many client connections to a broker, publishes and subscribes at a set rate and " +
			"reports throughput and latency percentiles.",
		Flags: connFlags(),
		Action: func(c *ucli.Context) error {
			if _, err := connOptionsFrom(c); err != nil {
				return err
			}
			return notImplemented(c, "bench")
		},
	}
}
