package cli

import (
	"net"
	"strconv"

	"github.com/mqttkit/mqtt/internal/config"
	ucli "github.com/urfave/cli/v2"
)

// banner is what the broker says about itself at start and stop. Invoked as mosquitto it uses
// Mosquitto's words ("mosquitto version X starting", "Opening ipv4 listen socket on port
// 1883."), because log watchers and scripts look for them; as mqtt it names itself and says
// which address each listener has.
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

// opening is logged for each listener once it listens. Mosquitto opens one socket per
// address family of an unspecified address and logs each; ours is one dual-stack socket, which
// serves both, so as mosquitto both lines are logged for it too.
func (b banner) opening(l config.Listener, ln net.Listener) []string {
	if sl, ok := ln.(*snListener); ok {
		return []string{"Opening MQTT-SN gateway socket on udp " + sl.pc.LocalAddr().String() + "."}
	}
	ta, isTCP := ln.Addr().(*net.TCPAddr)
	kind := "ipv4"
	if isTCP && ta.IP.To4() == nil {
		kind = "ipv6"
	}
	if !b.mosquitto {
		if l.UnixPath != "" {
			return []string{"Opening unix listen socket on " + l.UnixPath + "."}
		}
		k := kind
		if l.Protocol == "websockets" {
			k = "websockets (" + kind + ")"
		}
		msg := "Opening " + k + " listen socket on " + ln.Addr().String()
		if l.TLS.Enabled() {
			msg += " with TLS"
		}
		return []string{msg + "."}
	}
	switch {
	case l.UnixPath != "":
		return []string{"Opening unix listen socket on path " + l.UnixPath + "."}
	case !isTCP:
		return nil
	case l.Protocol == "websockets":
		return []string{"Opening websockets listen socket on port " + strconv.Itoa(ta.Port) + "."}
	}
	port := strconv.Itoa(ta.Port)
	if ta.IP.IsUnspecified() && l.Spec().Network == "tcp" {
		return []string{"Opening ipv4 listen socket on port " + port + ".", "Opening ipv6 listen socket on port " + port + "."}
	}
	return []string{"Opening " + kind + " listen socket on port " + port + "."}
}

// listening is logged by plain `serve` (no -c) for each address it listens on.
func (b banner) listening(a net.Addr) string {
	if !b.mosquitto {
		return "Listening on " + a.String() + "."
	}
	kind, port := "ipv4", ""
	if ta, ok := a.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if ta.IP.To4() == nil {
			kind = "ipv6"
		}
	}
	return "Opening " + kind + " listen socket on port " + port + "."
}
