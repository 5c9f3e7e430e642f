// Package config reads Mosquitto 2.0 configuration files (mosquitto.conf(5)) into a plain data
// model, Config: the global settings plus one Listener per listener block, each carrying its own
// transport, TLS, limits and (with per_listener_settings) authentication settings.
//
// Every directive Mosquitto 2.0 knows is in one table (directives.go) with a status: honoured,
// warned about by name (for example bridges and TLS-PSK, which are not supported yet), or
// refused with an error (for example plugins and OpenSSL engines, which cannot be honoured and
// would be unsafe to ignore). A name that is not in the table is an error, so nothing in a file is ever
// silently ignored. Errors and warnings name the file and line: "mosquitto.conf:12: unknown
// directive "foo"".
//
// The package starts nothing: the caller maps a Config onto a broker (BrokerOptions) and opens
// one net.Listener per Listener (Listener.Spec with the listener package):
//
//	cfg, warnings, err := config.Load(path)
//	opts, more := cfg.BrokerOptions()
//	secs, more, err := cfg.ListenerSecurity() // loads password_file and acl_file
//	fa := auth.NewFileAuth(..., logger)
//	for i, l := range cfg.Listeners { ln, err := listener.Open(ctx, l.Spec()); fa.Bind(ln, secs[i]) ... }
//
// internal/cli's serve_config.go is that caller (`mqtt serve -c FILE`).
//
// Defaults are Mosquitto 2's, with one deliberate difference recorded in BrokerOptions: the
// queue and inflight limits (max_inflight_messages, max_queued_messages, max_queued_bytes) are
// passed to the broker only when the file sets them, because the broker's own defaults were
// chosen by measurement so that bursts a subscriber can absorb lose no QoS 1/2 messages.
package config
