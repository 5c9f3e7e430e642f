package config

import (
	"fmt"
	"strconv"
	"strings"
)

// UseCommandLinePorts applies `-p PORT` options given with `-c FILE`, as Mosquitto 2 does: when
// the file configures no listener (local only mode), each port replaces 1883 on the loopback
// interfaces; when it does, the ports are ignored, with a warning.
func (c *Config) UseCommandLinePorts(ports []int) []Warning {
	if len(ports) == 0 {
		return nil
	}
	if !c.LocalOnly {
		ps := make([]string, len(ports))
		for i, p := range ports {
			ps[i] = strconv.Itoa(p)
		}
		return []Warning{{Pos: Pos{File: c.File}, Directive: "listener",
			Msg: fmt.Sprintf("-p %s ignored: the configuration file defines listeners", strings.Join(ps, ", -p "))}}
	}
	var out []Listener
	for _, p := range ports {
		for _, l := range c.Listeners {
			l.Port = p
			out = append(out, l)
		}
	}
	c.Listeners = out
	return nil
}
