package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// errRejected closes a connection after a refusing CONNACK. auth marks a refusal by the
// Authenticator, which is logged as Mosquitto logs it once the connection is closed:
// "Client <unknown> disconnected, not authorised." (whatever the reason code).
type errRejected struct {
	code packet.ReasonCode
	auth bool
}

func (e errRejected) Error() string { return "connection refused: reason " + strconv.Itoa(int(e.code)) }

// handleConnect handles CONNECT [MQTT-3.1]: validation, authentication,
// session takeover or resumption, will, CONNACK.
func (c *conn) handleConnect(p *packet.Connect) error {
	b := c.b
	c.version = p.ProtocolVersion
	v5 := c.version == packet.V5
	c.info = ClientInfo{
		ClientID:        p.ClientID,
		Username:        p.Username,
		HasUsername:     p.UsernameFlag,
		Remote:          c.info.Remote,
		Listener:        c.info.Listener,
		ProtocolVersion: p.ProtocolVersion,
	}
	reject := func(rc packet.ReasonCode, why string) error { return c.reject(p, rc, why) }

	window := b.opts.MaxInflight
	if v5 {
		pr := &p.Properties
		if pr.HasReceiveMaximum && int(pr.ReceiveMaximum) < window {
			window = int(pr.ReceiveMaximum) // [MQTT-3.3.4-7]
		}
		if pr.HasMaximumPacketSize {
			c.extra().maxOut = pr.MaximumPacketSize
		}
		if b.opts.OutboundTopicAliases && pr.HasTopicAliasMaximum && pr.TopicAliasMaximum > 0 {
			c.extra().aliasOutMax = pr.TopicAliasMaximum
		}
		if pr.HasRequestProblemInfo && pr.RequestProblemInfo == 0 {
			c.problemInfo = false
		}
	}
	c.window = uint16(min(window, 65535))
	if v5 && (c.aliasOutMax() > 0 || c.aliasMax() > 0) {
		c.extra() // topic aliases: see connExtra
	}

	id := p.ClientID
	if id == "" {
		allowed, prefix := c.zeroLengthIDs()
		switch {
		case c.version == packet.V31:
			return reject(packet.ClientIdentifierNotValid, "MQTT 3.1 requires a client identifier")
		case c.version == packet.V311 && !p.CleanStart:
			return reject(packet.ClientIdentifierNotValid, "empty client identifier with clean session 0") // [MQTT-3.1.3-8]
		case !allowed:
			return reject(packet.ClientIdentifierNotValid, "zero length client identifiers are not allowed")
		}
		id = newClientID(prefix) // [MQTT-3.1.3-6], [MQTT-3.2.2-16]
	}
	c.info.ClientID = id

	if p.WillFlag {
		if err := topic.ValidateName(p.WillTopic); err != nil || topic.TooDeep(p.WillTopic) {
			if !v5 {
				// 3.x has no return code for it: the connection closes
				// without a CONNACK, as Mosquitto closes it.
				// Logged here, once (errRejected: no second line at teardown).
				b.log.Info("Client " + clientLabel(p.ClientID, c.logAddr()) + " refused: invalid will topic " + strconv.Quote(p.WillTopic) + ".")
				return errRejected{code: packet.MalformedPacket}
			}
			return reject(packet.TopicNameInvalid, "invalid will topic")
		}
		if lim := b.opts.MessageSizeLimit; lim > 0 && len(p.WillPayload) > lim {
			// Mosquitto's answers: 0x95 Packet too large; 3.x: 5 Not authorized.
			if v5 {
				return reject(packet.PacketTooLarge, "will payload larger than message_size_limit")
			}
			return reject(packet.NotAuthorized, "will payload larger than message_size_limit")
		}
		if isSysTopic(p.WillTopic) {
			return reject(packet.NotAuthorized, "will topic in $SYS")
		}
		if p.WillQoS > c.maxQoS() {
			return reject(packet.QoSNotSupported, "will QoS above the maximum") // [MQTT-3.2.2-12]
		}
		if p.WillRetain && !b.opts.RetainAvailable {
			return reject(packet.RetainNotSupported, "retained will but retain is not available") // [MQTT-3.2.2-13]
		}
	}

	// Authentication. An in-process subscription is not authenticated: it
	// is trusted, or acts as the identity its creator gave (Subscribe).
	info := ConnectInfo{ClientInfo: c.info, Password: p.Password, HasPassword: p.PasswordFlag}
	if l, ok := c.t.(*LocalConn); ok && l.handler != nil {
		// nothing to check: see Subscribe
	} else if v5 && p.Properties.AuthMethod != "" {
		ea, ok := b.auth.(EnhancedAuthenticator)
		if !ok {
			return reject(packet.BadAuthenticationMethod, "authentication method "+strconvQuote(p.Properties.AuthMethod)+" not supported")
		}
		c.extra().auth = &authState{method: p.Properties.AuthMethod, pending: &pendingConnect{p: p, info: info, ea: ea}}
		return c.authStep(p.Properties.AuthData)
	} else if ca, ok := b.auth.(ConnAuthenticator); ok {
		if rc := ca.AuthenticateConn(context.Background(), c.t.netConn(), &info); rc != packet.Success {
			return c.refuseAuth(rc)
		}
		c.info.Username, c.info.HasUsername = info.Username, info.HasUsername // e.g. use_identity_as_username
	} else if rc := b.auth.Authenticate(context.Background(), info); rc != packet.Success {
		return c.refuseAuth(rc)
	}
	return c.accept(p, nil)
}

