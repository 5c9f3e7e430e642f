package config

import "sort"

// Status says what the parser does with a directive.
type Status int

const (
	// Supported directives are honoured.
	Supported Status = iota
	// Deprecated directives are honoured and warned about (Mosquitto deprecates them too).
	Deprecated
	// Pending directives are read, checked and kept in Config, but the broker does not apply
	// them yet: each use is warned about by name. When the broker supports one, map it in
	// BrokerOptions, give it a behavioural test and move it to Supported.
	Pending
	// Ignored directives are read and checked, then warned about by name: they have no
	// effect here (not supported yet, or meaningless outside Mosquitto's C libraries).
	Ignored
	// Refused directives are errors: they cannot be honoured and ignoring them would change
	// security or behaviour in a way the operator would not expect.
	Refused
)

func (s Status) String() string {
	switch s {
	case Supported:
		return "supported"
	case Deprecated:
		return "deprecated"
	case Pending:
		return "not applied yet"
	case Ignored:
		return "ignored"
	default:
		return "refused"
	}
}

// scope says what a directive configures.
type scope int

const (
	scopeGlobal   scope = iota
	scopeListener       // the current listener (or the default listener before the first one)
	scopeSecurity       // global, or the current listener's with per_listener_settings
	scopeBridge         // only valid after "connection NAME"
	scopePlugin         // only valid after "plugin"/"auth_plugin"
)

// Directive describes one Mosquitto 2.0 configuration directive.
type Directive struct {
	Name   string
	Status Status
	// Note explains a warning or refusal; it is part of the message.
	Note  string
	scope scope
}

const (
	noteBridge = "bridges are not supported yet; ignored"
	// notePlugin: a broker started without the plugin its file names would let in (or keep
	// out) other clients than the operator configured, so the line stops the start, as a
	// plugin Mosquitto cannot load does (exit status 13).
	notePlugin = "plugins are not supported yet: without the plugin the broker would authenticate clients other than as configured; remove the line, or use password_file and acl_file"
	notePSK    = "TLS-PSK is not supported yet (Go's crypto/tls has no PSK); ignored, so PSK clients cannot connect"
	noteEngine = "OpenSSL engines are not supported: keys must be PEM files"
)

