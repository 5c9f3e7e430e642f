package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"
)

// This file is the ONE set of connection flags shared by pub, sub, bench and sn-gateway, as
// Mosquitto's client_shared.c is for its tools. Commands append connFlags() to their own flags
// and call connOptionsFrom in their Action.

// Flag categories, so --help groups the long list the way Mosquitto's man pages do.
const (
	catConnection = "Connection"
	catSession    = "Session and authentication"
	catTLS        = "TLS"
	catWill       = "Will"
	catV5         = "MQTT v5"
	catDebug      = "Diagnostics"
)

// Defaults and limits.
const (
	defaultPort      = 1883
	defaultTLSPort   = 8883
	defaultWSPort    = 80
	defaultWSSPort   = 443
	defaultWSPath    = "/mqtt"
	defaultKeepAlive = 60
	// SessionExpiryNever is the v5 Session Expiry Interval meaning "never expires".
	SessionExpiryNever = 4294967295
	maxVarInt          = 268435455
)

// Protocol versions as sent in CONNECT.
const (
	ProtocolV31  byte = 3
	ProtocolV311 byte = 4
	ProtocolV5   byte = 5
)

// propSep joins the words after -D into one argv word (see prepareArgs). NUL cannot occur in
// an argv word, which the OS passes as a C string, so the join is unambiguous.
const propSep = "\x00"

// connFlags returns new definitions of the connection flags.
func connFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "host", Aliases: []string{"h"}, Value: "localhost", Category: catConnection,
			Usage: "broker `HOST` to connect to"},
		&ucli.IntFlag{Name: "port", Aliases: []string{"p"}, Category: catConnection, DefaultText: "1883, 8883 with TLS",
			Usage: "broker `PORT`"},
		&ucli.StringFlag{Name: "url", Aliases: []string{"L"}, Category: catConnection,
			Usage: "connect to `URL` mqtt(s)://[user[:pass]@]host[:port]/topic or ws(s)://[user[:pass]@]host[:port][/path]; sets host, port, credentials and topic; an option given after it overrides what it set, one given before it is overridden"},
		&ucli.StringFlag{Name: "unix", Category: catConnection, TakesFile: true,
			Usage: "connect through the Unix socket at `PATH` instead of TCP"},
		&ucli.BoolFlag{Name: "ws", Category: catConnection,
			Usage: "use the WebSocket transport (default port 80, 443 with TLS; path /mqtt)"},
		&ucli.StringFlag{Name: "protocol-version", Aliases: []string{"V"}, Value: "311", Category: catConnection,
			Usage: "MQTT protocol version `5|311|31` (also mqttv5, mqttv311, mqttv31)"},
		&ucli.IntFlag{Name: "keepalive", Aliases: []string{"k"}, Value: defaultKeepAlive, Category: catConnection,
			Usage: "keep-alive interval in `SECONDS`, 0 disables it"},
		&ucli.IntFlag{Name: "qos", Aliases: []string{"q"}, Category: catConnection,
			Usage: "quality of service `0|1|2`"},

		&ucli.StringFlag{Name: "id", Aliases: []string{"i"}, Category: catSession,
			Usage: "client `ID` (default: assigned by the broker; cannot be combined with -I)"},
		&ucli.StringFlag{Name: "id-prefix", Aliases: []string{"I"}, Category: catSession,
			Usage: "client ID `PREFIX`, followed by the process ID"},
		&ucli.BoolFlag{Name: "disable-clean-session", Aliases: []string{"c"}, Category: catSession,
			Usage: "keep the session when disconnected (needs -i with MQTT v3.x)"},
		&ucli.StringFlag{Name: "session-expiry", Aliases: []string{"x"}, Category: catSession,
			DefaultText: "0; -1 with -c",
			Usage:       "v5 session expiry interval in `SECONDS`, -1, 4294967295 or ∞ for never"},
		&ucli.StringFlag{Name: "username", Aliases: []string{"u"}, Category: catSession,
			Usage: "`USERNAME` to authenticate with"},
		&ucli.StringFlag{Name: "pw", Aliases: []string{"P"}, Category: catSession,
			Usage: "`PASSWORD` to authenticate with (MQTT v3.x needs -u too)"},

		&ucli.StringFlag{Name: "will-topic", Category: catWill, Usage: "`TOPIC` of the will message"},
		&ucli.StringFlag{Name: "will-payload", Category: catWill, Usage: "`PAYLOAD` of the will message (default empty)"},
		&ucli.IntFlag{Name: "will-qos", Category: catWill, Usage: "QoS `0|1|2` of the will message"},
		&ucli.BoolFlag{Name: "will-retain", Category: catWill, Usage: "retain the will message"},

		&ucli.StringFlag{Name: "cafile", Category: catTLS, TakesFile: true,
			Usage: "trust the CA certificates in PEM `FILE` (enables TLS)"},
		&ucli.StringFlag{Name: "capath", Category: catTLS,
			Usage: "trust the CA certificates in `DIR` (enables TLS)"},
		&ucli.StringFlag{Name: "cert", Category: catTLS, TakesFile: true,
			Usage: "client certificate PEM `FILE` (needs --key)"},
		&ucli.StringFlag{Name: "key", Category: catTLS, TakesFile: true,
			Usage: "client private key PEM `FILE` (needs --cert)"},
		&ucli.BoolFlag{Name: "insecure", Category: catTLS,
			Usage: "do not verify the broker's certificate host name"},
		&ucli.StringFlag{Name: "tls-version", Category: catTLS, DefaultText: "tlsv1.2",
			Usage: "minimum TLS version `tlsv1.3|tlsv1.2|tlsv1.1`"},
		&ucli.BoolFlag{Name: "tls-use-os-certs", Category: catTLS,
			Usage: "trust the operating system's CA certificates (implied by mqtts:// or port 8883 without --cafile)"},

		&ucli.StringSliceFlag{Name: "property", Aliases: []string{"D"}, Category: catV5,
			Usage: "v5 property `CMD IDENT VALUE` or CMD user-property NAME VALUE, e.g. -D publish content-type text/plain; forces -V 5; repeatable"},

		&ucli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Category: catDebug, Usage: "print protocol debug messages"},
		&ucli.BoolFlag{Name: "quiet", Category: catDebug, Usage: "print no error or warning messages about the connection and the messages (argument errors are still printed)"},
	}
}

