package cli

import (
	"net"
	"strconv"

	"github.com/mqttkit/mqtt/internal/config"
	ucli "github.com/urfave/cli/v2"
)

// banner is what the broker says about itself at start and stop. Invoked as mosquitto it
// names itself mosquitto ("mosquitto version X starting") and says all of Mosquitto's local
// only lines; as mqtt it names itself mqtt. Either way each listener is announced in
// Mosquitto 2.0.11's words ("Opening ipv4 listen socket on port 1883."), because log watchers
// and scripts look for them.
type banner struct {
	mosquitto bool
	// version is "mosquitto version X" or "mqtt version X"; it is also broker.Options.Version,
	// published on $SYS/broker/version.
	version string
}

func bannerFor(c *ucli.Context) banner {
	if c.App.Name == "mosquitto" {
		return banner{mosquitto: true, version: "mosquitto version " + currentBuild().Version}
	}
	return banner{version: "mqtt version " + currentBuild().Version}
}

// localOnly is logged when no listener is configured (Mosquitto 2's local only mode).
func (b banner) localOnly() []string {
	lines := []string{"Starting in local only mode. Connections will only be possible from clients running on this machine."}
	if b.mosquitto {
		lines = append(lines, "Create a configuration file which defines a listener to allow remote access.",
			"For more details see https://mosquitto.org/documentation/authentication-methods/")
	}
	return lines
}

// opening is logged for each listener once it listens, in Mosquitto 2.0.11's words (checked
// by running it): the address family and the port, without the address, also for a listener
// with a bind address; "websockets" instead of the family for a websocket listener, and
// nothing about TLS. Mosquitto opens one socket per address family of an unspecified address
// and logs each; ours is one dual-stack socket, which serves both, so both lines are logged
// for it too. An MQTT-SN gateway, which Mosquitto has not, is announced in words of our own.
func (b banner) opening(l config.Listener, ln net.Listener) []string {
	if sl, ok := ln.(*snListener); ok {
		return []string{"Opening MQTT-SN gateway socket on udp " + sl.pc.LocalAddr().String() + "."}
	}
	ta, isTCP := ln.Addr().(*net.TCPAddr)
	switch {
	case l.UnixPath != "":
		return []string{"Opening unix listen socket on path " + l.UnixPath + "."}
	case !isTCP:
		return nil
	}
	port := strconv.Itoa(ta.Port)
	switch {
	case l.Protocol == "websockets":
		return []string{"Opening websockets listen socket on port " + port + "."}
	case ta.IP.IsUnspecified() && l.Spec().Network == "tcp":
		return []string{"Opening ipv4 listen socket on port " + port + ".", "Opening ipv6 listen socket on port " + port + "."}
	case ta.IP.To4() == nil:
		return []string{"Opening ipv6 listen socket on port " + port + "."}
	}
	return []string{"Opening ipv4 listen socket on port " + port + "."}
}
