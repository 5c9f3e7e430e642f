package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/sn"
	ucli "github.com/urfave/cli/v2"
)

// The embedded MQTT-SN gateway of `mqtt serve --sn-listen`, of "protocol mqttsn" listeners
// and of `mqtt sn-gateway --embedded`: a gateway whose clients attach to the broker in this
// process (sn.BrokerUpstream), without a TCP hop.

// snListener is an MQTT-SN gateway's UDP socket in the broker's list of listeners, so that
// the listener's security (auth.FileAuth binds by port) applies to the gateway's clients as
// to any other listener's. It accepts nothing: the gateway reads the socket.
type snListener struct {
	pc   *net.UDPConn
	once sync.Once
	done chan struct{}
}

// snAddr is an MQTT-SN listener's address for the broker: it ends in "/udp", so that
// broker.ListenerKey (the listener's port) gives "1884/udp", which tells it apart from a TCP
// listener on the same port (their security and mount point may differ) and says what it
// is in the broker's log ("on port 1884/udp").
type snAddr struct{ *net.UDPAddr }

func (a snAddr) String() string { return a.UDPAddr.String() + "/udp" }

// snListenerKey is ClientInfo.Listener for the clients of the gateway on pc.
func snListenerKey(pc *net.UDPConn) string {
	return broker.ListenerKey(snAddr{pc.LocalAddr().(*net.UDPAddr)})
}

// openSNListener opens the UDP socket of an embedded gateway on [HOST]:PORT.
func openSNListener(ctx context.Context, address string) (*snListener, error) {
	pc, err := sn.ListenUDP(ctx, address)
	if err != nil {
		return nil, err
	}
	return &snListener{pc: pc, done: make(chan struct{})}, nil
}

func (l *snListener) Accept() (net.Conn, error) {
	<-l.done
	return nil, net.ErrClosed
}

func (l *snListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.pc.Close()
}

func (l *snListener) Addr() net.Addr { return snAddr{l.pc.LocalAddr().(*net.UDPAddr)} }

// snSettings are an MQTT-SN gateway's settings, from sn-gateway's flags, serve's --sn-*
// flags or a "protocol mqttsn" listener's sn_* lines. name says how a message refers to
// each ("advertise-to" -> "--advertise-to", or "sn_advertise_to (mqtt.conf:7)").
type snSettings struct {
	gatewayID         int
	advertiseInterval int // seconds, 0: never
	advertiseTo       string
	predefined        string
	retryInterval     int // seconds
	maxRetries        int
	maxClients        int
	maxMessageSize    int // 0: what a datagram holds
	name              func(setting string) string
}

// defaultSNSettings are sn-gateway's defaults.
func defaultSNSettings(name func(string) string) snSettings {
	return snSettings{gatewayID: 1, advertiseInterval: defaultAdvertiseInterval, retryInterval: 10, maxRetries: 3,
		maxClients: 100000, name: name}
}

// check reports a value out of range, naming it.
func (s snSettings) check() error {
	for _, v := range []struct {
		setting string
		v, lo   int
		hi      int
		what    string
	}{
		{"gateway-id", s.gatewayID, 0, 255, "0 to 255"},
		{"advertise-interval", s.advertiseInterval, 0, 65535, "0 (never) to 65535 seconds"},
		{"retry-interval", s.retryInterval, 1, 3600, "1 to 3600 seconds"},
		{"max-retries", s.maxRetries, 1, 100, "1 to 100"},
		{"max-clients", s.maxClients, 1, 1 << 30, "at least 1"},
	} {
		if v.v < v.lo || v.v > v.hi {
			return usageErrorf("invalid %s %d: expected %s", s.name(v.setting), v.v, v.what)
		}
	}
	if m := s.maxMessageSize; m != 0 && (m < 16 || m > sn.MaxMessageSize) {
		return usageErrorf("invalid %s %d: expected 16 to %d octets", s.name("max-message-size"), m, sn.MaxMessageSize)
	}
	return nil
}