// table lists every directive of Mosquitto 2.0 (mosquitto.conf(5) and src/conf.c).
// auth_opt_* and plugin_opt_* are prefixes, handled in lookup.
var table = func() map[string]Directive {
	t := map[string]Directive{}
	add := func(sc scope, st Status, note string, names ...string) {
		for _, n := range names {
			if _, dup := t[n]; dup {
				panic("config: directive listed twice: " + n)
			}
			t[n] = Directive{Name: n, Status: st, Note: note, scope: sc}
		}
	}
	// Honoured. Each has a behavioural test over a socket (directive_behaviour_test.go lists
	// them); TestEveryHonouredDirectiveHasBehaviourTest keeps it so.
	add(scopeGlobal, Supported, "",
		"per_listener_settings", "include_dir", "listener",
		"max_inflight_messages", "max_inflight_bytes", "max_queued_messages", "max_queued_bytes",
		"queue_qos0_messages", "memory_limit", "message_size_limit", "max_packet_size", "max_keepalive",
		"retain_available", "sys_interval", "persistent_client_expiration",
		"persistence", "persistence_file", "persistence_location",
		"log_dest", "log_type", "log_timestamp", "log_timestamp_format", "log_facility",
		"connection_messages", "pid_file", "user", "upgrade_outgoing_qos", "check_retain_source",
		"topic_alias_outbound") // ours: Mosquitto never sends topic aliases
	add(scopeListener, Supported, "",
		"protocol", "socket_domain", "bind_interface", "max_connections", "max_qos", "maximum_qos",
		"max_topic_alias", "mount_point", "use_username_as_clientid",
		"cafile", "capath", "certfile", "keyfile", "crlfile", "require_certificate",
		"use_identity_as_username", "use_subject_as_username", "tls_version", "ciphers",
		"tls_keyform") // "pem" only; "engine" is refused
	// Ours: the MQTT-SN gateway of a "protocol mqttsn" listener (mqtt sn-gateway's flags).
	add(scopeListener, Supported, "",
		"sn_gateway_id", "sn_advertise_interval", "sn_advertise_to", "sn_predefined",
		"sn_retry_interval", "sn_max_retries", "sn_max_message_size")

	add(scopeSecurity, Supported, "",
		"allow_anonymous", "password_file", "acl_file", "allow_zero_length_clientid", "auto_id_prefix")

	// Deprecated in Mosquitto 2.0, still honoured.
	add(scopeListener, Deprecated, "is deprecated; use \"listener PORT [ADDRESS]\"", "port", "bind_address")
	add(scopeGlobal, Deprecated, "is deprecated and has no effect (as in Mosquitto 2.0): a client whose subscriptions overlap gets each message once (Mosquitto 2.0 sends MQTT 5 clients one copy per matching subscription)", "allow_duplicate_messages")

	// Read and checked, but without effect: warned about by name.
	add(scopeGlobal, Ignored, "is not needed: every change is written to the store as it happens, and a message is acknowledged only once it is on disk (Mosquitto saves its memory every autosave_interval)",
		"autosave_interval", "autosave_on_changes")
	add(scopeGlobal, Ignored, "was removed from Mosquitto and has no effect", "retry_interval", "store_clean_interval")
	add(scopeGlobal, Ignored, "has no effect: client sockets always have Nagle's algorithm off (TCP_NODELAY), as with set_tcp_nodelay true; ignored", "set_tcp_nodelay")
	add(scopeGlobal, Ignored, "configures libwebsockets, which is not used here; ignored", "websockets_log_level", "websockets_headers_size")
	add(scopeListener, Ignored, "is not supported (websocket listeners serve MQTT only, no static files); ignored", "http_dir")
	add(scopeListener, Ignored, "is not configurable in Go's crypto/tls (its TLS 1.3 suites are fixed and all strong); ignored", "ciphers_tls1.3")
	add(scopeListener, Ignored, "is not needed: Go's crypto/tls uses ECDHE key exchange only, never DHE; ignored", "dhparamfile")
	add(scopeListener, Ignored, notePSK, "psk_hint")
	add(scopeSecurity, Ignored, notePSK, "psk_file")
	add(scopeSecurity, Refused, notePlugin, "auth_plugin", "plugin")
	add(scopePlugin, Refused, notePlugin, "auth_plugin_deny_special_chars")
	add(scopeGlobal, Ignored, noteBridge, "connection")
	add(scopeBridge, Ignored, noteBridge,
		"address", "addresses", "bridge_attempt_unsubscribe", "bridge_bind_address", "bridge_alpn",
		"bridge_cafile", "bridge_capath", "bridge_certfile", "bridge_keyfile", "bridge_identity",
		"bridge_psk", "bridge_insecure", "bridge_max_packet_size", "bridge_outgoing_retain",
		"bridge_protocol_version", "bridge_require_ocsp", "bridge_tls_version", "cleansession",
		"local_cleansession", "clientid", "remote_clientid", "local_clientid", "idle_timeout",
		"keepalive_interval", "local_password", "local_username", "notification_topic",
		"notifications", "notifications_local_only", "password", "remote_password", "username",
		"remote_username", "restart_timeout", "round_robin", "start_type", "threshold", "topic",
		"try_private")

	// Refused.
	add(scopeListener, Refused, noteEngine, "tls_engine", "tls_engine_kpass_sha1")
	add(scopeGlobal, Refused, "is not supported (deprecated in Mosquitto 2.0); restrict client ids with an ACL or a password file instead", "clientid_prefixes")
	return t
}()

// IsPlugin reports whether the directive name loads a plugin ("plugin", "auth_plugin"): the
// caller exits with Mosquitto's status for a plugin that cannot be loaded.
func IsPlugin(name string) bool { return name == "plugin" || name == "auth_plugin" }

// lookup finds a directive by name, including the auth_opt_*/plugin_opt_* prefixes.
func lookup(name string) (Directive, bool) {
	if d, ok := table[name]; ok {
		return d, true
	}
	for _, prefix := range []string{"auth_opt_", "plugin_opt_"} {
		if len(name) > len(prefix) && name[:len(prefix)] == prefix {
			return Directive{Name: name, Status: Refused, Note: notePlugin, scope: scopePlugin}, true
		}
	}
	return Directive{}, false
}

// Directives returns the table, sorted by name, for documentation and --test-config output.
func Directives() []Directive {
	out := make([]Directive, 0, len(table))
	for _, d := range table {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
