package cli

import ucli "github.com/urfave/cli/v2"

// snGatewayCommand is `mqtt sn-gateway`: an MQTT-SN 1.2 gateway in front of an MQTT broker.
func snGatewayCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "listen", Value: ":1884", Usage: "receive MQTT-SN over UDP on `[HOST:]PORT`"},
	}
	return &ucli.Command{
		Name:  "sn-gateway",
		Usage: "run an MQTT-SN gateway",
		Description: "Accepts MQTT-SN 1.2 clients over UDP and relays them to an MQTT broker named by the " +
			"connection options, exactly as in mqtt pub.",
		Flags: append(flags, connFlags()...),
		Action: func(c *ucli.Context) error {
			if _, err := connOptionsFrom(c); err != nil {
				return err
			}
			return notImplemented(c, "sn-gateway")
		},
	}
}