// gatewayOptions are the options of a gateway with settings s on the socket bound to addr,
// and a note for the log when it sends no ADVERTISE although asked to.
//
// ADVERTISE goes to the broadcast address 255.255.255.255 on the gateway's port, unless
// advertiseTo names a target. A gateway on a loopback address sends none by default (nothing
// there receives a broadcast, and the port is its own), nor does one on an IPv6 address
// (IPv6 has no broadcast; advertiseTo can name a multicast group). A target the socket
// cannot send to (port 0, another address family, off the host from loopback) is an error.
func (s snSettings) gatewayOptions(addr *net.UDPAddr) (sn.Options, string, error) {
	if err := s.check(); err != nil {
		return sn.Options{}, "", err
	}
	o := sn.Options{
		GatewayID:      byte(s.gatewayID),
		RetryInterval:  time.Duration(s.retryInterval) * time.Second,
		MaxRetries:     s.maxRetries,
		MaxClients:     s.maxClients,
		MaxMessageSize: s.maxMessageSize,
	}
	listen := addr.AddrPort().Addr().Unmap()
	note := ""
	switch {
	case s.advertiseInterval == 0:
		if s.advertiseTo != "" {
			return o, "", usageErrorf("%s needs %s above 0", s.name("advertise-to"), s.name("advertise-interval"))
		}
	case s.advertiseTo != "":
		ap, err := netip.ParseAddrPort(s.advertiseTo)
		if err != nil {
			ua, rerr := net.ResolveUDPAddr("udp", s.advertiseTo)
			if rerr != nil {
				return o, "", usageErrorf("invalid %s %q: expected HOST:PORT (a broadcast or multicast address)", s.name("advertise-to"), s.advertiseTo)
			}
			ap = ua.AddrPort()
		}
		to := ap.Addr().Unmap()
		switch {
		case ap.Port() == 0:
			return o, "", usageErrorf("invalid %s %q: the port must be 1 to 65535", s.name("advertise-to"), s.advertiseTo)
		case to.IsUnspecified():
			return o, "", usageErrorf("invalid %s %q: %s is no address to send to", s.name("advertise-to"), s.advertiseTo, to)
		case listen.IsValid() && !listen.IsUnspecified() && listen.Is4() != to.Is4():
			return o, "", usageErrorf("invalid %s %q: the gateway listens on %s, which cannot send to an %s address",
				s.name("advertise-to"), s.advertiseTo, addr, map[bool]string{true: "IPv4", false: "IPv6"}[to.Is4()])
		case listen.IsLoopback() && !to.IsLoopback():
			return o, "", usageErrorf("invalid %s %q: the gateway listens on loopback address %s, from which nothing off this host can be reached", s.name("advertise-to"), s.advertiseTo, listen)
		}
		o.AdvertiseInterval = time.Duration(s.advertiseInterval) * time.Second
		o.AdvertiseAddr = netip.AddrPortFrom(to, ap.Port())
	case listen.IsLoopback():
		note = "no ADVERTISE: the gateway listens on loopback only, where a broadcast reaches no one; " + s.name("advertise-to") + " sends it to an address of your choice"
	case listen.Is6() && !listen.IsUnspecified():
		note = "no ADVERTISE: IPv6 has no broadcast; " + s.name("advertise-to") + " sends it to a multicast address such as [ff02::1%eth0]:PORT"
	default:
		o.AdvertiseInterval = time.Duration(s.advertiseInterval) * time.Second
		o.AdvertiseAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), uint16(addr.Port))
	}
	if s.predefined != "" {
		p, err := sn.LoadPredefined(s.predefined)
		if err != nil {
			var pe *sn.PredefinedError
			if errors.As(err, &pe) {
				return o, "", exitf(exitError, "%s %v", s.name("predefined"), err)
			}
			// The file cannot be opened (missing, a directory, not readable): serve exits
			// as for a password or ACL file it cannot open (configExitCode).
			return o, "", unusableFile{exitf(exitError, "%s: %v", s.name("predefined"), err)}
		}
		o.Predefined = p
	}
	return o, note, nil
}

