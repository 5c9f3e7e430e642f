package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
	"golang.org/x/net/proxy"
)

// clientOptions maps the parsed connection flags onto client.Options. The
// caller adds OnMessage, the tool-specific limits and, for -d, a debugLog.
func clientOptions(o ConnOptions) (client.Options, error) {
	co := client.Options{
		ProtocolVersion: o.ProtocolVersion,
		ClientID:        o.ClientID,
		CleanStart:      o.CleanSession,
		KeepAlive:       o.KeepAlive,
		Username:        o.Username,
		HasUsername:     o.HasUsername,
		HasPassword:     o.HasPassword,
	}
	if o.HasPassword {
		co.Password = []byte(o.Password)
	}
	hostport := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	switch {
	case o.Unix != "":
		co.Server = "unix://" + o.Unix
	case o.WebSocket:
		scheme := "ws://"
		if o.TLS != nil {
			scheme = "wss://"
		}
		path := o.WSPath
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		co.Server = scheme + hostport + path
	case o.TLS != nil:
		co.Server = "tls://" + hostport
	default:
		co.Server = "tcp://" + hostport
	}
	if o.TLS != nil {
		cfg, err := tlsConfig(o.TLS, o.Host)
		if err != nil {
			return co, err
		}
		co.TLSConfig = cfg
	}
	co.LocalAddr = o.BindAddress
	if o.Proxy != nil {
		co.NetDial = socksDial(o.Proxy, o.BindAddress)
	}
	if o.ProtocolVersion == ProtocolV5 {
		co.ConnectProperties = packetProperties(o.Properties, "connect")
		if o.SessionExpiry != 0 {
			co.ConnectProperties.SessionExpiry, co.ConnectProperties.HasSessionExpiry = o.SessionExpiry, true
		}
	}
	if w := o.Will; w != nil {
		co.Will = &client.Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
		if o.ProtocolVersion == ProtocolV5 {
			co.Will.Properties = packetProperties(o.Properties, "will")
		}
	}
	return co, nil
}

// socksDial connects through a SOCKS5 proxy (--proxy), from bind if not empty (-A). The
// broker's host name is resolved by the proxy, as socks5h:// says.
func socksDial(p *Proxy, bind string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		fwd := &net.Dialer{}
		if bind != "" {
			ip := net.ParseIP(bind)
			if ip == nil {
				ips, err := net.DefaultResolver.LookupIP(ctx, "ip", bind)
				if err != nil {
					return nil, err
				}
				ip = ips[0]
			}
			fwd.LocalAddr = &net.TCPAddr{IP: ip}
		}
		var auth *proxy.Auth
		if p.Username != "" {
			auth = &proxy.Auth{User: p.Username, Password: p.Password}
		}
		d, err := proxy.SOCKS5("tcp", p.Addr, auth, fwd)
		if err != nil {
			return nil, err
		}
		return d.(proxy.ContextDialer).DialContext(ctx, network, addr)
	}
}

// packetProperties collects the -D properties given for one packet.
func packetProperties(props []Property, command string) packet.Properties {
	var p packet.Properties
	for _, d := range props {
		if d.Command != command {
			continue
		}
		n := d.Number
		switch d.ID {
		case packet.PropPayloadFormat:
			p.PayloadFormat, p.HasPayloadFormat = byte(n), true
		case packet.PropMessageExpiry:
			p.MessageExpiry, p.HasMessageExpiry = n, true
		case packet.PropContentType:
			p.ContentType = d.Value
		case packet.PropResponseTopic:
			p.ResponseTopic = d.Value
		case packet.PropCorrelationData:
			p.CorrelationData = []byte(d.Value)
		case packet.PropSubscriptionIdentifier:
			p.SubscriptionIDs = append(p.SubscriptionIDs, n)
		case packet.PropSessionExpiry:
			p.SessionExpiry, p.HasSessionExpiry = n, true
		case packet.PropAuthMethod:
			p.AuthMethod = d.Value
		case packet.PropAuthData:
			p.AuthData = []byte(d.Value)
		case packet.PropRequestProblemInfo:
			p.RequestProblemInfo, p.HasRequestProblemInfo = byte(n), true
		case packet.PropWillDelay:
			p.WillDelay, p.HasWillDelay = n, true
		case packet.PropRequestResponseInfo:
			p.RequestResponseInfo, p.HasRequestResponseInfo = byte(n), true
		case packet.PropReasonString:
			p.ReasonString = d.Value
		case packet.PropReceiveMaximum:
			p.ReceiveMaximum, p.HasReceiveMaximum = uint16(n), true
		case packet.PropTopicAliasMaximum:
			p.TopicAliasMaximum, p.HasTopicAliasMaximum = uint16(n), true
		case packet.PropTopicAlias:
			p.TopicAlias, p.HasTopicAlias = uint16(n), true
		case packet.PropUserProperty:
			p.User = append(p.User, packet.UserProperty{Key: d.Key, Value: d.Value})
		case packet.PropMaximumPacketSize:
			p.MaximumPacketSize, p.HasMaximumPacketSize = n, true
		}
	}
	return p
}