// mosquittoClientFlags are the connection flags only pub and sub have, as only Mosquitto's
// clients do: where the connection comes from (-A, --proxy), TCP_NODELAY, and the TLS
// options of OpenSSL's that Go can honour (--ciphers, --tls-alpn, --keyform pem) or must
// refuse by name (--psk, --tls-engine).
func mosquittoClientFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "bind-address", Aliases: []string{"A"}, Category: catConnection,
			Usage: "bind the outgoing socket to `ADDRESS` (a local host name or IP address)"},
		&ucli.BoolFlag{Name: "nodelay", Category: catConnection,
			Usage: "disable Nagle's algorithm (always the case: Go sets TCP_NODELAY on every connection)"},
		&ucli.StringFlag{Name: "proxy", Category: catConnection,
			Usage: "connect through the SOCKS5 proxy at `URL` socks5h://[user[:pass]@]host[:port] (port 1080 by default)"},
		&ucli.StringFlag{Name: "ciphers", Category: catTLS,
			Usage: "TLS 1.2 cipher suites, a colon-separated `LIST` of OpenSSL or IANA names (TLS 1.3's are not configurable)"},
		&ucli.StringFlag{Name: "tls-alpn", Category: catTLS,
			Usage: "offer the ALPN `PROTOCOL` in the TLS handshake"},
		&ucli.StringFlag{Name: "keyform", Category: catTLS,
			Usage: "format of --key: `pem` (engine is OpenSSL's and not supported)"},
		&ucli.StringFlag{Name: "tls-engine", Category: catTLS,
			Usage: "OpenSSL engine `ENGINE`: not supported (Go's crypto/tls has no engines)"},
		&ucli.StringFlag{Name: "tls-engine-kpass-sha1", Category: catTLS,
			Usage: "SHA1 of the engine key's password as `HEX`: not supported"},
		&ucli.StringFlag{Name: "psk", Category: catTLS,
			Usage: "TLS pre-shared key in `HEX`: not supported (Go's crypto/tls has no TLS-PSK)"},
		&ucli.StringFlag{Name: "psk-identity", Category: catTLS,
			Usage: "TLS-PSK `IDENTITY`: not supported"},
	}
}

// ConnOptions is the parsed, validated connection part of a client command line. It is plain
// data; the client package's options are built from it.
type ConnOptions struct {
	Host      string // host name or address; unused when Unix is set
	Port      int    // TCP port (1883, 8883 with TLS, 80/443 for WebSocket unless given)
	Unix      string // Unix socket path, or ""
	WebSocket bool   // WebSocket transport (--ws, ws:// or wss://)
	WSPath    string // HTTP path of the WebSocket endpoint
	URLTopic  string // topic from an mqtt(s):// URL's path, or ""
	// HasURLTopic: -L gave an mqtt(s):// URL, whose path is a topic (which may be empty).
	HasURLTopic bool

	ProtocolVersion byte   // ProtocolV31, ProtocolV311 or ProtocolV5
	KeepAlive       uint16 // seconds; 0 disables
	QoS             byte   // -q

	ClientID      string // -i, or -I prefix + PID; "" lets the broker assign one
	CleanSession  bool   // false with -c (Clean Start in v5)
	SessionExpiry uint32 // v5 Session Expiry Interval
	ExpirySet     bool   // -x was given (v5 only)

	Username    string
	HasUsername bool
	Password    string
	HasPassword bool

	Will *Will       // nil without --will-topic
	TLS  *TLSOptions // nil for plain TCP

	BindAddress string // -A: local address of the outgoing socket
	Proxy       *Proxy // --proxy, nil without

	Debug bool
	Quiet bool

	Properties []Property // -D, in command-line order
}

// Will is the will message from --will-*.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// TLSOptions is the TLS part of the command line.
type TLSOptions struct {
	CAFile     string
	CAPath     string
	CertFile   string
	KeyFile    string
	Insecure   bool   // skip the host name check
	MinVersion uint16 // crypto/tls version constant
	UseOSCerts bool   // trust the system roots (also when no CA was given)
	Ciphers    []uint16
	ALPN       []string
}