// reject refuses a CONNECT: CONNACK with rc, then the connection closes.
func (c *conn) reject(p *packet.Connect, rc packet.ReasonCode, why string) error {
	c.b.log.Info("Client " + clientLabel(p.ClientID, c.logAddr()) + " refused: " + why + ".")
	c.send(&packet.Connack{ReasonCode: rc})
	return errRejected{code: rc}
}

// refuseAuth refuses a CONNECT the Authenticator did not accept: CONNACK with rc, then the
// connection closes and cleanup logs it.
func (c *conn) refuseAuth(rc packet.ReasonCode) error {
	c.send(&packet.Connack{ReasonCode: rc})
	return errRejected{code: rc, auth: true}
}

// authState is a connection's MQTT 5 enhanced authentication (§4.12):
// its method, the Authenticator's state for re-authentication, and the
// CONNECT while its exchange is under way.
type authState struct {
	method  string
	state   any
	pending *pendingConnect
}

// pendingConnect is a CONNECT whose MQTT 5 AUTH exchange (§4.12) is
// under way: the Authenticator's steps run as the client's AUTH packets
// arrive, and the CONNECT is accepted when one says Success.
type pendingConnect struct {
	p     *packet.Connect
	info  ConnectInfo
	ea    EnhancedAuthenticator
	state any
}

// authStep runs one step of the exchange with the client's data.
func (c *conn) authStep(data []byte) error {
	pc := c.x.auth.pending
	out, rc := pc.ea.AuthStep(context.Background(), pc.info, c.x.auth.method, data, &pc.state)
	switch rc {
	case packet.ContinueAuthentication:
		c.send(&packet.Auth{ReasonCode: packet.ContinueAuthentication,
			Properties: packet.Properties{AuthMethod: c.x.auth.method, AuthData: out}})
		return nil
	case packet.Success:
		c.x.auth.pending = nil
		return c.accept(pc.p, out)
	}
	c.x.auth.pending = nil
	return c.reject(pc.p, rc, "authentication failed")
}

// continueAuth takes the client's next packet during the exchange: only
// AUTH with Continue Authentication and the same method is allowed
// [MQTT-4.12.0-4]; anything else refuses the CONNECT with Protocol Error.
func (c *conn) continueAuth(p packet.Packet) error {
	a, ok := p.(*packet.Auth)
	if !ok || a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthMethod != c.x.auth.method {
		pc := c.x.auth.pending
		c.x.auth.pending = nil
		return c.reject(pc.p, packet.ProtocolError, "authentication failed")
	}
	return c.authStep(a.Properties.AuthData)
}

