package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mqttkit/mqtt/internal/auth"
	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/internal/store"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/sn"
	ucli "github.com/urfave/cli/v2"
)

// serveConfig is `mqtt serve -c FILE`: internal/config reads the file, then runServe starts
// the broker as it does without -c.
func serveConfig(c *ucli.Context, path string) error {
	errw := c.App.ErrWriter
	if len(c.StringSlice("listen")) > 0 {
		return serveUsageErrorf("--listen cannot be combined with -c: add a \"listener PORT [ADDRESS]\" line to %s", path)
	}
	if len(c.StringSlice("sn-listen")) > 0 {
		return serveUsageErrorf("--sn-listen cannot be combined with -c: add \"listener PORT [ADDRESS]\" and \"protocol mqttsn\" lines to %s", path)
	}
	for _, f := range snServeFlags {
		if c.IsSet(f) {
			return serveUsageErrorf("--%s cannot be combined with -c: add an %s line after the \"protocol mqttsn\" listener in %s", f, strings.ReplaceAll(f, "-", "_"), path)
		}
	}
	ports := c.IntSlice("port")
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return serveUsageErrorf("-p %d: the port must be between 1 and 65535", p)
		}
	}

	cfg, warns, err := config.Load(path)
	if err != nil {
		return refuseConfig(errw, err)
	}
	if c.Bool("check") {
		return checkStore(storePath(c, cfg), c.App.Writer, errw)
	}
	warns = append(warns, cfg.UseCommandLinePorts(ports)...)
	return runServe(c, cfg, warns, path)
}

// refuseConfig prints a configuration's errors (one "Error:" line each) and returns the exit
// status they call for.
func refuseConfig(errw io.Writer, err error) error {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(errw, "Error: %s\n", line)
	}
	return exitf(configExitCode(err), "")
}