// Proxy is a SOCKS5 proxy from --proxy.
type Proxy struct {
	Addr     string // host:port
	Username string
	Password string
}

// Property is one -D/--property: an MQTT v5 property to send in the packet named by Command.
type Property struct {
	Command string // lower-case packet name as Mosquitto spells it: connect, publish, will, ...
	Name    string // identifier, e.g. "content-type", "user-property"
	ID      byte   // the spec's property identifier, e.g. 0x03 for content-type
	Key     string // user-property name; "" otherwise
	Value   string // the value as given (for binary properties, the bytes)
	Number  uint32 // the value of a numeric property
}

// Property value types, as in the spec's section 2.2.2.2.
const (
	propByte = iota
	propUint16
	propUint32
	propVarInt
	propString
	propBinary
	propPair
)

type propInfo struct {
	id       byte
	kind     int
	commands string // space-separated packets that may carry it
}

// propertyInfo describes a property identifier as Mosquitto's --property accepts it
// (MQTT 5.0 section 2.2.2.2, names with '-' between words).
func propertyInfo(name string) (propInfo, bool) {
	const all = "connect connack publish puback pubrec pubrel pubcomp subscribe suback unsubscribe unsuback disconnect auth will"
	switch strings.ToLower(name) {
	case "payload-format-indicator":
		return propInfo{0x01, propByte, "publish will"}, true
	case "message-expiry-interval":
		return propInfo{0x02, propUint32, "publish will"}, true
	case "content-type":
		return propInfo{0x03, propString, "publish will"}, true
	case "response-topic":
		return propInfo{0x08, propString, "publish will"}, true
	case "correlation-data":
		return propInfo{0x09, propBinary, "publish will"}, true
	case "subscription-identifier":
		return propInfo{0x0B, propVarInt, "publish subscribe"}, true
	case "session-expiry-interval":
		return propInfo{0x11, propUint32, "connect connack disconnect"}, true
	case "assigned-client-identifier":
		return propInfo{0x12, propString, "connack"}, true
	case "server-keep-alive":
		return propInfo{0x13, propUint16, "connack"}, true
	case "authentication-method":
		return propInfo{0x15, propString, "connect connack auth"}, true
	case "authentication-data":
		return propInfo{0x16, propBinary, "connect connack auth"}, true
	case "request-problem-information":
		return propInfo{0x17, propByte, "connect"}, true
	case "will-delay-interval":
		return propInfo{0x18, propUint32, "will"}, true
	case "request-response-information":
		return propInfo{0x19, propByte, "connect"}, true
	case "response-information":
		return propInfo{0x1A, propString, "connack"}, true
	case "server-reference":
		return propInfo{0x1C, propString, "connack disconnect"}, true
	case "reason-string":
		return propInfo{0x1F, propString, "connack puback pubrec pubrel pubcomp suback unsuback disconnect auth"}, true
	case "receive-maximum":
		return propInfo{0x21, propUint16, "connect connack"}, true
	case "topic-alias-maximum":
		return propInfo{0x22, propUint16, "connect connack"}, true
	case "topic-alias":
		return propInfo{0x23, propUint16, "publish"}, true
	case "maximum-qos":
		return propInfo{0x24, propByte, "connack"}, true
	case "retain-available":
		return propInfo{0x25, propByte, "connack"}, true
	case "user-property":
		return propInfo{0x26, propPair, all}, true
	case "maximum-packet-size":
		return propInfo{0x27, propUint32, "connect connack"}, true
	case "wildcard-subscription-available":
		return propInfo{0x28, propByte, "connack"}, true
	case "subscription-identifier-available":
		return propInfo{0x29, propByte, "connack"}, true
	case "shared-subscription-available":
		return propInfo{0x2A, propByte, "connack"}, true
	}
	return propInfo{}, false
}

// isPropertyCommand reports whether cmd names a packet (or "will") that -D accepts.
func isPropertyCommand(cmd string) bool {
	switch cmd {
	case "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
		"subscribe", "suback", "unsubscribe", "unsuback", "disconnect", "auth", "will":
		return true
	}
	return false
}

// Packets whose properties each tool sends, as Mosquitto's pub and sub accept them.
func pubPropertyCommands() []string {
	return []string{"connect", "publish", "pubrel", "disconnect", "auth", "will"}
}

func subPropertyCommands() []string {
	return []string{"connect", "puback", "pubrec", "pubcomp", "subscribe", "unsubscribe", "disconnect", "auth", "will"}
}

// checkPropertyCommands fails if a -D names a packet the tool never sends (allowed lists them).
func checkPropertyCommands(props []Property, allowed []string) error {
	for _, p := range props {
		ok := false
		for _, a := range allowed {
			if p.Command == a {
				ok = true
				break
			}
		}
		if !ok {
			return usageErrorf("-D/--property: this command sends no %s packet with properties (accepted: %s)",
				strings.ToUpper(p.Command), strings.Join(allowed, ", "))
		}
	}
	return nil
}

