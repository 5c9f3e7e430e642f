package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

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
		&ucli.BoolFlag{Name: "embedded", Category: catGateway,
			Usage: "run the broker in this process and attach the clients to it without a TCP hop; MQTT clients reach it on -h/-p (default localhost, 1883)"},
		&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Category: catGateway,
			Usage: "log clients connecting and disconnecting (-d also logs every message dropped)"},
	}
	flags = append(flags[:1], append(snSettingFlags("", catGateway, ""), flags[1:]...)...) // after --listen
	for _, f := range connFlags() {
		switch f := f.(type) {
		case *ucli.StringFlag:
			switch f.Name {
			case "id":
				f.Usage = "client `ID` of the gateway's own connection, which carries QoS -1 publishes (default mqtt-sn-gateway-GWID-qos-1- and 8 random hex digits)"
			case "id-prefix":
				f.Usage = "client id of the gateway's own connection: `PREFIX` followed by the process ID"
			case "session-expiry", "will-topic", "will-payload":
				f.Hidden = true
			}
		case *ucli.StringSliceFlag:
			if f.Name == "property" {
				f.Usage = "v5 property of the broker connections' CONNECT: connect `IDENT VALUE` or connect user-property NAME VALUE, e.g. -D connect receive-maximum 100; forces -V 5; repeatable"
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
	settings := snFlagSettings(c, "")
	if settings.advertiseInterval == 0 && c.IsSet("advertise-to") {
		return usageErrorf("--advertise-to needs an --advertise-interval above 0")
	}
	// Every setting is checked before the port is opened (against the address --listen
	// names), and again against the socket's own address once it is.
	host, _, _ := net.SplitHostPort(listen)
	pre := &net.UDPAddr{IP: net.IPv6unspecified, Port: port}
	if ip := net.ParseIP(host); ip != nil {
		pre.IP = ip
	} else if host == "localhost" {
		pre.IP = net.IPv4(127, 0, 0, 1)
	}
	if _, _, err := settings.gatewayOptions(pre); err != nil {
		return err
	}
	co, err := clientOptions(o)
	if err != nil {
		return exitf(exitError, "%v", err)
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

	pc, err := sn.ListenUDP(ctx, listen)
	if err != nil {
		return exitf(exitError, "--listen %s: %v", c.String("listen"), err)
	}
	gopts, note, err := settings.gatewayOptions(pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		pc.Close()
		return err
	}
	gopts.ProtocolVersion = o.ProtocolVersion
	gopts.Username, gopts.HasUsername = o.Username, o.HasUsername
	if o.HasPassword {
		gopts.HasPassword, gopts.Password = true, []byte(o.Password)
	}
	gopts.ConnectProperties = co.ConnectProperties
	gopts.QoSMinus1ClientID = o.ClientID

	var up sn.Upstream = &sn.NetUpstream{Dial: co}
	where := co.Server
	if embedded {
		b, err := startEmbeddedBroker(ctx, c, o, logger)
		if err != nil {
			pc.Close()
			return err
		}
		defer b.Close()
		// Its clients are "on port PORT/udp" in the broker's log, as serve's gateways'.
		up = &sn.BrokerUpstream{Broker: b, Listener: snListenerKey(pc)}
		where = "in this process, MQTT on"
		for _, a := range b.Addrs() {
			where += " " + a.String()
		}
	}
	g, err := sn.New(gopts, up, logger)
	if err != nil {
		pc.Close()
		return exitf(exitError, "%v", err)
	}
	if err := g.Start(ctx, pc); err != nil {
		pc.Close()
		return exitf(exitError, "%v", err)
	}
	if !o.Quiet {
		notice.write(fmt.Sprintf("mqtt sn-gateway %s: MQTT-SN on udp %s, broker %s", currentBuild().Version, pc.LocalAddr(), where))
		if note != "" {
			notice.write("mqtt sn-gateway: " + note + ".")
		}
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
