package config

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// resolveTimeout bounds the look-up of one listener's host name.
const resolveTimeout = 10 * time.Second

// CheckAddresses looks up each listener's address that is a host name rather than an IP
// address, as opening the listener will, and returns an Errors naming the line of each that
// does not resolve (e.g. "listener 1883 300.1.2.3", which is no IP address and so is looked
// up as a host name). `mqtt serve --test-config` calls it so that it fails where the start
// would; the errors are Unusable (the line is well formed, what it names cannot be used), so
// the exit status is the start's, as Mosquitto's: 1. Not part of Parse: a SIGHUP reload does
// not reopen listeners, and a name server that is down for a moment must not stop it.
func (c *Config) CheckAddresses(ctx context.Context) error {
	var errs Errors
	for _, l := range c.Listeners {
		if l.UnixPath != "" || l.Address == "" {
			continue
		}
		if _, err := netip.ParseAddr(l.Address); err == nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		_, err := net.DefaultResolver.LookupHost(lctx, l.Address)
		cancel()
		if err == nil {
			continue
		}
		pos, directive := l.AddressPos, "listener"
		if pos == (Pos{}) {
			pos = l.Pos
		}
		if l.Default {
			directive = "bind_address"
		}
		msg := fmt.Sprintf("expected an IP address or a host name that resolves, got %q (%v)", l.Address, err)
		if pos.Line > 0 { // a file's line; a command-line listener's Pos names its flag
			msg = directive + ": " + msg
		}
		errs = append(errs, &Error{Pos: pos, Directive: directive, Msg: msg, Unusable: true})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
