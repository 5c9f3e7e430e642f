package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/mqttkit/mqtt/mqtt/broker"
	ucli "github.com/urfave/cli/v2"
)

// exitConfig is the exit code for a configuration the broker cannot use.
const exitConfig = 3

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
			&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log everything (log_type all)"},
			&ucli.StringFlag{Name: "data", TakesFile: true,
				Usage: "keep retained messages and persistent sessions in `DIR` (created if missing), written as they change; with -c it turns persistence on there"},
			&ucli.BoolFlag{Name: "check",
				Usage: "verify the store of --data DIR (or of -c FILE's persistence settings) and print what it holds, then exit 0, or 1 naming what is wrong"},
		},
		Action: serveAction,
	}
}

func serveAction(c *ucli.Context) error {
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
	opts := broker.DefaultOptions()
	opts.Version = "mqtt version " + currentBuild().Version
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

	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	logger := slog.New(newMosqHandler(errw, level))
	notice := newMosqHandler(errw, slog.LevelInfo)
	say := func(msg string) { notice.write(msg) }

	say(opts.Version + " starting")
	if localOnly {
		say("Starting in local only mode. Connections will only be possible from clients running on this machine.")
	}
	if path != "" {
		st, err := openStore(path, false, slog.New(notice))
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
	for _, a := range b.Addrs() {
		say("Listening on " + a.String() + ".")
	}
	say(opts.Version + " running")
	<-ctx.Done()
	say(opts.Version + " terminating")
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
