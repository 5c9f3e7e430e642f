package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/sn"
)

const catGateway = "Gateway"

// Defaults of sn-gateway.
const (
	defaultSNPort            = 1884
	defaultAdvertiseInterval = 900 // seconds: T_ADV, "greater than 15 minutes" [MQTT-SN 6.1]
)

// snGatewayCommand is `mqtt sn-gateway`: an MQTT-SN 1.2 gateway in front of an MQTT broker.
func snGatewayCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "listen", Value: ":" + strconv.Itoa(defaultSNPort), Category: catGateway,
			Usage: "receive MQTT-SN over UDP on `[HOST:]PORT`"},
		&ucli.IntFlag{Name: "gateway-id", Value: 1, Category: catGateway,
			Usage: "gateway id `N` (0-255) sent in ADVERTISE and GWINFO"},
		&ucli.IntFlag{Name: "advertise-interval", Value: defaultAdvertiseInterval, Category: catGateway,
			Usage: "broadcast ADVERTISE every `SECONDS` (1-65535), 0 for never"},
		&ucli.StringFlag{Name: "advertise-to", Category: catGateway, DefaultText: "255.255.255.255:PORT of --listen",
			Usage: "send ADVERTISE to `HOST:PORT` (a broadcast or multicast address)"},
		&ucli.StringFlag{Name: "predefined", TakesFile: true, Category: catGateway,
			Usage: "read predefined topic ids from `FILE`: lines CLIENTID,TOPIC,ID (* for every client)"},
		&ucli.IntFlag{Name: "retry-interval", Value: 10, Category: catGateway,
			Usage: "resend an unacknowledged REGISTER, PUBLISH or PUBREL after `SECONDS` (T_RETRY)"},
		&ucli.IntFlag{Name: "max-retries", Value: 3, Category: catGateway,
			Usage: "a client that does not answer `N` retransmissions is lost (N_RETRY)"},
		&ucli.IntFlag{Name: "max-clients", Value: 100000, Category: catGateway,
			Usage: "refuse CONNECT beyond `N` clients (rejected: congestion)"},
		&ucli.BoolFlag{Name: "embedded", Category: catGateway,
			Usage: "run the broker in this process and attach the clients to it without a TCP hop; MQTT clients reach it on -h/-p (default localhost, 1883)"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catGateway,
			Usage: "log clients connecting and disconnecting (-d also logs every message dropped)"},
	}
	for _, f := range connFlags() {
		switch f := f.(type) {
		case *ucli.StringFlag:
			switch f.Name {
			case "id":
				f.Usage = "client `ID` of the gateway's own connection, which carries QoS -1 publishes (default mqtt-sn-gateway-GWID-qos-1)"
			case "id-prefix":
				f.Usage = "client id of the gateway's own connection: `PREFIX` followed by the process ID"
			case "session-expiry", "will-topic", "will-payload":
				f.Hidden = true
			}
		case *ucli.IntFlag:
			if f.Name == "keepalive" || f.Name == "qos" || f.Name == "will-qos" {
				f.Hidden = true
			}
		case *ucli.BoolFlag:
			switch f.Name {
			case "disable-clean-session", "will-retain":
				f.Hidden = true
			case "debug":
				f.Usage = "log every message dropped or refused, and why"
			}
		}
		flags = append(flags, f)
	}
	return &ucli.Command{
		Name:  "sn-gateway",
		Usage: "run an MQTT-SN gateway",
		Description: "Accepts MQTT-SN 1.2 clients over UDP and relays them to an MQTT broker named by the " +
			"connection options, exactly as in mqtt pub. The gateway is transparent: each MQTT-SN client gets its own " +
			"MQTT connection with its client id, will, clean session and keep alive. SIGINT and SIGTERM stop it cleanly.",
		Flags:  flags,
		Action: runSNGateway,
	}
}

// snGatewayNotApplicable are connection flags each MQTT-SN client's CONNECT decides: hidden
// from sn-gateway's help, and refused with a reason.
var snGatewayNotApplicable = []string{"keepalive", "qos", "disable-clean-session", "session-expiry",
	"will-topic", "will-payload", "will-qos", "will-retain"}