// tlsConfig builds the TLS client configuration from --cafile, --capath,
// --cert/--key, --insecure and --tls-version.
func tlsConfig(t *TLSOptions, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: t.MinVersion, ServerName: host, CipherSuites: t.Ciphers, NextProtos: t.ALPN}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if t.CAFile != "" || t.CAPath != "" {
		var pool *x509.CertPool
		if t.UseOSCerts {
			if sp, err := x509.SystemCertPool(); err == nil {
				pool = sp
			}
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--cafile: %v", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--cafile %s: no PEM certificates found", t.CAFile)
			}
		}
		if t.CAPath != "" {
			entries, err := os.ReadDir(t.CAPath)
			if err != nil {
				return nil, fmt.Errorf("--capath: %v", err)
			}
			for _, e := range entries {
				if e.IsDir() {
					continue
				}
				if pem, err := os.ReadFile(filepath.Join(t.CAPath, e.Name())); err == nil {
					pool.AppendCertsFromPEM(pem)
				}
			}
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t.Insecure {
		// As mosquitto's --insecure: the chain is still verified, only the
		// host name is not checked.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	return cfg, nil
}

// libmosquitto's error codes (mosq_err_t) that the tools exit with, and
// mosquitto_strerror's text for them.
const (
	mosqErrProtocol  = 2  // MOSQ_ERR_PROTOCOL
	mosqErrNoConn    = 4  // MOSQ_ERR_NO_CONN
	mosqErrConnLost  = 7  // MOSQ_ERR_CONN_LOST
	mosqErrTLS       = 8  // MOSQ_ERR_TLS
	mosqErrKeepalive = 19 // MOSQ_ERR_KEEPALIVE

	msgProtocol = "Error: A network protocol error occurred when communicating with the broker."
	msgNoConn   = "Error: The client is not currently connected."
	msgConnLost = "Error: The connection was lost."
	msgTLS      = "Error: A TLS error occurred."
	// Mosquitto 2.0.11 prints "Error: Unknown error." for MOSQ_ERR_KEEPALIVE; we say
	// what happened (see the man pages' DIFFERENCES FROM MOSQUITTO).
	msgKeepalive = "Error: Keepalive timeout."
)

// connectErrorMessage is what mosquitto's tools print when connecting
// fails, and their exit code.
func connectErrorMessage(err error, version byte) (string, int) {
	var ce *client.ConnectError
	if errors.As(err, &ce) {
		rc := ce.ReturnCode()
		if version == ProtocolV5 {
			if packet.ReasonCode(rc) == packet.UnsupportedProtocolVersion {
				return fmt.Sprintf("Connection error: %s. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.", reasonString(packet.ReasonCode(rc))), rc
			}
			return "Connection error: " + reasonString(packet.ReasonCode(rc)), rc
		}
		return "Connection error: " + connackString(rc), rc
	}
	var te *client.TLSError
	switch {
	case errors.As(err, &te):
		return msgTLS, mosqErrTLS
	case errors.Is(err, client.ErrProtocol):
		return msgProtocol, mosqErrProtocol
	case errors.Is(err, client.ErrConnectionLost):
		return msgConnLost, mosqErrConnLost
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Error: Connection refused", 1
	case errors.Is(err, syscall.ENOENT):
		return "Error: No such file or directory", 1
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "Unable to connect (Lookup error.).", 1
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		// strerror(3)'s wording, as libmosquitto prints it: "Cannot assign requested address".
		return "Error: " + upperFirst(errno.Error()), 1
	}
	return "Error: " + err.Error(), 1
}

// lostErrorMessage is what mosquitto_pub prints, and its exit code, when
// an established connection ends before the work is done.
func lostErrorMessage(err error) (string, int) {
	var de *client.DisconnectError
	switch {
	case errors.As(err, &de):
		return msgNoConn, mosqErrNoConn
	case errors.Is(err, client.ErrKeepAliveTimeout):
		return msgKeepalive, mosqErrKeepalive
	case errors.Is(err, client.ErrProtocol):
		return msgProtocol, mosqErrProtocol
	case errors.Is(err, client.ErrConnectionLost):
		return msgConnLost, mosqErrConnLost
	}
	return "Error: " + errText(err), 1
}

// connackString is libmosquitto's mosquitto_connack_string for 3.x codes.
func connackString(rc int) string {
	switch rc {
	case 0:
		return "Connection Accepted."
	case 1:
		return "Connection Refused: unacceptable protocol version."
	case 2:
		return "Connection Refused: identifier rejected."
	case 3:
		return "Connection Refused: broker unavailable."
	case 4:
		return "Connection Refused: bad user name or password."
	case 5:
		return "Connection Refused: not authorised."
	}
	return "Connection Refused: unknown reason."
}

// reasonString is libmosquitto's mosquitto_reason_string.
func reasonString(rc packet.ReasonCode) string {
	if s, ok := reasonStrings[rc]; ok {
		return s
	}
	return "Unknown reason"
}

var reasonStrings = map[packet.ReasonCode]string{
	0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2", 0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers", 0x11: "No subscription existed", 0x18: "Continue authentication",
	0x19: "Re-authenticate", 0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
	0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
	0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
	0x8C: "Bad authentication method", 0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
	0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid", 0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found", 0x93: "Receive Maximum exceeded", 0x94: "Topic Alias invalid",
	0x95: "Packet too large", 0x96: "Message rate too high", 0x97: "Quota exceeded",
	0x98: "Administrative action", 0x99: "Payload format invalid", 0x9A: "Retain not supported",
	0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
	0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded",
	0xA0: "Maximum connect time", 0xA1: "Subscription identifiers not supported",
	0xA2: "Wildcard Subscriptions not supported",
}

// debugLog prints packets the way libmosquitto's log does for -d, line for
// line: the same wording, the client id the library knows at the time (the
// one the broker assigned, once its CONNACK says so), and libmosquitto's
// message ids. Its trace method runs on the client's goroutines.
type debugLog struct {
	w       io.Writer
	version byte
	mu      sync.Mutex
	id      string
	qos0    int         // QoS 0 PUBLISHes sent: libmosquitto numbers them too
	mute    func() bool // when it reports true, only a DISCONNECT sent is printed
}

// newDebugLog returns the -d log for a client with o's id, or nil without -d
// (or with --quiet, which silences it in Mosquitto's tools too).
func newDebugLog(w io.Writer, o ConnOptions) *debugLog {
	if !o.Debug || o.Quiet {
		return nil
	}
	id := o.ClientID
	if id == "" {
		id = "(null)"
	}
	return &debugLog{w: w, id: id, version: o.ProtocolVersion}
}

func (d *debugLog) trace(sent bool, p packet.Packet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mute != nil && d.mute() {
		if _, disc := p.(*packet.Disconnect); !disc || !sent {
			return // libmosquitto reads nothing more once the tool has disconnected
		}
	}
	dir := "received"
	if sent {
		dir = "sending"
	}
	var s string
	switch p := p.(type) {
	case *packet.Connack:
		if p.Properties.AssignedClientID != "" {
			d.id = p.Properties.AssignedClientID
		}
		code := byte(p.ReasonCode)
		if d.version != ProtocolV5 {
			code = packet.ConnackReturnCode(p.ReasonCode) // the 3.x return code, as on the wire
		}
		s = fmt.Sprintf("CONNACK (%d)", code)
	case *packet.Publish:
		mid := int(p.PacketID)
		if sent && p.QoS == 0 {
			// libmosquitto gives every message an id, even one that carries none.
			// pub sends messages of one QoS only, so this is the id it would print.
			d.qos0++
			mid = d.qos0
		}
		s = fmt.Sprintf("PUBLISH (d%d, q%d, r%d, m%d, '%s', ... (%d bytes))",
			b2i(p.Dup), p.QoS, b2i(p.Retain), mid, p.Topic, len(p.Payload))
	case *packet.Puback:
		s = ackTrace("PUBACK", sent, p.PacketID, p.ReasonCode, true, true)
	case *packet.Pubrec:
		s = ackTrace("PUBREC", sent, p.PacketID, p.ReasonCode, true, false)
	case *packet.Pubrel:
		s = ackTrace("PUBREL", sent, p.PacketID, p.ReasonCode, false, false)
	case *packet.Pubcomp:
		s = ackTrace("PUBCOMP", sent, p.PacketID, p.ReasonCode, false, true)
	case *packet.Subscribe:
		for _, sub := range p.Subscriptions {
			fmt.Fprintf(d.w, "Client %s %s SUBSCRIBE (Mid: %d, Topic: %s, QoS: %d, Options: 0x%02x)\n",
				d.id, dir, p.PacketID, sub.Filter, sub.QoS, subOptions(sub))
		}
		return
	case *packet.Unsubscribe:
		for _, f := range p.Filters {
			fmt.Fprintf(d.w, "Client %s %s UNSUBSCRIBE (Mid: %d, Topic: %s)\n", d.id, dir, p.PacketID, f)
		}
		return
	case *packet.Disconnect:
		if !sent {
			fmt.Fprintf(d.w, "Received DISCONNECT (%d)\n", byte(p.ReasonCode))
			return
		}
		s = "DISCONNECT"
	case *packet.Auth:
		if sent {
			return // libmosquitto does not log the AUTH it sends
		}
		s = "AUTH"
	default:
		s = typeName(p.Type())
	}
	fmt.Fprintf(d.w, "Client %s %s %s\n", d.id, dir, s)
}

// ackTrace words PUBACK, PUBREC, PUBREL and PUBCOMP as libmosquitto does:
// the reason code only where it logs one (PUBACK and PUBREC it sends,
// PUBACK and PUBCOMP it receives).
func ackTrace(name string, sent bool, id uint16, rc packet.ReasonCode, rcSent, rcReceived bool) string {
	switch {
	case sent && rcSent:
		return fmt.Sprintf("%s (m%d, rc%d)", name, id, byte(rc))
	case sent:
		return fmt.Sprintf("%s (m%d)", name, id)
	case rcReceived:
		return fmt.Sprintf("%s (Mid: %d, RC:%d)", name, id, byte(rc))
	}
	return fmt.Sprintf("%s (Mid: %d)", name, id)
}

// subOptions is the subscription options byte without the QoS bits, which
// libmosquitto logs separately.
func subOptions(s packet.Subscription) byte {
	var o byte
	if s.NoLocal {
		o |= 0x04
	}
	if s.RetainAsPublished {
		o |= 0x08
	}
	return o | s.RetainHandling<<4
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func typeName(t packet.Type) string {
	names := [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
		"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}
	if int(t) < len(names) {
		return names[t]
	}
	return "UNKNOWN"
}

// checkConnectProperty refuses a CONNECT or will property value the broker would refuse
// the connection for (Receive Maximum 0, a Request Problem Information of 2, ...), by
// decoding a CONNECT that carries it as the broker does: otherwise every connection fails
// (sn-gateway's clients all got CONNACK "not supported") instead of the command at start.
func checkConnectProperty(p Property) error {
	if p.Command != "connect" && p.Command != "will" {
		return nil
	}
	c := &packet.Connect{ProtocolVersion: packet.V5, ClientID: "x", CleanStart: true}
	if p.Command == "connect" {
		c.Properties = packetProperties([]Property{p}, "connect")
	} else {
		c.WillFlag, c.WillTopic, c.WillPayload = true, "t", []byte{}
		c.WillProperties = packetProperties([]Property{p}, "will")
	}
	b, err := packet.Append(nil, c, packet.V5)
	if err == nil {
		_, err = packet.ReadPacket(bytes.NewReader(b), packet.V5, 0)
	}
	if err != nil {
		return usageErrorf("-D/--property %s %s: value %s is not allowed: %v", p.Command, p.Name, p.Value, err)
	}
	return nil
}