// unusableFile marks an error about a file that cannot be opened, as opposed to one with a
// bad line: serve exits 13 for the first and 3 for the second, as for password_file and
// acl_file (configExitCode); sn-gateway exits 1 for both.
type unusableFile struct{ error }

func (e unusableFile) Unwrap() error { return e.error }

// snConfigExitCode is serve's exit status for an MQTT-SN gateway's settings that cannot be
// used.
func snConfigExitCode(err error) int {
	if errors.As(err, new(unusableFile)) {
		return exitPlugin
	}
	return exitConfig
}

// catSNServe groups serve's MQTT-SN flags in --help.
const catSNServe = "MQTT-SN gateway"

// snSettingNames are the gateway settings that are flags: sn-gateway's as they are, serve's
// with the prefix "sn-" (snServeFlags).
var snSettingNames = []string{"gateway-id", "advertise-interval", "advertise-to", "predefined",
	"retry-interval", "max-retries", "max-clients", "max-message-size"}

// snServeFlags are serve's --sn-* settings, beside --sn-listen.
var snServeFlags = func() []string {
	out := make([]string, len(snSettingNames))
	for i, n := range snSettingNames {
		out[i] = "sn-" + n
	}
	return out
}()

// snSettingFlags are the flags of snSettingNames, named prefix+name, in category, each usage
// starting with lead ("" for sn-gateway, "with --sn-listen: " for serve). One table for both
// commands, so their defaults and ranges cannot drift apart.
func snSettingFlags(prefix, category, lead string) []ucli.Flag {
	d := defaultSNSettings(nil)
	return []ucli.Flag{
		&ucli.IntFlag{Name: prefix + "gateway-id", Value: d.gatewayID, Category: category,
			Usage: lead + "gateway id `N` (0-255) sent in ADVERTISE and GWINFO"},
		&ucli.IntFlag{Name: prefix + "advertise-interval", Value: d.advertiseInterval, Category: category,
			Usage: lead + "broadcast ADVERTISE every `SECONDS` (1-65535), 0 for never"},
		&ucli.StringFlag{Name: prefix + "advertise-to", Category: category, DefaultText: "255.255.255.255:PORT of the gateway; none on loopback or IPv6",
			Usage: lead + "send ADVERTISE to `HOST:PORT` (a broadcast or multicast address)"},
		&ucli.StringFlag{Name: prefix + "predefined", TakesFile: true, Category: category,
			Usage: lead + "read predefined topic ids from `FILE`: lines CLIENTID,TOPIC,ID (* for every client)"},
		&ucli.IntFlag{Name: prefix + "retry-interval", Value: d.retryInterval, Category: category,
			Usage: lead + "resend an unacknowledged REGISTER, PUBLISH or PUBREL after `SECONDS` (T_RETRY)"},
		&ucli.IntFlag{Name: prefix + "max-retries", Value: d.maxRetries, Category: category,
			Usage: lead + "a client that does not answer `N` retransmissions is lost (N_RETRY)"},
		&ucli.IntFlag{Name: prefix + "max-clients", Value: d.maxClients, Category: category,
			Usage: lead + "refuse CONNECT beyond `N` clients per gateway (rejected: congestion)"},
		&ucli.IntFlag{Name: prefix + "max-message-size", Category: category, DefaultText: "65507, what a UDP datagram holds",
			Usage: lead + "drop messages to clients larger than `OCTETS` (16-65535), or needing a REGISTER larger than that, for links that carry less"},
	}
}

// withSNServeFlags puts serve's --sn-* settings right after its --sn-listen flag.
func withSNServeFlags(flags []ucli.Flag) []ucli.Flag {
	for i, f := range flags {
		if f.Names()[0] == "sn-listen" {
			return append(flags[:i+1:i+1], append(snSettingFlags("sn-", catSNServe, "with --sn-listen: "), flags[i+1:]...)...)
		}
	}
	return append(flags, snSettingFlags("sn-", catSNServe, "with --sn-listen: ")...)
}

