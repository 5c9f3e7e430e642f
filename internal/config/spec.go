package config

import (
	"net"
	"strconv"

	"github.com/mqttkit/mqtt/internal/listener"
)

// UnixSocketMode is the mode of a unix socket listener's file, Mosquitto's.
const UnixSocketMode = 0o770

// Spec returns what listener.Open needs to open this listener.
func (l Listener) Spec() listener.Spec {
	s := listener.Spec{
		Name:          l.Name(),
		Protocol:      l.Protocol,
		BindInterface: l.BindInterface,
		// MaxConnections stays 0: the broker counts them (BrokerConfig).
	}
	switch {
	case l.UnixPath != "":
		s.Network, s.Address = "unix", l.UnixPath
		// Mosquitto 2.0.11 binds it under umask 007: the user the broker runs as and its
		// group may connect, nobody else (serve gives it to that user when it drops root).
		s.UnixMode = UnixSocketMode
	default:
		s.Network = "tcp"
		switch l.SocketDomain {
		case "ipv4":
			s.Network = "tcp4"
		case "ipv6":
			s.Network = "tcp6"
		}
		s.Address = net.JoinHostPort(l.Address, strconv.Itoa(l.Port))
	}
	if l.TLS.Enabled() {
		s.TLS = &listener.TLSSpec{
			CAFile:             l.TLS.CAFile,
			CAPath:             l.TLS.CAPath,
			CertFile:           l.TLS.CertFile,
			KeyFile:            l.TLS.KeyFile,
			CRLFile:            l.TLS.CRLFile,
			RequireCertificate: l.TLS.RequireCertificate,
			MinVersion:         l.TLS.Version,
			Ciphers:            l.TLS.Ciphers,
		}
	}
	return s
}