// runServe runs the broker cfg describes until SIGINT or SIGTERM: cfg read from path (-c), or
// the command line's (path ""). internal/listener opens its listeners, auth.FileAuth applies
// its password and ACL files, and this function wires them together, logs, and handles
// signals. Once the log is open, a failure to start is logged too (a log_dest file says why the
// broker is not running), and written to stderr as well when the log does not go there.
func runServe(c *ucli.Context, cfg *config.Config, warns []config.Warning, path string) error {
	errw := c.App.ErrWriter
	storeFile := storePath(c, cfg)
	opts, more := cfg.BrokerOptions()
	warns = append(warns, more...)
	secs, more, err := cfg.ListenerSecurity()
	warns = append(warns, more...)
	if err != nil {
		return refuseConfig(errw, err)
	}
	// The MQTT-SN gateways' settings (sn_* lines, or serve's --sn-* flags without -c),
	// checked against their listeners' addresses (the sockets' own once they are open).
	snFor := snConfigSettings
	if path == "" {
		s, err := snServeSettings(c)
		if err != nil {
			return err
		}
		snFor = func(config.Listener) snSettings { return s }
	}
	for _, l := range cfg.Listeners {
		if l.Protocol == "mqttsn" {
			if _, _, err := snFor(l).gatewayOptions(configUDPAddr(l)); err != nil {
				refuseConfig(errw, fmt.Errorf("%s: %s", l.Name(), strings.TrimPrefix(errText(err), "Error: ")))
				return exitf(snConfigExitCode(err), "")
			}
		}
	}
	out := logOutputs{stdout: c.App.Writer, stderr: errw}
	if c.Bool("test-config") {
		more, err := checkLogSink(cfg, out)
		if err != nil {
			return refuseConfig(errw, err)
		}
		// A listener address that does not resolve fails the start: it fails the check.
		if err := cfg.CheckAddresses(context.Background()); err != nil {
			return refuseConfig(errw, err)
		}
		for _, w := range append(warns, more...) {
			fmt.Fprintf(errw, "Warning: %s\n", w)
		}
		fmt.Fprintf(c.App.Writer, "%s: configuration OK (%d listener%s)\n", path, len(cfg.Listeners), plural(len(cfg.Listeners)))
		return nil
	}

	sink, more, err := openLogSink(cfg, c.Bool("verbose"), out)
	if err != nil {
		return refuseConfig(errw, err)
	}
	warns = append(warns, more...)
	handler := handlerFor(sink)
	defer func() { handler.sink().Close() }()
	logger := slog.New(handler)
	info := func(msg string) { logger.Info(msg, slog.String(broker.LogType, infoKind)) }
	// fail logs why the start failed and returns the exit status.
	fail := func(code int, err error) error {
		direct := !handler.sink().visible(errw, ltError)
		for _, line := range strings.Split(err.Error(), "\n") {
			logger.Error("Error: " + line)
			if direct {
				fmt.Fprintf(errw, "Error: %s\n", line)
			}
		}
		return exitf(code, "")
	}
	bn := bannerFor(c)
	opts.Version = bn.version
	info(opts.Version + " starting")
	if path != "" {
		info("Config loaded from " + path + ".")
	} else if bn.mosquitto {
		info("Using default config.")
	}
	reportWarnings(logger, handler.sink(), errw, warns)
	if cfg.LocalOnly {
		for _, l := range bn.localOnly() {
			logger.Warn(l) // log_type warning in Mosquitto, without "Warning:"
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// The same words as --test-config for an address that does not resolve, with FILE:LINE.
	if err := cfg.CheckAddresses(ctx); err != nil {
		return fail(configExitCode(err), err)
	}
	lns, err := openListeners(ctx, cfg, logger, bn)
	if err != nil {
		return fail(exitError, err) // as Mosquitto: 1 for a port in use
	}
	// The MQTT-SN gateways' options, with their predefined-topics files read before the
	// privileges are dropped, as the password and ACL files are.
	snOpts := make([]sn.Options, len(lns))
	for i, ln := range lns {
		if sl, ok := ln.(*snListener); ok {
			o, note, err := snFor(cfg.Listeners[i]).gatewayOptions(sl.pc.LocalAddr().(*net.UDPAddr))
			if err != nil {
				closeAll(lns)
				return fail(snConfigExitCode(err), fmt.Errorf("%s: %s", cfg.Listeners[i].Name(), strings.TrimPrefix(errText(err), "Error: ")))
			}
			if note != "" {
				logger.Info("MQTT-SN gateway on udp " + sl.pc.LocalAddr().String() + ": " + note + ".")
			}
			snOpts[i] = o
		}
	}
	fa := auth.NewFileAuth(&auth.ListenerSecurity{Name: "unconfigured listener"}, logger)
	defer fa.Close()
	if err := fa.Rebind(lns, secs); err != nil {
		closeAll(lns)
		return fail(exitConfig, err)
	}
	if cfg.PIDFile != "" {
		// No newline after the number, as Mosquitto writes it.
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			closeAll(lns)
			return fail(exitError, fmt.Errorf("pid_file: %w", err))
		}
		defer os.Remove(cfg.PIDFile)
	}
	var st *store.Store
	if storeFile != "" && path == "" {
		// Without a configuration there is no user line to keep root for a directory only
		// root may write: the store is opened before privileges are dropped.
		_, statErr := os.Stat(filepath.Dir(storeFile))
		made := errors.Is(statErr, fs.ErrNotExist) // store.Open makes the directory
		if st, err = openStore(storeFile, false, "", logger); err != nil {
			closeAll(lns)
			return fail(exitError, err)
		}
		defer st.Close() // after b.Close: the sessions' last state goes in first
		// Its files belong to the user the broker is about to run as, so that a later
		// start that opens the store after dropping privileges (with -c) can use it, and
		// so does a directory this start made: the broker writes there as that user
		// (the journal's restart, the compaction at the stop).
		if ch, err := chooseUser(geteuid(), "", user.Lookup); err == nil && ch.u != nil {
			chownStore(storeFile, made, ch.u, logger)
		}
	}
	// After the listeners (ports below 1024), the log and the password and ACL files are open,
	// as Mosquitto. Started as root without a user line, as Mosquitto, it drops to mqtt or
	// mosquitto.
	userLine := ""
	if _, set := cfg.IsSet("user"); set {
		userLine = cfg.User
	}
	runAs := ""
	// The pid file and the log files the start created belong to the user the broker runs
	// as, as Mosquitto's, which creates them after dropping privileges.
	own := append([]string(nil), handler.sink().created...)
	if cfg.PIDFile != "" {
		own = append(own, cfg.PIDFile)
	}
	// So are the unix sockets (mode 0770), which Mosquitto binds as that user: else only
	// root could connect to them.
	for i, l := range cfg.Listeners {
		if l.UnixPath != "" && lns[i] != nil {
			own = append(own, l.UnixPath)
		}
	}
	if u, err := dropPrivileges(userLine, logger, info, own); err != nil {
		closeAll(lns)
		return fail(exitError, err)
	} else if u != nil {
		warnUnreadable(cfg, u, logger)
		runAs = u.Username
	}

	opts.Authenticator = fa
	if fa.HasACL() {
		opts.Authorizer = fa // without an ACL, no check per delivery at all
	}
	if storeFile != "" && st == nil {
		_, explicit := cfg.IsSet("persistence_file")
		if st, err = openStore(storeFile, explicit, runAs, logger); err != nil {
			closeAll(lns)
			return fail(exitError, err)
		}
		defer st.Close() // after b.Close: the sessions' last state goes in first
	}
	if st != nil {
		opts.Store = st
	}
	b, err := broker.New(opts, logger)
	if err != nil {
		closeAll(lns)
		return fail(exitError, err)
	}
	var wg sync.WaitGroup
	var gateways []*sn.Gateway
	for i, ln := range lns {
		if sl, ok := ln.(*snListener); ok {
			b.SetListenerConfig(broker.ListenerKey(sl.Addr()), cfg.Listeners[i].BrokerConfig())
			g, err := startSNGateway(ctx, b, sl, snOpts[i], logger)
			if err != nil {
				closeGateways(gateways)
				closeAll(lns)
				b.Close()
				wg.Wait()
				return fail(exitError, fmt.Errorf("MQTT-SN gateway on %s: %w", sl.Addr(), err))
			}
			gateways = append(gateways, g)
		}
	}
	for i, ln := range lns {
		if _, ok := ln.(*snListener); ln == nil || ok {
			continue
		}
		lc := cfg.Listeners[i].BrokerConfig()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.ServeListenerConfig(ctx, ln, lc) // closes ln when ctx ends or the broker closes
		}()
	}
	rl := &reloader{path: path, ports: c.IntSlice("port"), store: storeFile, data: c.String("data"), verbose: c.Bool("verbose"), stdout: c.App.Writer, stderr: errw,
		log: logger, info: info, handler: handler, fa: fa, lns: lns, cfg: cfg, opts: opts, acl: opts.Authorizer != nil}
	defer memoryPolicy(opts.MemoryLimit, func() int64 { return b.Stats().Connections })()
	daemonReady(c)
	info(opts.Version + " running")
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-hup:
			rl.reload()
		}
	}
	info(opts.Version + " terminating")
	closeGateways(gateways)
	fa.Close()
	b.Close()
	wg.Wait()
	return nil
}