func runSNGateway(c *ucli.Context) error {
	if c.Args().Present() {
		return usageErrorf("unexpected argument %q", c.Args().First())
	}
	for _, f := range snGatewayNotApplicable {
		if c.IsSet(f) {
			return usageErrorf("%s does not apply to sn-gateway: each MQTT-SN client's CONNECT sets it", flagPair(f))
		}
	}
	embedded := c.Bool("embedded")
	if embedded {
		for _, f := range snEmbeddedIncompatible {
			if c.IsSet(f) {
				return usageErrorf("%s cannot be used with --embedded: the gateway attaches its clients to the broker in this process", flagPair(f))
			}
		}
	}
	o, err := connOptionsFrom(c)
	if err != nil {
		return err
	}
	if err := checkPropertyCommands(o.Properties, []string{"connect"}); err != nil {
		return err
	}
	listen := c.String("listen")
	if !strings.Contains(listen, ":") {
		listen = ":" + listen
	}
	_, portText, err := net.SplitHostPort(listen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 0 || port > 65535 {
		return usageErrorf("invalid --listen %q: expected [HOST:]PORT", c.String("listen"))
	}
	gwID := c.Int("gateway-id")
	if gwID < 0 || gwID > 255 {
		return usageErrorf("invalid --gateway-id %d: expected 0 to 255", gwID)
	}
	adv := c.Int("advertise-interval")
	if adv < 0 || adv > 65535 {
		return usageErrorf("invalid --advertise-interval %d: expected 0 (never) to 65535 seconds", adv)
	}
	for _, f := range []string{"retry-interval", "max-retries", "max-clients"} {
		if c.Int(f) < 1 {
			return usageErrorf("invalid --%s %d: expected at least 1", f, c.Int(f))
		}
	}
	co, err := clientOptions(o)
	if err != nil {
		return exitf(exitError, "%v", err)
	}
	gopts := sn.Options{
		GatewayID:         byte(gwID),
		AdvertiseInterval: time.Duration(adv) * time.Second,
		ProtocolVersion:   o.ProtocolVersion,
		Username:          o.Username, HasUsername: o.HasUsername,
		HasPassword:       o.HasPassword,
		ConnectProperties: co.ConnectProperties,
		QoSMinus1ClientID: o.ClientID,
		RetryInterval:     time.Duration(c.Int("retry-interval")) * time.Second,
		MaxRetries:        c.Int("max-retries"),
		MaxClients:        c.Int("max-clients"),
	}
	if o.HasPassword {
		gopts.Password = []byte(o.Password)
	}
	if adv > 0 {
		to := c.String("advertise-to")
		if to == "" {
			to = net.JoinHostPort("255.255.255.255", strconv.Itoa(port))
		}
		ap, err := netip.ParseAddrPort(to)
		if err != nil {
			ua, rerr := net.ResolveUDPAddr("udp", to)
			if rerr != nil {
				return usageErrorf("invalid --advertise-to %q: expected HOST:PORT", to)
			}
			ap = ua.AddrPort()
		}
		gopts.AdvertiseAddr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	} else if c.IsSet("advertise-to") {
		return usageErrorf("--advertise-to needs an --advertise-interval above 0")
	}
	if f := c.String("predefined"); f != "" {
		p, err := sn.LoadPredefined(f)
		if err != nil {
			var pe *sn.PredefinedError
			if errors.As(err, &pe) {
				return exitf(exitError, "--predefined %v", err)
			}
			return exitf(exitError, "--predefined: %v", err)
		}
		gopts.Predefined = p
	}

	errw := c.App.ErrWriter
	level := slog.LevelWarn
	switch {
	case o.Debug:
		level = slog.LevelDebug
	case c.Bool("verbose"):
		level = slog.LevelInfo
	case o.Quiet:
		level = slog.LevelError
	}
	logger := slog.New(newMosqHandler(errw, level))
	notice := newMosqHandler(errw, slog.LevelInfo)
	ctx, stop := signal.NotifyContext(contextOf(c), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var up sn.Upstream = &sn.NetUpstream{Dial: co}
	where := co.Server
	if embedded {
		b, err := startEmbeddedBroker(ctx, c, o, logger)
		if err != nil {
			return err
		}
		defer b.Close()
		up = &sn.BrokerUpstream{Broker: b, Listener: "mqttsn"}
		where = "in this process, MQTT on"
		for _, a := range b.Addrs() {
			where += " " + a.String()
		}
	}
	g, err := sn.New(gopts, up, logger)
	if err != nil {
		return exitf(exitError, "%v", err)
	}
	pc, err := sn.ListenUDP(ctx, listen)
	if err != nil {
		return exitf(exitError, "--listen %s: %v", c.String("listen"), err)
	}
	if err := g.Start(ctx, pc); err != nil {
		pc.Close()
		return exitf(exitError, "%v", err)
	}
	if !o.Quiet {
		notice.write(fmt.Sprintf("mqtt sn-gateway %s: MQTT-SN on udp %s, broker %s", currentBuild().Version, pc.LocalAddr(), where))
	}
	<-ctx.Done()
	if !o.Quiet {
		notice.write("mqtt sn-gateway terminating")
	}
	return g.Close()
}

// snEmbeddedIncompatible are connection flags that name a remote broker's transport or
// credentials, which --embedded does not dial.
var snEmbeddedIncompatible = []string{"url", "unix", "ws", "protocol-version", "username", "pw", "cafile", "capath",
	"cert", "key", "insecure", "tls-version", "tls-use-os-certs", "property"}

// startEmbeddedBroker starts `mqtt serve`'s default broker listening on -h/-p: local only
// (127.0.0.1 and ::1) unless -h names another address.
func startEmbeddedBroker(ctx context.Context, c *ucli.Context, o ConnOptions, logger *slog.Logger) (*broker.Broker, error) {
	opts, _ := config.Default().BrokerOptions()
	opts.Version = "mqtt version " + currentBuild().Version
	port := strconv.Itoa(o.Port)
	if c.IsSet("host") {
		opts.Listeners = []string{net.JoinHostPort(o.Host, port)}
	} else {
		opts.Listeners = dropUnavailableLoopback6([]string{net.JoinHostPort("127.0.0.1", port), net.JoinHostPort("::1", port)})
	}
	b, err := broker.New(opts, logger)
	if err != nil {
		return nil, exitf(exitError, "%v", err)
	}
	if err := b.Start(ctx); err != nil {
		b.Close()
		return nil, exitf(exitError, "%v", err)
	}
	return b, nil
}
