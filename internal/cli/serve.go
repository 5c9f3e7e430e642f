package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/sn"
	ucli "github.com/urfave/cli/v2"
)

// exitConfig is the exit code for a configuration the broker cannot use.
const exitConfig = 3

// exitPlugin is Mosquitto's exit code (MOSQ_ERR_UNKNOWN) for a plugin it cannot load; a
// configuration naming a plugin gets it too, so scripts and service managers see the same.
const exitPlugin = 13

// configExitCode is the exit code for a configuration error: exitPlugin when a plugin line is
// among the problems, exitConfig otherwise.
func configExitCode(err error) int {
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			if config.IsPlugin(e.Directive) {
				return exitPlugin
			}
		}
	}
	return exitConfig
}

// serveCommand is `mqtt serve` (and `mosquitto`): the broker.
func serveCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "serve",
		Usage: "run the MQTT broker",
		Description: "Runs the MQTT 3.1, 3.1.1 and 5.0 broker. Like Mosquitto 2, without a configuration file it " +
			"listens in local only mode: port 1883 (or each -p PORT) on 127.0.0.1 and ::1. Use --listen to " +
			"choose other addresses, e.g. --listen :1883 for all interfaces. SIGINT and SIGTERM stop it cleanly; " +
			"SIGHUP reloads the configuration's security and log settings, the password and ACL files and the TLS certificates. " +
			"With --data DIR (or persistence true in the configuration) retained messages, persistent sessions, their subscriptions " +
			"and queued messages survive a restart or a crash: each change is written as it happens, and a message that must be kept " +
			"is acknowledged only once it is on disk.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config-file", Aliases: []string{"c"}, TakesFile: true,
				Usage: "read the configuration from `FILE` (mosquitto.conf syntax)"},
			&ucli.BoolFlag{Name: "test-config",
				Usage: "with -c: check the configuration (and the certificate, password and ACL files it names), then exit 0, or 3 with the problems"},
			&ucli.IntSliceFlag{Name: "port", Aliases: []string{"p"},
				Usage: "listen on `PORT` on the loopback interfaces (repeatable; ignored when the configuration defines listeners)"},
			&ucli.StringSliceFlag{Name: "listen",
				Usage: "listen on `[HOST]:PORT` (repeatable; \":1883\" is every interface)"},
			&ucli.StringSliceFlag{Name: "sn-listen", Category: catSNServe,
				Usage: "also run an MQTT-SN 1.2 gateway inside the broker on UDP `[HOST:]PORT` (repeatable; a bare PORT is every interface)"},
			&ucli.IntFlag{Name: "sn-gateway-id", Value: 1, Category: catSNServe,
				Usage: "with --sn-listen: gateway id `N` (0-255) in ADVERTISE and GWINFO"},
			&ucli.IntFlag{Name: "sn-advertise-interval", Value: defaultAdvertiseInterval, Category: catSNServe,
				Usage: "with --sn-listen: send ADVERTISE every `SECONDS` (1-65535), 0 for never"},
			&ucli.StringFlag{Name: "sn-advertise-to", Category: catSNServe, DefaultText: "255.255.255.255:PORT; none on loopback",
				Usage: "with --sn-listen: send ADVERTISE to `HOST:PORT` (a broadcast or multicast address)"},
			&ucli.StringFlag{Name: "sn-predefined", TakesFile: true, Category: catSNServe,
				Usage: "with --sn-listen: read predefined topic ids from `FILE` (lines CLIENTID,TOPIC,ID; see mqtt-sn-gateway(1))"},
			&ucli.IntFlag{Name: "sn-retry-interval", Value: 10, Category: catSNServe,
				Usage: "with --sn-listen: resend an unacknowledged REGISTER, PUBLISH or PUBREL after `SECONDS` (T_RETRY)"},
			&ucli.IntFlag{Name: "sn-max-retries", Value: 3, Category: catSNServe,
				Usage: "with --sn-listen: a client that does not answer `N` retransmissions is lost (N_RETRY)"},
			&ucli.IntFlag{Name: "sn-max-clients", Value: 100000, Category: catSNServe,
				Usage: "with --sn-listen: refuse CONNECT beyond `N` clients per gateway (rejected: congestion)"},
			&ucli.IntFlag{Name: "sn-max-message-size", Category: catSNServe, DefaultText: "65507, what a UDP datagram holds",
				Usage: "with --sn-listen: drop messages to clients larger than `OCTETS` (16-65535)"},
			&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log everything (log_type all)"},
			&ucli.BoolFlag{Name: "daemon", Aliases: []string{"d"},
				Usage: "run in the background once the broker runs (pid_file records its process id); exits with the start's error if it fails"},
			&ucli.StringFlag{Name: "data", TakesFile: true,
				Usage: "keep retained messages and persistent sessions in `DIR` (created if missing), written as they change; with -c it turns persistence on there"},
			&ucli.BoolFlag{Name: "check",
				Usage: "verify the store of --data DIR (or of -c FILE's persistence settings) and print what it holds, then exit 0, or 1 naming what is wrong"},
		},
		Action: serveAction,
	}
}