// accept completes an authenticated CONNECT: keep alive, session expiry,
// will, session takeover or resumption, CONNACK (with authData for the
// MQTT 5 enhanced authentication that ended with Success).
func (c *conn) accept(p *packet.Connect, authData []byte) error {
	b := c.b
	v5 := c.version == packet.V5
	if lc := b.listenerConfig(c.info.Listener); lc != nil && lc.UseUsernameAsClientID {
		if !c.info.HasUsername || c.info.Username == "" {
			return c.reject(p, packet.NotAuthorized, "use_username_as_clientid and no username")
		}
		c.info.ClientID = c.info.Username
	}
	id := c.info.ClientID
	assigned := p.ClientID == ""

	// Keep alive: MQTT 5 clients may be told a smaller one [MQTT-3.2.2-21].
	ka := p.KeepAlive
	serverKA := false
	if v5 && b.opts.MaxKeepAlive < 65535 && (ka == 0 || ka > b.opts.MaxKeepAlive) {
		ka, serverKA = b.opts.MaxKeepAlive, true
	}
	// The sweep (limits.go) closes it after 1.5 × keep alive of silence
	// [MQTT-3.1.2-24]; until now it applied the connect timeout.
	c.kaLimit.Store(int64(time.Duration(ka) * time.Second * 3 / 2))

	// Session expiry: 3.x clean session 1 ends with the connection, 0 never.
	var expiry uint32
	if v5 {
		if p.Properties.HasSessionExpiry {
			expiry = p.Properties.SessionExpiry
		}
	} else if !p.CleanStart {
		expiry = neverExpire
	}

	if p.WillFlag {
		w := &Message{
			Topic:   c.mount(p.WillTopic),
			Payload: bytes.Clone(p.WillPayload),
			QoS:     p.WillQoS,
			Retain:  p.WillRetain,
			From:    id,
		}
		if w.Payload == nil {
			w.Payload = []byte{}
		}
		if v5 {
			w.Props = forwardProps(&p.WillProperties)
			if p.WillProperties.HasMessageExpiry {
				// The expiry starts when the will is published; keep the
				// interval in the props until then.
				if w.Props == nil {
					w.Props = &packet.Properties{}
				}
				w.Props.MessageExpiry, w.Props.HasMessageExpiry = p.WillProperties.MessageExpiry, true
			}
			c.extra().willDelay = p.WillProperties.WillDelay
		}
		c.extra().will = w
	}

	s, present := b.attach(c, id, p.CleanStart, expiry)
	if p.CleanStart {
		present = false // [MQTT-3.2.2-1] (3.1.1), [MQTT-3.2.2-2] (5.0)
	}

	ack := &packet.Connack{SessionPresent: present, ReasonCode: packet.Success}
	if v5 {
		pr := &ack.Properties
		if b.opts.ReceiveMaximum < 65535 {
			pr.ReceiveMaximum, pr.HasReceiveMaximum = b.opts.ReceiveMaximum, true
		}
		if q := c.maxQoS(); q < 2 {
			pr.MaximumQoS, pr.HasMaximumQoS = q, true
		}
		if !b.opts.RetainAvailable {
			pr.RetainAvailable, pr.HasRetainAvailable = 0, true
		}
		if b.opts.MaxPacketSize > 0 {
			pr.MaximumPacketSize, pr.HasMaximumPacketSize = b.opts.MaxPacketSize, true
		}
		if assigned {
			pr.AssignedClientID = id
		}
		if a := c.aliasMax(); a > 0 {
			pr.TopicAliasMaximum, pr.HasTopicAliasMaximum = a, true
		}
		if serverKA {
			pr.ServerKeepAlive, pr.HasServerKeepAlive = ka, true
		}
		if p.Properties.HasRequestResponseInfo && p.Properties.RequestResponseInfo == 1 && b.opts.ResponseInformation != "" {
			pr.ResponseInfo = strings.ReplaceAll(b.opts.ResponseInformation, "%c", id) // [MQTT-3.1.2-28]
		}
		if a := c.authSt(); a != nil {
			pr.AuthMethod = a.method
			pr.AuthData = authData
		}
	}
	// Logged before the CONNACK is queued, so that its trace line comes after, as in Mosquitto:
	// "New client connected", the will, then "Sending CONNACK". The username is the one
	// authentication settled on (a certificate's, with use_identity_as_username).
	line := "New client connected from " + c.logAddr() + " as " + id +
		" (p" + strconv.Itoa(mosqProtocol(c.version)) + ", c" + b01(p.CleanStart) + ", k" + strconv.Itoa(int(ka))
	if c.info.HasUsername {
		line += ", u'" + c.info.Username + "'"
	}
	b.log.Info(line + ").")
	if b.trace.Load() {
		if p.WillFlag {
			c.traceLines("Will message specified (" + strconv.Itoa(len(p.WillPayload)) + " bytes) (r" + b01(p.WillRetain) + ", q" + strconv.Itoa(int(p.WillQoS)) + ").\n\t" + p.WillTopic)
		} else {
			c.traceLines("No will message specified.")
		}
	}
	c.mu.Lock()
	c.sess = s
	c.connAccepted = true
	c.pushCtrlLocked(ctrlPacket{p: ack})
	c.mu.Unlock()
	c.notify()

	n := b.stats.clientsConnected.Add(1)
	for {
		m := b.stats.clientsMax.Load()
		if n <= m || b.stats.clientsMax.CompareAndSwap(m, n) {
			break
		}
	}
	if b.opts.Hooks.OnConnect != nil {
		b.emit(hookEvent{kind: evConnect, info: c.info})
	}
	return nil
}

