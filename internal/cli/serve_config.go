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
	"strings"
	"sync"
	"syscall"

	"github.com/mqttkit/mqtt/internal/broker"
	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/listener"
	ucli "github.com/urfave/cli/v2"
)

// serveConfig is `mqtt serve -c FILE`: internal/config reads the file, internal/listener opens
// its listeners, broker.FileAuth applies its password and ACL files, and this function only
// wires them together, logs, and handles signals.
func serveConfig(c *ucli.Context, path string) error {
	errw := c.App.ErrWriter
	refuse := func(err error) error {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(errw, "Error: %s\n", line)
		}
		return exitf(exitConfig, "")
	}
	if len(c.StringSlice("listen")) > 0 {
		return usageErrorf("--listen cannot be combined with -c: add a \"listener PORT [ADDRESS]\" line to %s", path)
	}
	ports := c.IntSlice("port")
	for _, p := range ports {
		if p < 1 || p > 65535 {
			return usageErrorf("-p %d: the port must be between 1 and 65535", p)
		}
	}

	cfg, warns, err := config.Load(path)
	if err != nil {
		return refuse(err)
	}
	warns = append(warns, cfg.UseCommandLinePorts(ports)...)
	opts, more := cfg.BrokerOptions()
	warns = append(warns, more...)
	secs, more, err := cfg.ListenerSecurity()
	warns = append(warns, more...)
	if err != nil {
		return refuse(err)
	}
	if c.Bool("test-config") {
		for _, w := range warns {
			fmt.Fprintf(errw, "Warning: %s\n", w)
		}
		fmt.Fprintf(c.App.Writer, "%s: configuration OK (%d listener%s)\n", path, len(cfg.Listeners), plural(len(cfg.Listeners)))
		return nil
	}

	sink, err := openLogSink(cfg, c.Bool("verbose"), c.App.Writer, errw)
	if err != nil {
		return refuse(err)
	}
	defer sink.Close()
	logger := slog.New(&mosqHandler{sink: sink})
	opts.Version = "mqtt version " + currentBuild().Version
	logger.Info(opts.Version + " starting")
	logger.Info("Config loaded from " + path + ".")
	for _, w := range warns {
		logger.Warn("Warning: " + w.String())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	lns, err := openListeners(ctx, cfg, logger)
	if err != nil {
		return refuse(err)
	}
	fa := broker.NewFileAuth(&broker.ListenerSecurity{Name: "unconfigured listener"}, logger)
	defer fa.Close()
	for i, ln := range lns {
		if ln == nil {
			continue
		}
		if err := fa.Bind(ln, secs[i]); err != nil {
			closeAll(lns)
			return refuse(err)
		}
	}
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			closeAll(lns)
			fmt.Fprintf(errw, "Error: pid_file: %v\n", err)
			return exitf(exitError, "")
		}
		defer os.Remove(cfg.PIDFile)
	}
	if _, set := cfg.IsSet("user"); set {
		// After the listeners (ports below 1024) and the files are open, as Mosquitto.
		if dropped, err := dropPrivileges(cfg.User); err != nil {
			closeAll(lns)
			fmt.Fprintf(errw, "Error: %v\n", err)
			return exitf(exitError, "")
		} else if dropped {
			logger.Info("Dropped privileges to user " + cfg.User + ".")
		}
	}

	opts.Authenticator = fa
	if fa.HasACL() {
		opts.Authorizer = fa // without an ACL, no check per delivery at all
	}
	b, err := broker.New(opts, logger)
	if err != nil {
		closeAll(lns)
		fmt.Fprintf(errw, "Error: %v\n", err)
		return exitf(exitError, "")
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = b.ServeListener(ctx, ln) // closes ln when ctx ends or the broker closes
		}()
	}
	logger.Info(opts.Version + " running")
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-hup:
			reloadSecurity(logger, fa, lns)
		}
	}
	logger.Info(opts.Version + " terminating")
	fa.Close()
	b.Close()
	wg.Wait()
	return nil
}

// openListeners opens every listener of cfg, in order. A listener marked Optional (the ::1
// half of local only mode on a host without IPv6) that cannot open is logged and left nil.
// Any other failure closes what was opened and names the listener.
func openListeners(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]net.Listener, error) {
	lns := make([]net.Listener, len(cfg.Listeners))
	opened := 0
	for i, l := range cfg.Listeners {
		spec := l.Spec()
		spec.Logger = logger
		ln, err := listener.Open(ctx, spec)
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
		logger.Info(openingMessage(l, ln))
	}
	if opened == 0 {
		return nil, errors.New("no listener could be opened")
	}
	return lns, nil
}

func openingMessage(l config.Listener, ln net.Listener) string {
	if l.UnixPath != "" {
		return "Opening unix listen socket on " + l.UnixPath + "."
	}
	kind := "ipv4"
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.To4() == nil {
		kind = "ipv6"
	}
	if l.Protocol == "websockets" {
		kind = "websockets (" + kind + ")"
	}
	msg := "Opening " + kind + " listen socket on " + ln.Addr().String()
	if l.TLS.Enabled() {
		msg += " with TLS"
	}
	return msg + "."
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// reloadSecurity is SIGHUP: the password and ACL files and the TLS certificates are read
// again; connections stay. A file that fails keeps its old contents in force.
func reloadSecurity(logger *slog.Logger, fa *broker.FileAuth, lns []net.Listener) {
	logger.Info("Reloading password and ACL files and TLS certificates (SIGHUP).")
	warns, err := fa.Reload()
	for _, w := range warns {
		logger.Warn("Warning: " + w.Error())
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			logger.Error("Error: reload failed, keeping the previous rules: " + line)
		}
	}
	for _, ln := range lns {
		r, ok := ln.(listener.Reloader)
		if !ok {
			continue
		}
		if err := r.Reload(); err != nil {
			logger.Error("Error: reloading the certificates of the listener on " + ln.Addr().String() + " failed, keeping the previous ones: " + err.Error())
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