// parseProperty parses one -D value: the words after -D joined with propSep.
func parseProperty(joined string) (Property, error) {
	words := strings.Split(joined, propSep)
	if len(words) < 3 {
		return Property{}, usageErrorf("-D/--property needs CMD IDENT VALUE (or CMD user-property NAME VALUE), got %q",
			strings.Join(words, " "))
	}
	cmd := strings.ToLower(words[0])
	if !isPropertyCommand(cmd) {
		return Property{}, usageErrorf("-D/--property: invalid command %q (expected connect, publish, puback, pubrec, pubrel, pubcomp, subscribe, unsubscribe, disconnect, auth or will)", words[0])
	}
	name := strings.ToLower(words[1])
	info, ok := propertyInfo(name)
	if !ok {
		return Property{}, usageErrorf("-D/--property: invalid property name %q", words[1])
	}
	if !strings.Contains(" "+info.commands+" ", " "+cmd+" ") {
		return Property{}, usageErrorf("-D/--property: %s is not allowed in %s (allowed in: %s)",
			name, strings.ToUpper(cmd), strings.ToUpper(strings.ReplaceAll(info.commands, " ", ", ")))
	}
	p := Property{Command: cmd, Name: name, ID: info.id}
	if info.kind == propPair {
		if len(words) != 4 {
			return Property{}, usageErrorf("-D/--property %s user-property needs NAME VALUE", cmd)
		}
		p.Key, p.Value = words[2], words[3]
		if err := checkUTF8String("-D/--property user-property name", p.Key); err != nil {
			return Property{}, err
		}
		return p, checkUTF8String("-D/--property user-property value", p.Value)
	}
	if len(words) != 3 {
		return Property{}, usageErrorf("-D/--property %s %s takes one value, got %d", cmd, name, len(words)-2)
	}
	p.Value = words[2]
	var max uint64
	switch info.kind {
	case propByte:
		max = 255
	case propUint16:
		max = 65535
	case propUint32:
		max = 4294967295
	case propVarInt:
		max = maxVarInt
	case propString:
		return p, checkUTF8String("-D/--property "+name, p.Value)
	case propBinary:
		if len(p.Value) > 65535 {
			return Property{}, usageErrorf("-D/--property %s: value longer than 65535 bytes", name)
		}
		return p, nil
	}
	n, err := strconv.ParseUint(p.Value, 10, 64)
	if err != nil || n > max || (info.kind == propVarInt && n == 0) {
		min := 0
		if info.kind == propVarInt {
			min = 1
		}
		return Property{}, usageErrorf("-D/--property %s: value %q out of range (expected %d to %d)", name, p.Value, min, max)
	}
	p.Number = uint32(n)
	return p, checkConnectProperty(p)
}

// checkUTF8String checks an MQTT UTF-8 string: valid UTF-8, no NUL, at most 65535 bytes.
func checkUTF8String(what, s string) error {
	switch {
	case len(s) > 65535:
		return usageErrorf("%s is longer than 65535 bytes", what)
	case !utf8.ValidString(s):
		return usageErrorf("%s is not valid UTF-8", what)
	case strings.ContainsRune(s, 0):
		return usageErrorf("%s contains a NUL character", what)
	}
	return nil
}

// parseProtocolVersion accepts Mosquitto's spellings of -V.
func parseProtocolVersion(s string) (byte, bool) {
	switch strings.ToLower(s) {
	case "5", "mqttv5", "v5", "5.0":
		return ProtocolV5, true
	case "311", "mqttv311", "v311", "3.1.1":
		return ProtocolV311, true
	case "31", "mqttv31", "v31", "3.1":
		return ProtocolV31, true
	}
	return 0, false
}

// parseSessionExpiry parses -x as Mosquitto does (strtol with base 0): 0 to 4294967295
// seconds, -1 or ∞ for never (4294967295).
func parseSessionExpiry(s string) (uint32, error) {
	if s == "∞" {
		return SessionExpiryNever, nil
	}
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < -1 || n > SessionExpiryNever {
		return 0, usageErrorf("invalid -x/--session-expiry %q: expected 0 to 4294967294 seconds, or -1, 4294967295 or ∞ for never", s)
	}
	if n == -1 {
		return SessionExpiryNever, nil
	}
	return uint32(n), nil
}