// snFlagSettings reads the flags of snSettingFlags(prefix, ...); messages name them as flags.
func snFlagSettings(c *ucli.Context, prefix string) snSettings {
	return snSettings{
		gatewayID: c.Int(prefix + "gateway-id"), advertiseInterval: c.Int(prefix + "advertise-interval"),
		advertiseTo: c.String(prefix + "advertise-to"), predefined: c.String(prefix + "predefined"),
		retryInterval: c.Int(prefix + "retry-interval"), maxRetries: c.Int(prefix + "max-retries"),
		maxClients: c.Int(prefix + "max-clients"), maxMessageSize: c.Int(prefix + "max-message-size"),
		name: func(setting string) string { return "--" + prefix + setting },
	}
}

// snServeSettings are the settings of serve's --sn-listen gateways, from its --sn-* flags.
func snServeSettings(c *ucli.Context) (snSettings, error) {
	if len(c.StringSlice("sn-listen")) == 0 {
		for _, f := range snServeFlags {
			if c.IsSet(f) {
				return snSettings{}, usageErrorf("--%s needs --sn-listen", f)
			}
		}
	}
	s := snFlagSettings(c, "sn-")
	return s, s.check()
}

// snConfigSettings are the settings of a "protocol mqttsn" listener: its sn_* lines, and
// max_connections for the clients it holds.
func snConfigSettings(l config.Listener) snSettings {
	name := func(setting string) string {
		d := "sn_" + strings.ReplaceAll(setting, "-", "_")
		if setting == "max-clients" {
			d = "max_connections"
		}
		if pos, ok := l.SN.IsSet(d); ok {
			return d + " (" + pos.String() + ")"
		}
		return d
	}
	s := defaultSNSettings(name)
	g := l.SN
	set := func(d string, dst *int, v int) {
		if _, ok := g.IsSet(d); ok {
			*dst = v
		}
	}
	set("sn_gateway_id", &s.gatewayID, g.GatewayID)
	set("sn_advertise_interval", &s.advertiseInterval, g.AdvertiseInterval)
	set("sn_retry_interval", &s.retryInterval, g.RetryInterval)
	set("sn_max_retries", &s.maxRetries, g.MaxRetries)
	set("sn_max_message_size", &s.maxMessageSize, g.MaxMessageSize)
	s.advertiseTo, s.predefined = g.AdvertiseTo, g.Predefined
	if l.MaxConnections > 0 {
		s.maxClients = l.MaxConnections
	}
	return s
}

// startSNGateway starts a gateway on l attached to b; the gateway owns l's socket from then.
func startSNGateway(ctx context.Context, b *broker.Broker, l *snListener, opts sn.Options, logger *slog.Logger) (*sn.Gateway, error) {
	up := &sn.BrokerUpstream{Broker: b, Listener: snListenerKey(l.pc)}
	g, err := sn.New(opts, up, logger)
	if err != nil {
		return nil, err
	}
	if err := g.Start(ctx, l.pc); err != nil {
		return nil, err
	}
	return g, nil
}

// snListenAddress checks a --sn-listen value: [HOST:]PORT, a bare PORT meaning every
// interface.
func snListenAddress(flag, a string) (string, error) {
	addr := a
	if _, err := strconv.Atoi(a); err == nil {
		addr = ":" + a
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageErrorf("invalid %s %q: expected [HOST:]PORT", flag, a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", usageErrorf("invalid %s %q: the port must be between 0 and 65535", flag, a)
	}
	return addr, nil
}

// closeGateways stops embedded gateways (before the broker: their clients get DISCONNECT).
func closeGateways(gs []*sn.Gateway) {
	for _, g := range gs {
		_ = g.Close()
	}
}