// configUDPAddr is the address a "protocol mqttsn" listener will bind, for checking its
// settings before it is open: its address, or every interface.
func configUDPAddr(l config.Listener) *net.UDPAddr {
	a := &net.UDPAddr{IP: net.IPv6unspecified, Port: l.Port}
	if l.Address != "" {
		if ip := net.ParseIP(l.Address); ip != nil {
			a.IP = ip
		} else if ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(l.Address, "0")); err == nil {
			a.IP = ua.IP
		}
	}
	return a
}

// openListeners opens every listener of cfg, in order. A listener marked Optional (the ::1
// half of local only mode on a host without IPv6) that cannot open is logged and left nil.
// Any other failure closes what was opened and names the listener.
func openListeners(ctx context.Context, cfg *config.Config, logger *slog.Logger, bn banner) ([]net.Listener, error) {
	lns := make([]net.Listener, len(cfg.Listeners))
	opened := 0
	for i, l := range cfg.Listeners {
		spec := l.Spec()
		spec.Logger = logger
		var ln net.Listener
		var err error
		if l.Protocol == "mqttsn" {
			var sl *snListener
			if sl, err = openSNListener(ctx, spec.Address); err == nil {
				ln = sl
			} else {
				err = fmt.Errorf("%s: %w", l.Name(), err)
			}
		} else {
			ln, err = listener.Open(ctx, spec)
		}
		if err != nil {
			if l.Optional {
				logger.Warn("Warning: " + err.Error() + " (continuing without it)")
				continue
			}
			closeAll(lns)
			return nil, err
		}
		lns[i] = ln
		opened++
		for _, line := range bn.opening(l, ln) {
			logger.Info(line, slog.String(broker.LogType, infoKind))
		}
	}
	if opened == 0 {
		return nil, errors.New("no listener could be opened")
	}
	return lns, nil
}