func serveAction(c *ucli.Context) error {
	if c.Bool("daemon") && !setUpDaemonChild(c) && !c.Bool("test-config") {
		return daemonize(c)
	}
	errw := c.App.ErrWriter
	if f := c.String("config-file"); f != "" {
		return serveConfig(c, f)
	}
	if c.Bool("test-config") {
		return usageErrorf("--test-config needs -c FILE")
	}
	path := storePath(c, nil)
	if c.Bool("check") {
		return checkStore(path, c.App.Writer, errw)
	}
	// The defaults of an empty configuration file, so that `serve` and `serve -c` start the
	// same broker (Receive Maximum 20, no outbound topic aliases, ...).
	opts, _ := config.Default().BrokerOptions()
	opts.Listeners = broker.DefaultOptions().Listeners
	bn := bannerFor(c)
	opts.Version = bn.version
	localOnly := true
	var listeners []string
	for _, p := range c.IntSlice("port") {
		if p < 1 || p > 65535 {
			return usageErrorf("-p %d: the port must be between 1 and 65535", p)
		}
		ps := strconv.Itoa(p)
		listeners = append(listeners, net.JoinHostPort("127.0.0.1", ps), net.JoinHostPort("::1", ps))
	}
	for _, a := range c.StringSlice("listen") {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return usageErrorf("--listen %q: expected [HOST]:PORT", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return usageErrorf("--listen %q: the port must be between 0 and 65535", a)
		}
		if ip := net.ParseIP(host); host == "" || ip == nil || !ip.IsLoopback() {
			localOnly = false
		}
		listeners = append(listeners, a)
	}
	if len(listeners) > 0 {
		opts.Listeners = listeners
	}
	opts.Listeners = dropUnavailableLoopback6(opts.Listeners)
	var snAddrs []string
	for _, a := range c.StringSlice("sn-listen") {
		addr, err := snListenAddress("--sn-listen", a)
		if err != nil {
			return err
		}
		snAddrs = append(snAddrs, addr)
	}
	sns, err := snServeSettings(c)
	if err != nil {
		return err
	}

	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	handler := newMosqHandler(errw, level)
	defer func() { handler.sink().Close() }() // flushes buffered debug lines
	logger := slog.New(handler)
	notice := newMosqHandler(errw, slog.LevelInfo)
	say := func(msg string) { notice.write(msg) }

	say(opts.Version + " starting")
	if bn.mosquitto {
		say("Using default config.")
	}
	if localOnly {
		for _, l := range bn.localOnly() {
			say(l)
		}
	}
	if path != "" {
		st, err := openStore(path, false, "", slog.New(notice)) // opened before privileges are dropped
		if err != nil {
			return storeError(errw, err)
		}
		defer st.Close() // after b.Close: the sessions' last state goes in first
		opts.Store = st
	}
	b, err := broker.New(opts, logger)
	if err != nil {
		fmt.Fprintf(errw, "Error: %v\n", err)
		return exitf(exitError, "")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := b.Start(ctx); err != nil {
		b.Close()
		fmt.Fprintf(errw, "Error: %v\n", err)
		return exitf(exitError, "")
	}
	var gateways []*sn.Gateway
	for _, a := range snAddrs {
		l, err := openSNListener(ctx, a)
		if err == nil {
			var g *sn.Gateway
			o, note, oerr := sns.gatewayOptions(l.pc.LocalAddr().(*net.UDPAddr))
			if err = oerr; err == nil {
				g, err = startSNGateway(ctx, b, l, o, logger)
			}
			if err == nil {
				gateways = append(gateways, g)
				say("Opening MQTT-SN gateway socket on udp " + l.pc.LocalAddr().String() + ".")
				if note != "" {
					say("MQTT-SN gateway on udp " + l.pc.LocalAddr().String() + ": " + note + ".")
				}
				continue
			}
			l.Close()
		}
		closeGateways(gateways)
		b.Close()
		var ce *codeError
		if errors.As(err, &ce) {
			return err
		}
		fmt.Fprintf(errw, "Error: --sn-listen %s: %v\n", a, err)
		return exitf(exitError, "")
	}
	if _, err := dropPrivileges("", logger, say); err != nil { // as Mosquitto without a configuration
		closeGateways(gateways)
		b.Close()
		fmt.Fprintf(errw, "Error: %v\n", err)
		return exitf(exitError, "")
	}
	for _, a := range b.Addrs() {
		say(bn.listening(a))
	}
	defer memoryPolicy(opts.MemoryLimit)()
	daemonReady(c)
	say(opts.Version + " running")
	<-ctx.Done()
	say(opts.Version + " terminating")
	closeGateways(gateways)
	b.Close()
	return nil
}

// dropUnavailableLoopback6 removes ::1 listeners when the host has no
// IPv6 loopback (containers often lack it), as long as others remain.
func dropUnavailableLoopback6(addrs []string) []string {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err == nil {
		ln.Close()
		return addrs
	}
	var out []string
	for _, a := range addrs {
		if h, _, err := net.SplitHostPort(a); err == nil && h == "::1" {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return addrs
	}
	return out
}