// mosquittoChecks refuses what Mosquitto 2.0's pub and sub refuse before they connect, in
// their words: a keep alive under 5 seconds, an unparsable -x, a persistent session without
// a client id of its own, an empty client id.
func mosquittoChecks(c *ucli.Context) error {
	if c.IsSet("keepalive") {
		if k := c.Int("keepalive"); k < 5 || k > 65535 {
			return mosqUsage(c, "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n")
		}
	}
	const unset = -2
	expiry := int64(unset)
	if c.IsSet("session-expiry") {
		s := c.String("session-expiry")
		if s == "∞" {
			expiry = SessionExpiryNever
		} else {
			n, err := strconv.ParseInt(s, 0, 64)
			var ne *strconv.NumError
			switch {
			case errors.As(err, &ne) && ne.Err == strconv.ErrRange:
				return mosqUsage(c, "Error: session-expiry-interval out of range.\n")
			case err != nil:
				return mosqUsage(c, "Error: session-expiry-interval not a number.\n")
			case n < -1 || n > SessionExpiryNever:
				return mosqUsage(c, "Error: session-expiry-interval out of range.\n")
			case n == -1:
				n = SessionExpiryNever
			}
			expiry = n
		}
	}
	v, _ := parseProtocolVersion(c.String("protocol-version"))
	v5 := v == ProtocolV5 || len(c.StringSlice("property")) > 0
	clean := !c.Bool("disable-clean-session")
	id, prefix := c.IsSet("id"), c.IsSet("id-prefix")
	if v5 {
		if !clean && expiry == unset {
			expiry = SessionExpiryNever
		}
		if expiry == SessionExpiryNever && (prefix || !id) {
			return mosqUsage(c, "Error: You must provide a client id if you are using an infinite session expiry interval.")
		}
	} else if !clean && (prefix || !id) {
		return mosqUsage(c, "Error: You must provide a client id if you are using the -c option.")
	}
	// libmosquitto's mosquitto_new refuses these.
	if (id && c.String("id") == "") || (!clean && !id && !prefix) {
		return mosqError(c, exitError, "Error: Invalid id.")
	}
	return nil
}

// checkPublishTopic is the small check for a topic we publish to (the will's): non-empty,
// valid UTF-8, no wildcards.
func checkPublishTopic(flagName, t string) error {
	if t == "" {
		return usageErrorf("%s must not be empty", flagName)
	}
	if strings.ContainsAny(t, "+#") {
		return usageErrorf("%s %q must not contain + or #", flagName, t)
	}
	return checkUTF8String(flagName, t)
}