// reportWarnings logs the configuration's warnings and makes sure they reach the terminal at
// start whatever log_type and log_dest say (a file logging only debug lines would otherwise
// start without a word about an ignored bridge): when the log shows them on neither stderr nor
// stdout, they are written to stderr directly.
func reportWarnings(logger *slog.Logger, sink *logSink, stderr io.Writer, warns []config.Warning) {
	direct := !sink.visible(stderr, ltWarning)
	for _, w := range warns {
		logger.Warn("Warning: " + w.String())
		if direct {
			fmt.Fprintf(stderr, "Warning: %s\n", w)
		}
	}
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// reloader is SIGHUP. Like Mosquitto it reads the configuration file again, then:
//   - the password and ACL files (and password_file, acl_file, allow_anonymous,
//     use_identity_as_username if they changed) apply to new connections and to every later
//     publish, subscribe and delivery, without dropping a connection;
//   - TLS certificates and keys are read again for new handshakes;
//   - log_dest, log_type, log_timestamp(_format) and connection_messages take effect;
//   - other changes (listeners, limits) need a restart, and the log says so.
//
// If the file or a password/ACL file it names does not load, the running rules stay and the
// log gives FILE:LINE.
type reloader struct {
	path           string // "" without a configuration file: nothing to read again
	info           func(string)
	ports          []int
	verbose        bool
	stdout, stderr io.Writer
	log            *slog.Logger
	handler        *mosqHandler
	fa             *auth.FileAuth
	lns            []net.Listener
	cfg            *config.Config
	opts           broker.Options
	acl            bool   // the broker runs with the ACL Authorizer
	store          string // the store's file, "" without persistence
	data           string // --data
}

func (r *reloader) reload() {
	r.info("Reloading config.") // Mosquitto's words, with or without a configuration file
	defer r.reloadCertificates()
	if r.path == "" {
		return // started without -c: there is nothing to read again
	}
	fail := func(what string, err error) {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.log.Error("Error: " + what + ", keeping the previous rules: " + line)
		}
	}
	cfg, _, err := config.Load(r.path)
	if err != nil {
		fail("reload failed", err)
		return
	}
	cfg.UseCommandLinePorts(r.ports)
	secs, warns, err := cfg.ListenerSecurity()
	for _, w := range warns {
		r.log.Warn("Warning: " + w.String())
	}
	if err != nil {
		fail("reload failed", err)
		return
	}
	if !sameListeners(r.cfg, cfg) {
		r.log.Warn("Warning: the listeners changed in " + r.path + "; that needs a restart. Password and ACL settings are applied to the running listeners only if their number is unchanged.")
		if len(cfg.Listeners) != len(r.lns) {
			return
		}
	}
	if opts, _ := cfg.BrokerOptions(); !reflect.DeepEqual(withoutHooks(opts), withoutHooks(r.opts)) {
		r.log.Warn("Warning: broker limits changed in " + r.path + "; they need a restart.")
	}
	now := cfg.StoreFile()
	if r.data != "" {
		now = cfg.StoreFileIn(r.data)
	}
	if now != r.store {
		r.log.Warn("Warning: the persistence settings changed in " + r.path + "; they need a restart.")
	}
	if err := r.fa.Rebind(r.lns, secs); err != nil {
		fail("reload failed", err)
		return
	}
	if r.fa.HasACL() && !r.acl {
		r.log.Warn("Warning: an acl_file was added; it needs a restart to apply.")
	}
	// A log file is opened again even when the settings did not change: logrotate moves the
	// file away and sends SIGHUP, and Mosquitto then writes to a new file at the configured path.
	if !sameLogging(r.cfg, cfg) || logsToFile(cfg) {
		if sink, warns, err := openLogSink(cfg, r.verbose, logOutputs{stdout: r.stdout, stderr: r.stderr}); err != nil {
			r.log.Error("Error: keeping the previous log settings: " + err.Error())
		} else {
			r.handler.swap(sink).Close()
			for _, w := range warns {
				r.log.Warn("Warning: " + w.String())
			}
		}
	}
	r.cfg = cfg
}

