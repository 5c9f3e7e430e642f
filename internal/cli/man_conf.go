package cli

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/mqttkit/mqtt/internal/config"
)

// mqtt.conf(5) is generated from internal/config's directive table plus the prose below, so a
// directive added to the table without a description here fails `make gen` (and the drift
// test) instead of going undocumented. Directives the parser honours need a hand-written entry;
// those it ignores or refuses are listed with the table's own note, grouped by that note.

// confEntry documents one directive: its arguments as written in the file and what it does.
type confEntry struct {
	name, args, text string
}

// confSection is one section of mqtt.conf(5).
type confSection struct {
	title, intro string
	entries      []confEntry
}

var confSections = []confSection{
	{title: "GENERAL", entries: []confEntry{
		{"per_listener_settings", "true|false", "When true, the authentication settings (allow_anonymous, password_file, acl_file, allow_zero_length_clientid, auto_id_prefix, psk_file, auth_plugin) apply to the listener they follow instead of to every listener. Must come before any of them. Default: false."},
		{"include_dir", "DIR", "Reads every file ending in .conf in DIR, in name order, as if it were written here. Only honoured in the main configuration file, as in Mosquitto."},
		{"pid_file", "FILE", "Writes the broker's process id to FILE (without a newline, as Mosquitto) and removes it at exit where the user it runs as may. It is written before privileges are dropped, so it may be in a directory only root may write, and then given to the user the broker runs as, as Mosquitto's is."},
		{"user", "NAME", "The user the broker switches to when started as root, once its listeners, log files, password and ACL files are open (so ports below 1024 and root-only files work). Without a user line, as Mosquitto 2.0 switches to mosquitto, the broker switches to mqtt (the user its packages create) or else mosquitto, or else nobody; the log names the user. user root keeps root, with a warning. Files that SIGHUP reads again must be readable by that user: the log warns about those that are not."},
		{"sys_interval", "SECONDS", "How often the $SYS/broker/... topics are published. 0 disables them. Default: 10."},
		{"set_tcp_nodelay", "true|false", "Disables Nagle's algorithm on client sockets, lowering latency for small messages at some cost in bandwidth. Default: false."},
		{"check_retain_source", "true|false", "With an ACL, checks that the client which published a retained message may still write to its topic before the message is sent to a new subscriber. Default: true."},
		{"upgrade_outgoing_qos", "true|false", "Delivers messages at the subscription's QoS even when it is higher than the published QoS, against the MQTT specification. Default: false."},
		{"topic_alias_outbound", "true|false", "Lets the broker replace the topic of messages it sends to an MQTT 5 client by a topic alias, when the client allows aliases (Topic Alias Maximum in its CONNECT); saves bandwidth on long topics. Not a Mosquitto directive: Mosquitto never sends topic aliases. Default: false, because some clients announce a Topic Alias Maximum but never resolve the aliases they receive (paho-mqtt 2.1 for Python, and aiomqtt on it): their applications would see messages with an empty topic."},
		{"retain_available", "true|false", "When false, retained messages are not supported: a client that publishes one is disconnected (MQTT 5 clients are told so in CONNACK). Default: true."},
	}},
	{title: "LISTENERS", intro: "Without any listener, and without -p on the command line, the broker starts in local only mode, " +
		"as Mosquitto 2 does: port 1883 on 127.0.0.1 and ::1, anonymous clients allowed. Each listener line starts a block: the " +
		"directives below it, up to the next listener line, configure that listener. Once any listener is configured, " +
		"allow_anonymous defaults to false.",
		entries: []confEntry{
			{"listener", "PORT [ADDRESS]", "Listens on PORT, on every interface or only on ADDRESS (an IP address or host name; a host name is looked up at start, and one that does not resolve stops the start, and mqtt serve --test-config, with exit status 1). With PORT 0 and ADDRESS a path, listens on that unix socket: the socket file is mode 0770 and, when the broker starts as root, belongs to the user it drops to (see user) and that user's group, as Mosquitto's, so that user and the members of its group can connect. May be given more than once."},
			{"protocol", "mqtt|websockets|mqttsn", "The listener's transport: plain MQTT over TCP, MQTT over WebSockets (RFC 6455, subprotocol mqtt), or mqttsn: an MQTT-SN 1.2 gateway on this UDP port, inside the broker (no TCP hop; see mqtt-sn-gateway(1) for what it does). An mqttsn listener takes the listener's password_file, acl_file and allow_anonymous (MQTT-SN clients have no user name, so allow_anonymous must be true for them to connect), mount_point, max_connections (the clients its gateway holds) and the sn_* directives below; TLS and bind_interface do not apply. It may share its port number with a TCP listener; the broker's log names it PORT/udp. Default: mqtt."},
			{"socket_domain", "ipv4|ipv6", "Listens only on IPv4 or only on IPv6 addresses. Default: both."},
			{"bind_interface", "NAME", "Listens only on the addresses of the network interface NAME (e.g. eth0)."},
			{"max_connections", "COUNT", "Refuses new connections on this listener while COUNT clients are connected to it. -1 means no limit; 0 and numbers below -1 are refused (Mosquitto reads any negative number as no limit). Default: -1."},
			{"max_qos", "0|1|2", "The highest QoS clients may use; MQTT 5 clients are told in CONNACK. Default: 2."},
			{"maximum_qos", "0|1|2", "Another spelling of max_qos, which Mosquitto 2.0 accepts too."},
			{"max_topic_alias", "COUNT", "The number of topic aliases an MQTT 5 client may use. Default: 10."},
			{"mount_point", "PREFIX", "Prefixes the topics of this listener's clients with PREFIX, separating them from other listeners' clients: PREFIX is added to the topics they publish and subscribe to, and taken off the topics delivered to them, so they see the topics they subscribed to (Mosquitto 2.0.11 leaves it on). PREFIX must not contain + or #."},
			{"use_username_as_clientid", "true|false", "Replaces each client's id by its username, so that one user cannot connect twice with different ids. Default: false."},
		}},
	{title: "MQTT-SN GATEWAYS", intro: "These directives configure the MQTT-SN gateway of the \"protocol mqttsn\" listener they follow, " +
		"as mqtt sn-gateway's options of the same names do (see mqtt-sn-gateway(1)); on another listener they are errors. " +
		"They are not Mosquitto directives.",
		entries: []confEntry{
			{"sn_gateway_id", "N", "The gateway id (0-255) in ADVERTISE and GWINFO. Default: 1."},
			{"sn_advertise_interval", "SECONDS", "Sends ADVERTISE every SECONDS (1-65535), 0 for never. Default: 900."},
			{"sn_advertise_to", "HOST:PORT", "Where ADVERTISE goes: a broadcast or multicast address the listener's socket can reach. Default: 255.255.255.255 on the listener's port; none for a listener on a loopback address (a broadcast there reaches no one) or an IPv6 address (IPv6 has no broadcast)."},
			{"sn_predefined", "FILE", "Reads predefined topic ids from FILE: lines CLIENTID,TOPIC,ID, * for every client (see mqtt-sn-gateway(1)). Read at start, before the broker drops its privileges."},
			{"sn_retry_interval", "SECONDS", "Resends an unacknowledged REGISTER, PUBLISH or PUBREL after SECONDS (T_RETRY, 1-3600). Default: 10."},
			{"sn_max_retries", "N", "A client that does not answer N retransmissions (1-100) is lost, and its will published (N_RETRY). Default: 3."},
			{"sn_max_message_size", "OCTETS", "Drops messages to clients larger than OCTETS (16-65535), MQTT-SN header included, for links that carry less, and those whose topic would need a REGISTER larger than that; they are acknowledged to the broker. Default: what one UDP datagram holds (65507 octets over IPv4)."},
		}},
	{title: "TLS", intro: "A listener speaks TLS when it has a certfile and a keyfile. These directives apply to the listener they follow. " +
		"Certificates, keys and CRLs are PEM files.",
		entries: []confEntry{
			{"certfile", "FILE", "The server certificate, followed by any intermediate certificates."},
			{"keyfile", "FILE", "The server's private key."},
			{"cafile", "FILE", "CA certificates that client certificates must chain to (with require_certificate)."},
			{"capath", "DIR", "A directory of CA certificates, used like cafile."},
			{"crlfile", "FILE", "A certificate revocation list checked against client certificates. Needs require_certificate."},
			{"require_certificate", "true|false", "Asks every client for a certificate signed by cafile or capath, and refuses the connection without one. Default: false."},
			{"use_identity_as_username", "true|false", "Uses the Common Name of the client's certificate (the first, if there are several) as its username; the password file is then not consulted, and a certificate without a Common Name is refused. Default: false."},
			{"use_subject_as_username", "true|false", "Uses the whole subject of the client's certificate as its username, exactly as Mosquitto writes it (OpenSSL's RFC 2253 form): the last RDN first, e.g. O=Home,CN=alice for /CN=alice/O=Home; + between the values of a multi-valued RDN; \\ before , + \" \\ < > ; and before a leading # or a leading or trailing space; control characters and each byte of a non-ASCII character as \\XX (M\\C3\\BCller). ACL user lines must name it so. Default: false."},
			{"tls_version", "tlsv1.1|tlsv1.2|tlsv1.3", "The lowest TLS version accepted. Default: tlsv1.2."},
			{"ciphers", "LIST", "The cipher suites allowed for TLS 1.2 and earlier, as an OpenSSL-style colon-separated list. Names Go's crypto/tls does not offer (the DHE suites of Mozilla's intermediate list, or unknown names) are left out with one warning naming them, as OpenSSL skips them silently; a list in which Go offers nothing, or that excludes (!NAME) a class Go does offer, stops the start."},
			{"tls_keyform", "pem", "The form of keyfile. Only pem is supported; engine is refused."},
		}},
	{title: "AUTHENTICATION AND ACCESS", intro: "These apply to every listener, or with per_listener_settings true to the listener they follow.",
		entries: []confEntry{
			{"allow_anonymous", "true|false", "Lets clients connect without a username. Default: false once a listener is configured, true in local only mode."},
			{"password_file", "FILE", "Checks usernames and passwords against FILE, in mosquitto_passwd's format (lines of user:$7$... or user:$6$...; see mqtt-passwd(1)). Clients not listed are refused. As in Mosquitto, a line that cannot be used (no colon, no user name, a plain-text password, a hash that does not decode) is skipped with a warning naming FILE:LINE, and a user listed twice gets the last usable entry; a file that cannot be opened stops the start (exit status 13)."},
			{"acl_file", "FILE", "Restricts what clients may publish and subscribe to, in Mosquitto's ACL format: topic [read|write|readwrite|deny] TOPIC lines, user NAME lines that start a user's rules, and pattern lines in which %u and %c stand for the username and client id."},
			{"allow_zero_length_clientid", "true|false", "Lets MQTT 3.1.1 and 5 clients connect with an empty client id; the broker assigns one. Default: true."},
			{"auto_id_prefix", "PREFIX", "Prefix of the client ids the broker assigns. Default: auto-."},
		}},
	{title: "LIMITS AND QUEUES", intro: "mqtt's broker chooses its queue and inflight limits by measurement, so that a burst a subscriber can absorb loses " +
		"no QoS 1 or 2 message; Mosquitto's defaults (20 and 1000) drop messages in that case. max_inflight_messages, " +
		"max_queued_messages and max_queued_bytes therefore override the broker's defaults only when the file sets them.",
		entries: []confEntry{
			{"max_inflight_messages", "COUNT", "QoS 1 and 2 messages sent to a client but not yet acknowledged, per client. 0 means no limit; 1 gives in-order delivery. " +
				"It is also the Receive Maximum announced to MQTT 5 clients in CONNACK, the QoS 2 messages a client may have unreleased at once; as in Mosquitto that defaults to 20."},
			{"max_inflight_bytes", "BYTES", "QoS 1 and 2 messages are sent to a client while fewer than BYTES of payload are unacknowledged, in addition to max_inflight_messages; a message larger than BYTES is sent alone. 0 means no limit. At most 1 GiB. Default: 0."},
			{"max_queued_messages", "COUNT", "Messages queued for a client beyond those in flight; further messages are dropped. Publishers to a client that is still reading are paused at half of it first, for up to half a second (see Queue limits in mqtt-serve(1)). 0 means no limit."},
			{"max_queued_bytes", "BYTES", "Like max_queued_messages, in bytes of payload and topic. 0 means no limit."},
			{"queue_qos0_messages", "true|false", "Queues QoS 0 messages for disconnected clients with persistent sessions, as QoS 1 and 2 messages are. Default: false."},
			{"memory_limit", "BYTES", "Bounds the memory of queued, inflight and retained messages across all clients. From 90% of it, QoS 0 messages for clients that are behind are dropped; at it, new messages are refused (MQTT 5 publishers get reason code 151, quota exceeded; an MQTT 3 QoS 1 or 2 publisher is disconnected without an acknowledgement, so it sends the message again; MQTT 3 QoS 0 messages are dropped), each episode logged once. One client's queue holds at most a quarter of the limit: what is over it is dropped for that client only. It also sets the Go runtime's soft memory limit, and memory the broker stops using goes back to the operating system within seconds. 0 means no limit. Default: 0."},
			{"message_size_limit", "BYTES", "The largest payload accepted; larger messages are dropped (MQTT 5 clients get reason code 131 for QoS 1 and 2). 0 means the protocol maximum, 268435455. Default: 0."},
			{"max_packet_size", "BYTES", "The largest packet accepted; clients sending larger ones are disconnected. MQTT 5 clients are told in CONNACK. At least 20. Default: the protocol maximum."},
			{"max_keepalive", "SECONDS", "The longest keep alive allowed. MQTT 5 clients asking for more (or for 0) are given this value as a Server Keep Alive; MQTT 3.1.1 clients cannot be told one, so they are accepted with the keep alive they asked for, as by Mosquitto 2.0.11. Default: 65535."},
		}},
	{title: "PERSISTENCE", intro: "Unlike Mosquitto, which saves its memory to disk every autosave_interval (a crash loses what it acknowledged since), " +
		"mqtt writes every change to its journal as it happens, and acknowledges a message that is retained or queued for a persistent session " +
		"(PUBACK, PUBREC) only once it is on disk; messages arriving together share one disk sync, and the journal is copied into the store file behind it. A store that cannot be read is reported " +
		"with the file and what is wrong, and the broker does not start; it is never discarded or overwritten. mqtt serve --check verifies one. " +
		"Expiry keeps counting while the broker is down: a session that was connected when the broker crashed counts its session expiry (and its will its delay) " +
		"from the broker's last sign of life, which the store records every 5 seconds. " +
		"When the disk is full, new messages that must be stored are refused (MQTT 5: reason code 151, quota exceeded; an MQTT 3.1.1 QoS 1 or 2 publisher is " +
		"disconnected without an acknowledgement, so that it sends the message again when it reconnects, and the log says so) while everything stored is kept and delivered. " +
		"Once a write has failed, such messages (retained ones, QoS 0 included, and QoS 1 or 2 ones for a persistent session) are refused before they reach any subscriber, " +
		"and one a second goes through to try the disk again; only a message that arrives as the failure happens may still be delivered to online subscribers, " +
		"or, if retained, served until the next restart, although its publisher was told it was refused.",
		entries: []confEntry{
			{"persistence", "true|false", "Keeps retained messages, persistent sessions (their subscriptions, queued and in-flight messages, " +
				"QoS 2 exchanges and pending wills) in persistence_location/persistence_file, so they survive a restart or a crash. mqtt serve --data DIR does the same. Default: false."},
			{"persistence_file", "NAME", "The file name of the store; its journal is NAME-journal beside it (16 MiB, written ahead of the store; keep the two together). A store file more than half free is compacted when the broker starts or stops, through a copy NAME.compact beside it (see mqtt serve --data). Default: mqtt.db (not Mosquitto's mosquitto.db: mqtt cannot read Mosquitto's format, and leaves that file alone)."},
			{"persistence_location", "DIR", "The directory of persistence_file, created if missing. Default: the current directory."},
			{"autosave_interval", "SECONDS", "Accepted for compatibility and not needed: every change is written as it happens. A note in the log says so."},
			{"autosave_on_changes", "true|false", "Accepted for compatibility and not needed, like autosave_interval."},
			{"persistent_client_expiration", "DURATION", "Removes persistent sessions of clients that have not reconnected within DURATION: a number with a unit, h (hours), d (days), w (weeks), m (months) or y (years), e.g. 14d. The time counts while the broker is stopped. Default: never."},
		}},
	{title: "LOGGING", entries: []confEntry{
		{"log_dest", "stderr|stdout|syslog|file PATH|topic|dlt|none", "Where log lines go. May be given more than once; the first replaces the default, stderr. topic and dlt are not supported yet and are warned about."},
		{"log_type", "TYPE", "What is logged: error, warning, notice, information, debug, subscribe, unsubscribe, websockets, none or all. May be given more than once; each type is a switch of its own, and each line is of the type Mosquitto gives it: connections and disconnections are notices, start, stop and listeners information, each filter subscribed to (\"ID QOS FILTER\") subscribe, each one unsubscribed from (\"ID FILTER\") unsubscribe, the packet trace debug. none turns off what earlier lines turned on. Default (also without -c): error, warning, notice and information. mqtt serve -v is log_type all, whatever the file says."},
		{"log_timestamp", "true|false", "Starts each log line with a timestamp. Default: true."},
		{"log_timestamp_format", "FORMAT", "The timestamp's strftime(3) format, e.g. %Y-%m-%dT%H:%M:%S. Default: seconds since the epoch."},
		{"log_facility", "0..7", "Logs to syslog facility local0 to local7 instead of daemon."},
		{"connection_messages", "true|false", "Logs each client's connection and disconnection, refused ones and takeovers included. Default: true."},
	}},
	{title: "DEPRECATED", intro: "Honoured, with a warning, as in Mosquitto 2.0.", entries: []confEntry{
		{"port", "PORT", "The port of the default listener. Use listener PORT instead."},
		{"bind_address", "ADDRESS", "The address of the default listener. Use listener PORT ADDRESS instead."},
		{"allow_duplicate_messages", "true|false", "No effect, as in Mosquitto 2.0. A client whose subscriptions overlap (a/# and a/b) gets each message once, with the highest QoS of the matching subscriptions and, in MQTT 5, all their subscription identifiers. Mosquitto 2.0.11 does that for MQTT 3.1.1 clients but sends an MQTT 5 client one copy per matching subscription (both are allowed by [MQTT-3.3.4-2]; see DIFFERENCES FROM MOSQUITTO in mqtt-serve(1))."},
	}},
	{title: "BRIDGES", intro: "A connection NAME line starts a bridge to another broker, configured by the bridge directives that follow it. " +
		"Bridges are not supported yet: the whole block is read and checked, then ignored with a warning.",
		entries: []confEntry{
			{"connection", "NAME", ""},
		}},
}

// confPrefixes are directive families the table matches by prefix, not by name.
var confPrefixes = []confEntry{
	{"auth_opt_", "NAME VALUE", "An option for the authentication plugin (auth_opt_NAME)."},
	{"plugin_opt_", "NAME VALUE", "An option for the plugin (plugin_opt_NAME)."},
}

// confStatusText says what the parser does with a directive that is not honoured.
func confStatusText(d config.Directive) string {
	note := d.Note
	if strings.HasPrefix(note, "is ") || strings.HasPrefix(note, "was ") || strings.HasPrefix(note, "configures ") {
		note = d.Name + " " + note
	}
	switch d.Status {
	case config.Ignored:
		// The table's notes end in "; ignored" for the warning; the status says it already.
		return "Ignored, with a warning: " + strings.Replace(note, "; ignored", "", 1) + "."
	case config.Refused:
		return "Refused (an error): " + note + "."
	case config.Pending:
		return "Read and checked, but " + strings.TrimPrefix(note, d.Name+" is ") + "; a warning says so."
	}
	return ""
}

// confTableCheck returns an error naming every directive of the table that mqtt.conf(5)
// would leave undocumented, and every described directive the table no longer has.
func confTableCheck() error {
	known := map[string]config.Directive{}
	for _, d := range config.Directives() {
		known[d.Name] = d
	}
	var problems []string
	described := map[string]bool{}
	for _, s := range confSections {
		for _, e := range s.entries {
			d, ok := known[e.name]
			switch {
			case !ok:
				problems = append(problems, e.name+" is described but is not a directive any more")
			case described[e.name]:
				problems = append(problems, e.name+" is described twice")
			case e.text == "" && (d.Status == config.Supported || d.Status == config.Deprecated):
				problems = append(problems, e.name+" is honoured but has no description")
			}
			described[e.name] = true
		}
	}
	for _, d := range config.Directives() {
		if !described[d.Name] && (d.Status == config.Supported || d.Status == config.Deprecated) {
			problems = append(problems, d.Name+" is honoured but has no description")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("mqtt.conf.5: edit confSections in internal/cli/man_conf.go:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func confItem(b *bytes.Buffer, name, args, text string) {
	fmt.Fprintf(b, ".TP\n\\fB%s\\fR", roff(name))
	if args != "" {
		fmt.Fprintf(b, " \\fI%s\\fR", roff(args))
	}
	fmt.Fprintf(b, "\n%s\n", roff(text))
}

// confPage renders mqtt.conf(5).
func confPage() ([]byte, error) {
	if err := confTableCheck(); err != nil {
		return nil, err
	}
	known := map[string]config.Directive{}
	for _, d := range config.Directives() {
		known[d.Name] = d
	}
	described := map[string]bool{}
	var b bytes.Buffer
	fmt.Fprintf(&b, ".\\\" %s\n", genHeader)
	b.WriteString(".TH MQTT.CONF 5 \"\" \"mqtt\" \"File Formats\"\n")
	b.WriteString(".SH NAME\nmqtt.conf \\- configuration file of the mqtt broker\n")
	b.WriteString(".SH SYNOPSIS\n.B /etc/mqtt/mqtt.conf\n")
	b.WriteString(".SH DESCRIPTION\n" + roff("mqtt serve -c FILE reads its configuration from FILE. The syntax and the directives are those of Mosquitto 2.0's "+
		"mosquitto.conf, so an existing Mosquitto configuration works unchanged.") + "\n")
	b.WriteString(".PP\n" + roff("Each line is a directive and its value, separated by spaces or tabs (Mosquitto 2.0 takes only spaces); lines starting with # are comments, and blank lines are ignored. "+
		"Boolean values are true or false.") + "\n")
	b.WriteString(".PP\n" + roff("Nothing in the file is silently ignored. An unknown directive or a bad value is an error naming the file and line "+
		"(mqtt.conf:12: unknown directive \"foo\"), and the broker does not start. Directives that mqtt reads but cannot honour yet "+
		"are warned about by name at start; those that cannot be honoured safely are errors. Each directive below says which.") + "\n")
	for _, s := range confSections {
		fmt.Fprintf(&b, ".SH %s\n", roff(s.title))
		if s.intro != "" {
			fmt.Fprintf(&b, "%s\n", roff(s.intro))
		}
		for _, e := range s.entries {
			described[e.name] = true
			text := e.text
			if st := confStatusText(known[e.name]); st != "" {
				text = strings.TrimSpace(text + " " + st)
			}
			confItem(&b, e.name, e.args, text)
		}
		if s.title == "BRIDGES" {
			// Every other directive that shares connection's note is a bridge directive.
			var names []string
			for _, d := range config.Directives() {
				if !described[d.Name] && d.Status == known["connection"].Status && d.Note == known["connection"].Note {
					names = append(names, `\fB`+roff(d.Name)+`\fR`)
					described[d.Name] = true
				}
			}
			fmt.Fprintf(&b, ".PP\nThe bridge directives: %s.\n", strings.Join(names, ", "))
		}
	}

	// The rest of the table, grouped by what the parser says about them.
	groups := map[string][]config.Directive{}
	var notes []string
	for _, d := range config.Directives() {
		if described[d.Name] {
			continue
		}
		key := confStatusText(config.Directive{Name: "\x00", Status: d.Status, Note: d.Note})
		if _, ok := groups[key]; !ok {
			notes = append(notes, key)
		}
		groups[key] = append(groups[key], d)
	}
	b.WriteString(".SH NOT SUPPORTED\n" + roff("Directives of Mosquitto 2.0 that mqtt reads and checks but does not honour, and those it refuses.") + "\n")
	for _, key := range notes {
		ds := groups[key]
		var names []string
		for _, d := range ds {
			names = append(names, `\fB`+roff(d.Name)+`\fR`)
		}
		// The note was written for one directive; name them all.
		text := roff(confStatusText(ds[0]))
		if len(ds) > 1 {
			text = roff(confStatusText(config.Directive{Name: "each", Status: ds[0].Status, Note: ds[0].Note}))
		}
		fmt.Fprintf(&b, ".TP\n%s\n%s\n", strings.Join(names, ", "), text)
	}
	for _, p := range confPrefixes {
		d := known["plugin"]
		confItem(&b, p.name+"*", p.args, p.text+" "+confStatusText(d))
	}

	b.WriteString(".SH EXAMPLE\n.EX\n" + roff(confExample) + ".EE\n")
	b.WriteString(".SH FILES\n.TP\n.I /etc/mqtt/mqtt.conf\n" + roff("The configuration the packaged systemd unit (mqtt.service) starts the broker with.") + "\n")
	b.WriteString(".SH SEE ALSO\n.BR mqtt (1),\n.BR mqtt\\-serve (1),\n.BR mqtt\\-passwd (1),\n.BR mosquitto.conf (5)\n")
	return b.Bytes(), nil
}

// confExample is the EXAMPLE section of mqtt.conf(5): a small, complete configuration.
const confExample = `# Plain MQTT on every interface, TLS on 8883, websockets on 8080.
per_listener_settings false
allow_anonymous false
password_file /etc/mqtt/passwd
acl_file /etc/mqtt/acl

listener 1883

listener 8883
certfile /etc/mqtt/certs/server.crt
keyfile /etc/mqtt/certs/server.key

listener 8080
protocol websockets

log_dest syslog
log_type error
log_type warning
`
