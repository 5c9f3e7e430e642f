package config

import (
	"fmt"
	"os"
	"time"
)

// Pos is where something was written: a file name and a 1-based line number.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return "(default)"
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Error is a problem found in a configuration file. Its text is "FILE:LINE: message".
type Error struct {
	Pos       Pos
	Directive string // the directive concerned, if any
	Msg       string
	// Unusable marks a well-formed line naming a file that cannot be used: a password, ACL,
	// certificate, key or CRL file that cannot be opened, or a certificate or key that does
	// not load. Mosquitto meets these only when it opens the file, after reading the whole
	// configuration, and exits with another status than for a bad line (see mqtt-serve(1)).
	Unusable bool
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found in one parse, in file order; Parse and Load return it (never
// empty) so that `mqtt serve --test-config` can show them all at once.
type Errors []*Error

func (es Errors) Error() string {
	s := ""
	for i, e := range es {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

// Warning is a directive that was read but is not (fully) honoured, or is deprecated.
type Warning struct {
	Pos       Pos
	Directive string
	Msg       string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Security holds the authentication settings. Without per_listener_settings one set applies to
// every listener; with it each listener has its own. Listener.Security is always the effective set.
type Security struct {
	// AllowAnonymous lets clients connect without a username. Mosquitto 2 default: false once
	// any listener is configured, true in local-only mode (no listener, no port).
	AllowAnonymous bool
	// PasswordFile and ACLFile are paths, checked to exist when the file is read.
	PasswordFile string
	ACLFile      string
	// PasswordFilePos and ACLFilePos are where they were set.
	PasswordFilePos, ACLFilePos Pos
	// AllowZeroLengthClientID lets MQTT 3.1.1/5 clients send an empty client id. Default true.
	AllowZeroLengthClientID bool
	// AutoIDPrefix prefixes the ids assigned to such clients. Default "auto-".
	AutoIDPrefix string
}

// TLS holds a listener's certificate settings. TLS is on when CertFile is set.
type TLS struct {
	CAFile, CAPath     string
	CertFile, KeyFile  string
	CRLFile            string
	RequireCertificate bool
	// UseIdentityAsUsername uses the client certificate's CN as the username;
	// UseSubjectAsUsername uses its whole subject (RFC 2253, e.g. "CN=a,O=b").
	UseIdentityAsUsername bool
	UseSubjectAsUsername  bool
	// Version is the minimum TLS version: "", "tlsv1.1", "tlsv1.2" or "tlsv1.3".
	Version string
	// Ciphers is the OpenSSL-style list for TLS 1.2 and earlier (checked when read).
	Ciphers string
}

// Enabled reports whether the listener speaks TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Listener is one listener block ("listener PORT [ADDRESS]"), the deprecated default listener
// ("port"/"bind_address"), or one half of local-only mode.
type Listener struct {
	Pos Pos // the "listener" line, or the first directive that configured the default listener

	Port    int    // 1..65535; 0 for a unix socket
	Address string // bind address or host name; "" means all interfaces
	// AddressPos is the line that gave Address: the listener line, or bind_address.
	AddressPos Pos
	UnixPath   string // set for "listener 0 /path/to/socket"

	// Default marks the listener configured by "port"/"bind_address" or by listener settings
	// written before the first "listener" line; LocalOnly marks the two loopback listeners of
	// Mosquitto 2's local-only mode (no listener configured at all).
	Default   bool
	LocalOnly bool
	// Optional: failing to open it should be logged, not fatal (the ::1 half of local-only
	// mode on a host without IPv6).
	Optional bool

	Protocol      string // "mqtt" (default), "websockets", or "mqttsn" (an MQTT-SN gateway on this UDP port)
	SocketDomain  string // "", "ipv4" or "ipv6"
	BindInterface string // network interface whose addresses to bind

	MaxConnections        int // -1: unlimited (default)
	MaxQoS                int // 0..2, default 2
	MaxTopicAlias         int // default 10
	MountPoint            string
	UseUsernameAsClientID bool

	TLS      TLS
	Security Security

	// SN configures the MQTT-SN gateway of a "protocol mqttsn" listener (the sn_* lines;
	// max_connections bounds its clients).
	SN SNGateway
}

// SNGateway is what the sn_* directives of a "protocol mqttsn" listener set, with where each
// was set (Pos, by directive name); what is not set takes mqtt sn-gateway's default.
type SNGateway struct {
	GatewayID         int    // sn_gateway_id: 0..255
	AdvertiseInterval int    // sn_advertise_interval: seconds, 0 for never
	AdvertiseTo       string // sn_advertise_to: HOST:PORT
	Predefined        string // sn_predefined: a predefined-topics file
	RetryInterval     int    // sn_retry_interval: seconds
	MaxRetries        int    // sn_max_retries
	MaxMessageSize    int    // sn_max_message_size: octets
	Pos               map[string]Pos
}

// IsSet reports whether the sn_* directive name was given, and where.
func (g SNGateway) IsSet(name string) (Pos, bool) {
	p, ok := g.Pos[name]
	return p, ok
}

// Name is how messages refer to the listener, e.g. "listener 8883 (mosquitto.conf:12)".
func (l Listener) Name() string {
	return fmt.Sprintf("%s (%s)", l.label(), l.Pos)
}

// label is the listener without where it was written, e.g. "listener 8883 127.0.0.1", for
// messages that begin with that place already ("mosquitto.conf:12: listener 8883 ...").
func (l Listener) label() string {
	switch {
	case l.UnixPath != "":
		return fmt.Sprintf("listener 0 %s", l.UnixPath)
	case l.Address != "":
		return fmt.Sprintf("listener %d %s", l.Port, l.Address)
	default:
		return fmt.Sprintf("listener %d", l.Port)
	}
}

// LogDest is one log_dest line.
type LogDest struct {
	Kind string // "stderr", "stdout", "file", "syslog", "topic", "dlt" or "none"
	Path string // for "file"
	Pos  Pos    // the log_dest line
}

// Config is a whole configuration: global settings and listeners. Fields hold Mosquitto 2's
// defaults unless the file set them; IsSet tells which.
type Config struct {
	// File is the main configuration file's name.
	File string

	PerListenerSettings bool
	// Security is the global authentication settings (used by every listener unless
	// PerListenerSettings).
	Security Security
	// Listeners is never empty after a successful parse.
	Listeners []Listener
	// LocalOnly: no listener was configured, so Listeners are 127.0.0.1:1883 and [::1]:1883.
	LocalOnly bool

	MaxInflightMessages int // default 20; 0: no maximum
	MaxInflightBytes    int // default 0: no maximum
	MaxQueuedMessages   int // default 1000; 0: no maximum
	MaxQueuedBytes      int // default 0: no maximum
	QueueQoS0Messages   bool
	MessageSizeLimit    int   // payload bytes; 0: protocol maximum
	MemoryLimit         int64 // bytes of queued, inflight and retained messages; 0: none
	MaxPacketSize       int   // 0: protocol maximum
	MaxKeepalive        int   // default 65535
	RetainAvailable     bool
	UpgradeOutgoingQoS  bool
	CheckRetainSource   bool
	// TopicAliasOutbound lets the broker send topic aliases to MQTT 5 clients that allow them
	// (topic_alias_outbound, ours: Mosquitto never sends them). Default false: some clients
	// (paho-mqtt 2.1 for Python, aiomqtt) announce a Topic Alias Maximum but never resolve
	// the aliases they receive, so their applications would see empty topics.
	TopicAliasOutbound bool
	SysInterval        time.Duration // default 10s; 0 disables $SYS

	Persistence                bool
	PersistenceFile            string // default "mosquitto.db"
	PersistenceLocation        string
	AutosaveInterval           time.Duration // default 1800s
	AutosaveOnChanges          bool
	PersistentClientExpiration time.Duration // 0: never

	LogDest            []LogDest // default stderr
	LogType            []string  // default error, warning, notice, information
	LogTimestamp       bool      // default true
	LogTimestampFormat string
	LogFacility        int // -1: daemon (default); 0..7: local0..local7
	ConnectionMessages bool

	PIDFile string
	User    string // default "mosquitto"

	set map[string]Pos
}

// IsSet reports whether the file set the global directive name, and where.
func (c *Config) IsSet(name string) (Pos, bool) {
	p, ok := c.set[name]
	return p, ok
}

func defaultConfig(file string) *Config {
	return &Config{
		File: file,
		Security: Security{
			AllowZeroLengthClientID: true,
			AutoIDPrefix:            "auto-",
		},
		MaxInflightMessages: 20,
		MaxQueuedMessages:   1000,
		MaxKeepalive:        65535,
		RetainAvailable:     true,
		CheckRetainSource:   true,
		SysInterval:         10 * time.Second,
		PersistenceFile:     "mosquitto.db",
		AutosaveInterval:    1800 * time.Second,
		LogDest:             []LogDest{{Kind: "stderr"}},
		LogType:             []string{"error", "warning", "notice", "information"},
		LogTimestamp:        true,
		LogFacility:         -1,
		ConnectionMessages:  true,
		User:                "mosquitto",
		set:                 map[string]Pos{},
	}
}

func defaultListener() Listener {
	return Listener{Protocol: "mqtt", MaxConnections: -1, MaxQoS: 2, MaxTopicAlias: 10}
}

// CommandLineListener is a listener given on mqtt serve's command line (--listen, --sn-listen;
// named by flag in messages): Mosquitto's default listener settings and c's global security,
// on host:port ("" is every interface; port 0 any free port) with protocol "mqtt" or "mqttsn".
func (c *Config) CommandLineListener(flag, host string, port int, protocol string) Listener {
	l := defaultListener()
	l.Pos = Pos{File: flag}
	l.Port, l.Address, l.Protocol = port, host, protocol
	l.Security = c.Security
	return l
}

// Default returns the configuration of an empty file: Mosquitto 2's local only mode and
// defaults. `mqtt serve` without -c starts from it, so both start the same broker.
func Default() *Config {
	cfg, _, err := Parse("", nil)
	if err != nil { // an empty file has nothing to be wrong about
		panic("config: the empty configuration does not parse: " + err.Error())
	}
	return cfg
}

// Load reads and parses the configuration file at path (and the files its include_dir lines name).
func Load(path string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses data as the configuration file called name (used in messages; include_dir and
// the files the configuration names are read from disk). The error, if any, is an Errors.
func Parse(name string, data []byte) (*Config, []Warning, error) {
	p := newParser(name)
	p.parseFile(name, data, 0)
	p.finish()
	if len(p.errs) > 0 {
		return nil, p.warns, p.errs
	}
	return p.cfg, p.warns, nil
}