func (r *reloader) reloadCertificates() {
	for _, ln := range r.lns {
		rl, ok := ln.(listener.Reloader)
		if !ok {
			continue
		}
		if err := rl.Reload(); err != nil {
			r.log.Error("Error: reloading the certificates of the listener on " + ln.Addr().String() + " failed, keeping the previous ones: " + err.Error())
		}
	}
}

func withoutHooks(o broker.Options) broker.Options {
	o.Authenticator, o.Authorizer, o.Store, o.Version = nil, nil, nil, ""
	return o
}

func sameListeners(a, b *config.Config) bool {
	if len(a.Listeners) != len(b.Listeners) {
		return false
	}
	for i := range a.Listeners {
		sa, sb := a.Listeners[i].Spec(), b.Listeners[i].Spec()
		sa.Name, sb.Name = "", "" // names carry line numbers, which edits elsewhere shift
		if !reflect.DeepEqual(sa, sb) {
			return false
		}
		// An MQTT-SN gateway's sn_* settings also need a restart.
		ga, gb := a.Listeners[i].SN, b.Listeners[i].SN
		ga.Pos, gb.Pos = nil, nil
		if !reflect.DeepEqual(ga, gb) || len(a.Listeners[i].SN.Pos) != len(b.Listeners[i].SN.Pos) {
			return false
		}
	}
	return true
}

// logsToFile reports whether cfg has a log_dest file line.
func logsToFile(c *config.Config) bool {
	for _, d := range c.LogDest {
		if d.Kind == "file" {
			return true
		}
	}
	return false
}

func sameLogging(a, b *config.Config) bool {
	dests := func(c *config.Config) []config.LogDest {
		out := append([]config.LogDest(nil), c.LogDest...)
		for i := range out {
			out[i].Pos = config.Pos{} // edits elsewhere in the file shift line numbers
		}
		return out
	}
	return reflect.DeepEqual(dests(a), dests(b)) && reflect.DeepEqual(a.LogType, b.LogType) &&
		a.LogTimestamp == b.LogTimestamp && a.LogTimestampFormat == b.LogTimestampFormat &&
		a.ConnectionMessages == b.ConnectionMessages && a.LogFacility == b.LogFacility
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