// connOptionsFrom reads and validates the connection flags. Every error names the flag.
func connOptionsFrom(c *ucli.Context) (ConnOptions, error) {
	o := ConnOptions{
		Host:         c.String("host"),
		Unix:         c.String("unix"),
		WebSocket:    c.Bool("ws"),
		CleanSession: !c.Bool("disable-clean-session"),
		Debug:        c.Bool("debug"),
		Quiet:        c.Bool("quiet"),
	}

	// Properties first: giving -D selects MQTT v5.
	for _, raw := range c.StringSlice("property") {
		p, err := parseProperty(raw)
		if err != nil {
			return o, err
		}
		o.Properties = append(o.Properties, p)
	}
	v, ok := parseProtocolVersion(c.String("protocol-version"))
	if !ok {
		return o, usageErrorf("invalid -V/--protocol-version %q: expected 5, 311, 31, mqttv5, mqttv311 or mqttv31", c.String("protocol-version"))
	}
	if len(o.Properties) > 0 {
		if c.IsSet("protocol-version") && v != ProtocolV5 {
			return o, usageErrorf("-D/--property needs MQTT v5, but -V/--protocol-version is %s", c.String("protocol-version"))
		}
		v = ProtocolV5
	}
	o.ProtocolVersion = v

	// Where to connect: -L sets host, port, credentials and topic. prepareArgs dropped the
	// options given before it that it overrides; those given after it override it here.
	scheme := ""
	o.Port = c.Int("port")
	portGiven := c.IsSet("port")
	if c.IsSet("url") {
		if c.IsSet("unix") {
			return o, usageErrorf("-L/--url cannot be combined with %s", flagPair("unix"))
		}
		u, err := url.Parse(c.String("url"))
		if err != nil {
			return o, usageErrorf("invalid -L/--url %q: %v", c.String("url"), err)
		}
		scheme = strings.ToLower(u.Scheme)
		switch scheme {
		case "mqtt", "mqtts":
			if !strings.HasPrefix(u.Path, "/") {
				return o, mosqUsage(c, "Error: Invalid URL for -L argument specified - topic missing.")
			}
			o.URLTopic, o.HasURLTopic = strings.TrimPrefix(u.Path, "/"), true
		case "ws", "wss":
			o.WebSocket = true
			o.WSPath = u.EscapedPath()
		default:
			return o, usageErrorf("invalid -L/--url %q: scheme must be mqtt, mqtts, ws or wss", c.String("url"))
		}
		if u.Hostname() == "" {
			return o, usageErrorf("invalid -L/--url %q: no host", c.String("url"))
		}
		if !c.IsSet("host") {
			o.Host = u.Hostname()
		}
		if ps := u.Port(); ps != "" && !c.IsSet("port") {
			n, err := strconv.Atoi(ps)
			if err != nil {
				return o, usageErrorf("invalid -L/--url %q: bad port %q", c.String("url"), ps)
			}
			o.Port, portGiven = n, true
		}
		if u.User != nil {
			o.Username, o.HasUsername = u.User.Username(), true
			o.Password, o.HasPassword = u.User.Password()
		}
	}
	if o.Unix != "" {
		for _, f := range []string{"host", "port", "ws"} {
			if c.IsSet(f) {
				return o, usageErrorf("--unix cannot be combined with %s", flagPair(f))
			}
		}
	}
	if c.IsSet("username") {
		o.Username, o.HasUsername = c.String("username"), true
	}
	if c.IsSet("pw") {
		o.Password, o.HasPassword = c.String("pw"), true
	}

	// TLS: any CA option, mqtts://, wss:// or port 8883 turns it on.
	tlsOn := scheme == "mqtts" || scheme == "wss" || c.IsSet("cafile") || c.IsSet("capath") ||
		c.IsSet("cert") || c.Bool("tls-use-os-certs") || (c.IsSet("port") && o.Port == defaultTLSPort)
	if tlsOn {
		t := &TLSOptions{
			CAFile: c.String("cafile"), CAPath: c.String("capath"),
			CertFile: c.String("cert"), KeyFile: c.String("key"),
			Insecure: c.Bool("insecure"), MinVersion: tls.VersionTLS12,
			UseOSCerts: c.Bool("tls-use-os-certs"),
		}
		if t.CAFile == "" && t.CAPath == "" {
			t.UseOSCerts = true
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			return o, usageErrorf("--cert and --key must be given together")
		}
		if c.IsSet("tls-version") {
			switch strings.ToLower(c.String("tls-version")) {
			case "tlsv1.3":
				t.MinVersion = tls.VersionTLS13
			case "tlsv1.2":
				t.MinVersion = tls.VersionTLS12
			case "tlsv1.1":
				t.MinVersion = tls.VersionTLS11
			default:
				return o, usageErrorf("invalid --tls-version %q: expected tlsv1.3, tlsv1.2 or tlsv1.1", c.String("tls-version"))
			}
		}
		if c.IsSet("ciphers") {
			suites, err := parseCiphers(c.String("ciphers"))
			if err != nil {
				return o, mosqError(c, exitError, "Error: --ciphers: %v", err)
			}
			t.Ciphers = suites
		}
		if c.IsSet("tls-alpn") {
			t.ALPN = []string{c.String("tls-alpn")}
		}
		o.TLS = t
	} else {
		for _, f := range []string{"key", "insecure", "tls-version", "ciphers", "tls-alpn"} {
			if c.IsSet(f) {
				return o, usageErrorf("--%s needs TLS: give --cafile, --capath, --tls-use-os-certs, an mqtts:// or wss:// URL, or -p 8883", f)
			}
		}
	}
	if o.TLS != nil && o.Unix != "" {
		return o, usageErrorf("--unix cannot be combined with TLS options")
	}
	if err := mosquittoClientOptions(c, &o); err != nil {
		return o, err
	}

	if !portGiven {
		switch {
		case o.WebSocket && o.TLS != nil:
			o.Port = defaultWSSPort
		case o.WebSocket:
			o.Port = defaultWSPort
		case o.TLS != nil:
			o.Port = defaultTLSPort
		default:
			o.Port = defaultPort
		}
	}
	if o.Port < 1 || o.Port > 65535 {
		return o, usageErrorf("invalid -p/--port %d: expected 1 to 65535", o.Port)
	}
	if o.WebSocket && o.WSPath == "" {
		o.WSPath = defaultWSPath
	}
	if o.Unix == "" && o.Host == "" {
		return o, usageErrorf("-h/--host must not be empty")
	}

	if k := c.Int("keepalive"); k < 0 || k > 65535 {
		return o, usageErrorf("invalid -k/--keepalive %d: expected 0 to 65535 seconds", k)
	} else {
		o.KeepAlive = uint16(k)
	}
	if q := c.Int("qos"); q == -1 && c.Bool("sn") {
		// MQTT-SN's QoS -1 (publish without connecting): the --sn paths read it from the flag.
	} else if q < 0 || q > 2 {
		return o, usageErrorf("invalid -q/--qos %d: QoS must be 0, 1 or 2", q)
	} else {
		o.QoS = byte(q)
	}

	// Client identity and session.
	if c.IsSet("id") && c.IsSet("id-prefix") {
		return o, usageErrorf("-i/--id and -I/--id-prefix cannot be combined")
	}
	if c.IsSet("id") {
		o.ClientID = c.String("id")
		if err := checkUTF8String("-i/--id", o.ClientID); err != nil {
			return o, err
		}
	}
	if c.IsSet("id-prefix") {
		o.ClientID = c.String("id-prefix") + strconv.Itoa(os.Getpid())
		if err := checkUTF8String("-I/--id-prefix", o.ClientID); err != nil {
			return o, err
		}
	}
	// MQTT 3.1 allows servers to refuse ids over 23 characters, and Mosquitto's
	// clients send them anyway: the broker decides.
	if o.ProtocolVersion == ProtocolV31 && (c.IsSet("id") || c.IsSet("id-prefix")) && o.ClientID == "" {
		return o, usageErrorf("%s: MQTT v3.1 needs a client ID", idFlag(c))
	}
	if !o.CleanSession && o.ClientID == "" && c.Bool("sn") {
		// pub --sn and sub --sn make up an id with the process id: a session kept under it
		// would never be used again.
		return o, usageErrorf("-c/--disable-clean-session needs a client ID (-i/--id or -I/--id-prefix) with MQTT-SN (--sn)")
	}
	if !o.CleanSession && o.ClientID == "" && o.ProtocolVersion != ProtocolV5 {
		return o, usageErrorf("-c/--disable-clean-session needs a client ID (-i/--id or -I/--id-prefix) with MQTT v3.x")
	}
	if c.IsSet("session-expiry") {
		// Parsed whatever the version, as Mosquitto does; only MQTT 5 sends it.
		n, err := parseSessionExpiry(c.String("session-expiry"))
		if err != nil {
			return o, err
		}
		if o.ProtocolVersion == ProtocolV5 {
			o.SessionExpiry, o.ExpirySet = n, true
		}
	} else if !o.CleanSession && o.ProtocolVersion == ProtocolV5 {
		o.SessionExpiry = SessionExpiryNever // as Mosquitto: -c alone keeps the session forever
	}

	// Credentials: MQTT v3.x cannot send a password without a user name [MQTT-3.1.2-22].
	if o.HasPassword && !o.HasUsername && o.ProtocolVersion != ProtocolV5 {
		return o, usageErrorf("-P/--pw needs -u/--username with MQTT v3.x")
	}
	if o.HasUsername {
		if err := checkUTF8String("-u/--username", o.Username); err != nil {
			return o, err
		}
	}

	// Will.
	if c.IsSet("will-topic") {
		w := &Will{Topic: c.String("will-topic"), Payload: []byte(c.String("will-payload")), Retain: c.Bool("will-retain")}
		if err := checkPublishTopic("--will-topic", w.Topic); err != nil {
			return o, err
		}
		q := c.Int("will-qos")
		if q < 0 || q > 2 {
			return o, usageErrorf("invalid --will-qos %d: QoS must be 0, 1 or 2", q)
		}
		w.QoS = byte(q)
		o.Will = w
	} else {
		for _, f := range []string{"will-payload", "will-qos", "will-retain"} {
			if c.IsSet(f) {
				return o, usageErrorf("--%s needs --will-topic", f)
			}
		}
	}
	for _, p := range o.Properties {
		if p.Command == "will" && o.Will == nil {
			return o, usageErrorf("-D/--property will ... needs --will-topic")
		}
	}
	return o, nil
}

// mosquittoClientOptions reads mosquittoClientFlags, in the order and with the words of
// Mosquitto's checks where it has them.
func mosquittoClientOptions(c *ucli.Context, o *ConnOptions) error {
	switch {
	case c.IsSet("keyform") && !c.IsSet("key"):
		return mosqUsage(c, "Error: If keyform is set, keyfile must be also specified.")
	case c.IsSet("tls-engine-kpass-sha1") && (!c.IsSet("keyform") || !c.IsSet("tls-engine")):
		return mosqUsage(c, "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.")
	case c.IsSet("psk") && (c.IsSet("cafile") || c.IsSet("capath")):
		return mosqUsage(c, "Error: Only one of --psk or --cafile/--capath may be used at once.")
	case c.IsSet("psk") && !c.IsSet("psk-identity"):
		return mosqUsage(c, "Error: --psk-identity required if --psk used.")
	}
	if c.IsSet("proxy") {
		if o.Unix != "" {
			return usageErrorf("--unix cannot be combined with --proxy")
		}
		p, err := parseProxy(c, c.String("proxy"))
		if err != nil {
			return err
		}
		o.Proxy = p
	}
	// What Go's crypto/tls cannot do is refused by name, with the reason, and the exit
	// code Mosquitto's clients give an option they cannot use (1).
	if c.IsSet("psk") {
		return mosqError(c, exitError, "Error: --psk: TLS-PSK is not supported: Go's crypto/tls has no pre-shared-key cipher suites. Use certificates instead (--cafile, --cert, --key).")
	}
	if c.IsSet("tls-engine") {
		return mosqError(c, exitError, "Error: --tls-engine: TLS engines are not supported: they are OpenSSL's, and Go's crypto/tls has none. Give the key as a PEM file with --key.")
	}
	switch strings.ToLower(c.String("keyform")) {
	case "", "pem":
	case "engine":
		return mosqError(c, exitError, "Error: --keyform engine: TLS engines are not supported: they are OpenSSL's, and Go's crypto/tls has none. Give the key as a PEM file with --key.")
	default:
		return mosqError(c, exitError, "Error: Problem setting key form, it must be one of 'pem' or 'engine'.")
	}
	if c.IsSet("bind-address") {
		if c.String("bind-address") == "" {
			return usageErrorf("-A: the bind address must not be empty")
		}
		if o.Unix != "" {
			return usageErrorf("--unix cannot be combined with -A")
		}
		o.BindAddress = c.String("bind-address")
	}
	return nil
}

// checkNoMosquittoFlagsWithSN refuses mosquittoClientFlags with --sn: MQTT-SN runs over
// UDP, without TLS or proxies.
func checkNoMosquittoFlagsWithSN(c *ucli.Context) error {
	for _, f := range mosquittoClientFlags() {
		names := f.Names()
		if c.IsSet(names[0]) {
			spelled := "--" + names[0]
			if len(names) > 1 {
				spelled = "-" + names[1] + "/" + spelled
			}
			return usageErrorf("%s cannot be used with --sn", spelled)
		}
	}
	return nil
}