// handleAuth handles AUTH after CONNECT: re-authentication (§4.12.1).
func (c *conn) handleAuth(p *packet.Auth) error {
	if c.version != packet.V5 || c.authSt() == nil {
		return &packet.Error{Code: packet.ProtocolError, Msg: "AUTH without an authentication method"} // [MQTT-4.12.0-7]
	}
	if p.Properties.AuthMethod != c.x.auth.method {
		return &packet.Error{Code: packet.ProtocolError, Msg: "AUTH with a different method"} // [MQTT-4.12.1-1]
	}
	if p.ReasonCode != packet.ReAuthenticate && p.ReasonCode != packet.ContinueAuthentication {
		return &packet.Error{Code: packet.ProtocolError, Msg: "unexpected AUTH reason"}
	}
	ea := c.b.auth.(EnhancedAuthenticator)
	if p.ReasonCode == packet.ReAuthenticate {
		c.x.auth.state = nil
	}
	info := ConnectInfo{ClientInfo: c.info}
	out, rc := ea.AuthStep(context.Background(), info, c.x.auth.method, p.Properties.AuthData, &c.x.auth.state)
	switch rc {
	case packet.Success, packet.ContinueAuthentication:
		c.send(&packet.Auth{ReasonCode: rc, Properties: packet.Properties{AuthMethod: c.x.auth.method, AuthData: out}})
		return nil
	}
	return rc // re-authentication failed: DISCONNECT with the reason [MQTT-4.12.1-2]
}

// handleDisconnect handles a client's DISCONNECT [MQTT-3.14].
func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.version == packet.V5 {
		if p.Properties.HasSessionExpiry {
			// The session's expiry is still the CONNECT's: only this
			// DISCONNECT, the connection's last packet, changes it.
			c.sess.mu.Lock()
			zero := c.sess.expiry == 0
			if !zero || p.Properties.SessionExpiry == 0 {
				c.sess.expiry = p.Properties.SessionExpiry
			}
			c.sess.mu.Unlock()
			if zero && p.Properties.SessionExpiry != 0 {
				return &packet.Error{Code: packet.ProtocolError, Msg: "session expiry set on DISCONNECT after 0 on CONNECT"} // [MQTT-3.14.2-2]
			}
		}
		if p.ReasonCode == packet.DisconnectWithWill {
			return errNormalWithWill
		}
	}
	c.normalClose = true // discard the will [MQTT-3.1.2-10]
	return errNormal
}

var errNormalWithWill = errors.New("client disconnected with will")

func newClientID(prefix string) string {
	var r [12]byte
	rand.Read(r[:])
	return prefix + hex.EncodeToString(r[:])
}

// mosqProtocol maps the protocol level to Mosquitto's log notation
// (p1 = 3.1, p2 = 3.1.1, p5 = 5.0).
func mosqProtocol(v byte) int {
	switch v {
	case packet.V31:
		return 1
	case packet.V311:
		return 2
	}
	return int(v)
}

func clientLabel(id, remote string) string {
	if id == "" {
		return "<unknown> from " + remote
	}
	return id + " from " + remote
}

func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return addr
	}
	return strings.Trim(addr[:i], "[]")
}

func portOnly(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }
