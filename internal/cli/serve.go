package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mqttkit/mqtt/internal/config"
	ucli "github.com/urfave/cli/v2"
)

// exitConfig is the exit code for a configuration the broker cannot use, and for a command
// line it cannot (Mosquitto's MOSQ_ERR_INVAL: mosquitto exits 3 for both).
const exitConfig = 3

// serveUsageErrorf reports a bad serve command line with Mosquitto's exit code, 3.
func serveUsageErrorf(format string, args ...any) error {
	return &codeError{code: exitConfig, msg: fmt.Sprintf(format, args...), hint: true}
}

// serveUsageError is the serve command's OnUsageError: the shared one (one line naming the
// flag), with Mosquitto's exit code for a bad command line, 3, instead of 1.
func serveUsageError(c *ucli.Context, err error, isSubcommand bool) error {
	err = onUsageError(c, err, isSubcommand)
	var ce *codeError
	if errors.As(err, &ce) && ce.code == exitError {
		ce.code = exitConfig
	}
	return err
}

// exitPlugin is Mosquitto's exit code (MOSQ_ERR_UNKNOWN) for a plugin it cannot load; a
// configuration naming a plugin gets it too, so scripts and service managers see the same.
const exitPlugin = 13

// configExitCode is the exit status for a configuration that cannot be used, Mosquitto 2.0.11's
// (checked by running it): exitPlugin when a plugin line is among the problems; otherwise
// exitConfig (3) for a bad line, which Mosquitto finds first while reading the file; if every
// line is right, exitPlugin (13, "Unable to open pwfile") when a password or ACL file cannot be
// opened, which it does next (an MQTT-SN predefined-topics file is treated alike: 13 when it
// cannot be opened, 3 for a bad line, see snConfigExitCode); and else 1 for a certificate, key or CRL that does not load,
// which it meets last, when it opens the listeners.
func configExitCode(err error) int {
	var es config.Errors
	if !errors.As(err, &es) {
		return exitConfig
	}
	bad, security := false, false
	for _, e := range es {
		switch {
		case config.IsPlugin(e.Directive):
			return exitPlugin
		case !e.Unusable:
			bad = true
		case e.Directive == "password_file" || e.Directive == "acl_file" || e.Directive == "sn_predefined":
			// sn_predefined too: a file the broker reads at start, as the others.
			security = true
		}
	}
	switch {
	case bad:
		return exitConfig
	case security:
		return exitPlugin
	}
	return exitError
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
			"is acknowledged only once it is on disk. The store file gives space back once more than half of it is free (queued messages " +
			"delivered or dropped, sessions expired): the broker rewrites it compactly as it starts or stops, through a copy beside it " +
			"(mqtt.db.compact, renamed over it when complete); without room for the copy it keeps the file as it is, with a warning.",
		Flags: withSNServeFlags([]ucli.Flag{
			&ucli.StringFlag{Name: "config-file", Aliases: []string{"c"}, TakesFile: true,
				Usage: "read the configuration from `FILE` (mosquitto.conf syntax)"},
			&ucli.BoolFlag{Name: "test-config",
				Usage: "with -c: check the configuration (the certificate, password and ACL files it names, and that its listeners' host names resolve), then exit 0, or with the start's exit status and the problems"},
			&ucli.IntSliceFlag{Name: "port", Aliases: []string{"p"},
				Usage: "listen on `PORT` on the loopback interfaces (repeatable; ignored when the configuration defines listeners)"},
			&ucli.StringSliceFlag{Name: "listen",
				Usage: "listen on `[HOST]:PORT` (repeatable; \":1883\" is every interface)"},
			&ucli.StringSliceFlag{Name: "sn-listen", Category: catSNServe,
				Usage: "also run an MQTT-SN 1.2 gateway inside the broker on UDP `[HOST:]PORT` (repeatable; a bare PORT is every interface)"},
			&ucli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log everything (log_type all)"},
			&ucli.BoolFlag{Name: "daemon", Aliases: []string{"d"},
				Usage: "run in the background once the broker runs (pid_file records its process id); exits with the start's error if it fails"},
			&ucli.StringFlag{Name: "data", TakesFile: true,
				Usage: "keep retained messages and persistent sessions in `DIR` (created if missing), written as they change; with -c it turns persistence on there (its file is compacted once more than half of it is free)"},
			&ucli.BoolFlag{Name: "check",
				Usage: "verify the store of --data DIR (or of -c FILE's persistence settings) and print what it holds, then exit 0, or 1 naming what is wrong"},
		}),
		Action:       serveAction,
		OnUsageError: serveUsageError,
	}
}

func serveAction(c *ucli.Context) error {
	if c.Bool("daemon") && !setUpDaemonChild(c) && !c.Bool("test-config") {
		return daemonize(c)
	}
	if c.Args().Present() {
		return serveUsageErrorf("unexpected argument %q (the configuration file is given with -c FILE)", c.Args().First())
	}
	if c.IsSet("data") && strings.TrimSpace(c.String("data")) == "" {
		// Not "no persistence": a script whose variable came out empty would run in memory.
		return serveUsageErrorf("--data: empty directory name")
	}
	if f := c.String("config-file"); f != "" {
		return serveConfig(c, f)
	}
	if c.Bool("test-config") {
		return serveUsageErrorf("--test-config needs -c FILE")
	}
	cfg, err := commandLineConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("check") {
		return checkStore(storePath(c, cfg), c.App.Writer, c.App.ErrWriter)
	}
	// The configuration of an empty file with the command line's listeners: `serve` and
	// `serve -c` start the same broker, log the same way (Mosquitto's default log_type) and
	// handle the same signals.
	return runServe(c, cfg, nil, "")
}

// commandLineConfig is the configuration of `mqtt serve` without -c: an empty file's (local
// only mode, anonymous clients allowed) with -p, --listen and --sn-listen applied.
func commandLineConfig(c *ucli.Context) (*config.Config, error) {
	cfg := config.Default()
	ports := c.IntSlice("port")
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return nil, serveUsageErrorf("-p %d: the port must be between 1 and 65535", p)
		}
	}
	cfg.UseCommandLinePorts(ports) // local only mode: each port on 127.0.0.1 and ::1
	var extra []config.Listener
	localOnly := true
	for _, a := range c.StringSlice("listen") {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, serveUsageErrorf("--listen %q: expected [HOST]:PORT", a)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, serveUsageErrorf("--listen %q: the port must be between 0 and 65535", a)
		}
		if ip := net.ParseIP(host); host == "" || ip == nil || !ip.IsLoopback() {
			localOnly = false
		}
		extra = append(extra, cfg.CommandLineListener("--listen "+a, host, n, "mqtt"))
	}
	if len(extra) > 0 && len(ports) == 0 {
		cfg.Listeners = nil // --listen replaces the default port 1883
	}
	for _, a := range c.StringSlice("sn-listen") {
		addr, err := snListenAddress("--sn-listen", a)
		if err != nil {
			var ce *codeError
			if errors.As(err, &ce) {
				ce.code = exitConfig // serve's usage errors exit 3
			}
			return nil, err
		}
		host, port, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(port)
		extra = append(extra, cfg.CommandLineListener("--sn-listen "+a, host, n, "mqttsn"))
	}
	if _, err := snServeSettings(c); err != nil {
		var ce *codeError
		if errors.As(err, &ce) {
			ce.code = exitConfig // serve's usage errors exit 3
		}
		return nil, err
	}
	cfg.Listeners = append(cfg.Listeners, extra...)
	cfg.LocalOnly = localOnly
	return cfg, nil
}

// dropUnavailableLoopback6 (for sn-gateway --embedded) removes ::1 listeners when the host has no
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