// parseProxy reads a --proxy URL as Mosquitto does: socks5h://[user[:pass]@]host[:port],
// port 1080 unless given; %25, %3A and %40 in the user name and password stand for %, : and @.
func parseProxy(c *ucli.Context, raw string) (*Proxy, error) {
	rest, ok := strings.CutPrefix(raw, "socks5h://")
	if !ok {
		return nil, mosqUsage(c, "Error: Unsupported proxy protocol: %s", raw)
	}
	p := &Proxy{}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, pass, _ := strings.Cut(rest[:at], ":")
		var err1, err2 error
		p.Username, err1 = url.PathUnescape(user)
		p.Password, err2 = url.PathUnescape(pass)
		if user == "" || err1 != nil || err2 != nil {
			return nil, mosqUsage(c, "Error: Invalid proxy.")
		}
		rest = rest[at+1:]
	}
	host, port := rest, "1080"
	if h, pt, err := net.SplitHostPort(rest); err == nil {
		host, port = h, pt
		if n, err := strconv.Atoi(pt); err != nil || n < 1 || n > 65535 {
			return nil, mosqUsage(c, "Error: Invalid proxy port %d", n)
		}
	}
	if host == "" || strings.ContainsAny(host, "/:") {
		return nil, mosqUsage(c, "Error: Invalid proxy.")
	}
	p.Addr = net.JoinHostPort(host, port)
	return p, nil
}

// flagPair spells a connection flag as -x/--long for messages.
func flagPair(name string) string {
	for _, f := range connFlags() {
		names := f.Names()
		if names[0] != name {
			continue
		}
		if len(names) > 1 {
			return fmt.Sprintf("-%s/--%s", names[1], names[0])
		}
		return "--" + names[0]
	}
	return flagDisplay(name)
}

func idFlag(c *ucli.Context) string {
	if c.IsSet("id-prefix") {
		return "-I/--id-prefix"
	}
	return "-i/--id"
}

// prepareArgs rewrites the arguments of cmd before urfave parses them:
//
//   - Every option is spelled by its canonical name (-t becomes --topic). urfave refuses a
//     command line that uses two spellings of one flag ("-t a --topic b"), which Mosquitto's
//     tools accept; with one spelling, repeatable flags collect and others keep the last value.
//   - Mosquitto's -D takes three words (four for user-property): `-D publish user-property
//     name value`. The flag package takes one, so the words after -D are joined with propSep
//     and split again by parseProperty.
//
// Values of options are skipped, so `-m -D` still publishes "-D"; nothing after "--" changes.
func prepareArgs(cmd *ucli.Command, args []string) []string {
	canonical := map[string]string{}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		names := f.Names()
		tv, ok := f.(ucli.DocGenerationFlag)
		for _, n := range names {
			canonical[n] = names[0]
			if ok && tv.TakesValue() {
				takesValue[n] = true
			}
		}
	}
	var opts []argItem
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			opts = append(opts, argItem{words: args[i:]})
			break
		}
		if len(a) < 2 || a[0] != '-' {
			opts = append(opts, argItem{words: []string{a}})
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		canon, known := canonical[name]
		if !known {
			opts = append(opts, argItem{words: []string{a}}) // the flag package reports it
			continue
		}
		spelled := "--" + canon
		if hasValue {
			opts = append(opts, argItem{canon, value, []string{spelled + "=" + value}})
			continue
		}
		switch {
		case canon == "property":
			n := 3
			if i+2 < len(args) && strings.EqualFold(args[i+2], "user-property") {
				n = 4
			}
			end := min(i+1+n, len(args))
			it := argItem{canon: canon, words: []string{spelled}}
			if end > i+1 {
				it.words = append(it.words, strings.Join(args[i+1:end], propSep))
			}
			opts = append(opts, it)
			i = end - 1
		case takesValue[name] && i+1 < len(args):
			opts = append(opts, argItem{canon, args[i+1], []string{spelled, args[i+1]}})
			i++
		default:
			opts = append(opts, argItem{canon: canon, words: []string{spelled}})
		}
	}
	opts = urlOverrides(cmd.Name, opts)
	out := make([]string, 0, len(args))
	for _, it := range opts {
		out = append(out, it.words...)
	}
	return out
}

// argItem is one option of a command line as prepareArgs reads it: its canonical name ("" for
// a word that is not a known option), its value, and the words it is passed on as.
type argItem struct {
	canon, value string
	words        []string
}

// urlOverrides drops the options that a later -L/--url overrides, so that, as in Mosquitto's
// clients, the option given last wins: -L always sets the host and the port (its default port
// when the URL has none), pub's topic, and the username and password when the URL has them.
// An option given after -L overrides it in connOptionsFrom, as a flag set explicitly.
func urlOverrides(cmdName string, opts []argItem) []argItem {
	last := -1
	for i, it := range opts {
		if it.canon == "url" {
			last = i
		}
	}
	if last < 0 {
		return opts
	}
	// Only the last -L counts (the flag keeps the last value), and only what it sets is dropped.
	overrides := map[string]bool{"host": true, "port": true, "url": true}
	if cmdName == "pub" {
		overrides["topic"] = true
	}
	if u, err := url.Parse(opts[last].value); err == nil && u.User != nil {
		overrides["username"] = true
		if _, ok := u.User.Password(); ok {
			overrides["pw"] = true
		}
	}
	var out []argItem
	for i, it := range opts {
		if i < last && overrides[it.canon] {
			continue
		}
		out = append(out, it)
	}
	return out
}
