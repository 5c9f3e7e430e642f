package broker

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// ClientInfo identifies a client to the authentication and authorization
// hooks.
type ClientInfo struct {
	ClientID string
	Username string
	// Remote is the peer's address. For TCP (plain, TLS, or under a
	// websocket) it is a compact net.Addr of network "tcp", printed as
	// *net.TCPAddr prints, with *net.TCPAddr's AddrPort method for the IP
	// and port; it is not a *net.TCPAddr (that costs 44 bytes more per
	// connection).
	Remote          net.Addr
	Listener        string // local port
	HasUsername     bool
	ProtocolVersion byte // packet.V31, V311 or V5
}

// LogAddr is the client's address as the broker's log lines show it,
// in Mosquitto's form: host:port with an IPv6 host unbracketed
// ("::1:36094", "127.0.0.1:1883"), and "LISTENER:0" for a unix socket
// (Listener is then the socket's path). Features that log about a client
// (authentication, bridges) use it so that one client has one address
// form in the log. Empty without a Remote.
func (ci ClientInfo) LogAddr() string {
	if ci.Remote == nil {
		return ""
	}
	if strings.HasPrefix(ci.Remote.Network(), "unix") {
		return ci.Listener + ":0"
	}
	remote := ci.Remote.String()
	from := hostOf(remote)
	if port := portOnly(remote); port != "" {
		from += ":" + port
	}
	return from
}

// ConnectInfo is what a CONNECT presents for authentication.
type ConnectInfo struct {
	ClientInfo
	Password    []byte
	HasPassword bool
}

// Authenticator decides whether a CONNECT is accepted. It returns
// packet.Success or the CONNACK reason to refuse with (e.g.
// BadUserNameOrPassword, NotAuthorized); 3.x clients get the matching
// return code.
type Authenticator interface {
	Authenticate(ctx context.Context, info ConnectInfo) packet.ReasonCode
}

// ConnAuthenticator is implemented by an Authenticator that needs the
// network connection itself, e.g. for the TLS client certificate
// (listener.PeerIdentity, for use_identity_as_username). The broker calls
// AuthenticateConn instead of Authenticate; nc is nil for plain TCP and
// unix-socket connections on Linux, which the event loop serves from the
// bare descriptor (info.Remote has the address), and the *tls.Conn for a
// TLS connection it took over (TLSHandoff). It must not read or write nc. It may set info.Username and
// info.HasUsername: when it accepts the client, the broker uses them from
// then on, in every Authorizer call and in the client's ClientInfo.
type ConnAuthenticator interface {
	Authenticator
	AuthenticateConn(ctx context.Context, nc net.Conn, info *ConnectInfo) packet.ReasonCode
}

// EnhancedAuthenticator is implemented by an Authenticator that supports
// MQTT 5 enhanced authentication (§4.12): CONNECT with an Authentication
// Method, then AUTH packets, and re-authentication.
//
// AuthStep is called with the Authentication Data of the CONNECT (or of a
// re-authenticating AUTH 0x19) and of every AUTH 0x18 the client sends.
// It returns the data for the server's reply and Success when the client
// is authenticated, ContinueAuthentication to send AUTH 0x18 and wait for
// the client, or a reason code to refuse (BadAuthenticationMethod,
// NotAuthorized, ...). state is kept per connection between steps.
type EnhancedAuthenticator interface {
	Authenticator
	AuthStep(ctx context.Context, info ConnectInfo, method string, data []byte, state *any) ([]byte, packet.ReasonCode)
}

// Authorizer decides what a connected client may do. CanRead is checked
// per delivery, so a subscription may be granted yet deliver nothing,
// as with Mosquitto's ACLs.
type Authorizer interface {
	CanPublish(ctx context.Context, c ClientInfo, topic string, qos byte, retain bool) bool
	CanSubscribe(ctx context.Context, c ClientInfo, filter string) bool
	CanRead(ctx context.Context, c ClientInfo, topic string) bool
}

// VersionedAuthorizer is an Authorizer whose rules can change while
// messages wait in queues (an ACL file reloaded on SIGHUP). RulesVersion
// changes when the rules do; the broker then asks CanRead again for every
// queued message before it is sent, so a message queued before the change
// is delivered only if the new rules allow it.
type VersionedAuthorizer interface {
	Authorizer
	RulesVersion() uint64
}

// QuickAuthorizer is an Authorizer whose checks return at once: rules
// in memory, no I/O, no lock held for long. The event loop handles the
// PUBLISH packets and acknowledgements of lightly loaded connections on
// its own goroutine only when the Authorizer is nil or quick (and there
// is no Hooks.OnPublish), since an Authorizer that waits there would
// stall every connection; otherwise each read is handed to a worker.
// internal/auth's password and ACL files are quick.
type QuickAuthorizer interface {
	Authorizer
	// Quick reports whether the promise holds (it is asked once, by New).
	Quick() bool
}

// quickCalls reports whether what the broker calls out to for each
// message never waits (QuickAuthorizer).
func (b *Broker) quickCalls() bool {
	if b.opts.Hooks.OnPublish != nil {
		return false
	}
	switch a := b.authz.(type) {
	case nil, AllowAll:
		return true
	case QuickAuthorizer:
		return a.Quick()
	}
	return false
}

// AllowAll is the default Authenticator and Authorizer.
type AllowAll struct{}

func (AllowAll) Authenticate(context.Context, ConnectInfo) packet.ReasonCode { return packet.Success }
func (AllowAll) CanPublish(context.Context, ClientInfo, string, byte, bool) bool {
	return true
}
func (AllowAll) CanSubscribe(context.Context, ClientInfo, string) bool { return true }
func (AllowAll) CanRead(context.Context, ClientInfo, string) bool      { return true }

// Hooks observe the broker's events; each may be nil. Set them in
// Options.Hooks before New.
//
// What is guaranteed:
//   - OnPublish runs synchronously on the publishing connection's reader
//     goroutine (or the caller of Publish), before the message is routed,
//     with no broker lock held. A slow OnPublish slows that publisher only;
//     routing for everyone else goes on. A panic refuses the message with
//     0x83 Implementation specific error and is logged.
//   - The other hooks are events, delivered in the order they happened by
//     one goroutine of the broker's, never under a broker lock and never
//     on a connection's goroutine: a slow hook delays later events, not
//     routing. At most 65,536 events wait; beyond that new events are
//     dropped and counted (Stats.HookEventsDropped). A panic is logged and
//     the next event delivered. Events still queued at Close are
//     delivered before Close returns.
//   - Hooks must not block forever and should not call Close; they may use
//     the in-process API (Publish, Subscribe, Clients, Disconnect, Stats).
type Hooks struct {
	// OnConnect: a client's CONNECT was accepted (after CONNACK was queued).
	OnConnect func(ClientInfo)
	// OnDisconnect: a connected client's connection ended; err is nil after
	// the client's own DISCONNECT, otherwise why (e.g. io.EOF for a closed
	// socket, or a packet.ReasonCode the server sent).
	OnDisconnect func(ClientInfo, error)
	// OnSubscribe: a subscription was granted with these options.
	OnSubscribe func(c ClientInfo, filter string, opts topic.Options)
	// OnUnsubscribe: a subscription was removed by UNSUBSCRIBE.
	OnUnsubscribe func(c ClientInfo, filter string)
	// OnPublish decides whether an inbound message is routed: Success (or
	// any code below 0x80) routes it; a code of 0x80 or more refuses it
	// (MQTT 5 publishers get it in PUBACK/PUBREC, 3.x publishers' messages
	// are dropped), counted as DropNotAuthorized. m is read-only. Wills and
	// in-process Publish calls are asked too; $SYS updates are not.
	OnPublish func(c ClientInfo, m *Message) packet.ReasonCode
	// OnDrop: a message was not delivered to a client (ClientID "" when
	// it was refused before routing: then it is the publisher's).
	OnDrop func(DropEvent)
}

// DropEvent is a message the broker did not deliver, and why.
type DropEvent struct {
	ClientID string   // the subscriber (or, for DropNotAuthorized and DropTooLarge at publish, the publisher)
	Message  *Message // read-only
	Reason   DropReason
}

func (h *Hooks) events() bool {
	return h.OnConnect != nil || h.OnDisconnect != nil || h.OnSubscribe != nil || h.OnUnsubscribe != nil || h.OnDrop != nil
}

type eventKind uint8

const (
	evConnect eventKind = iota + 1
	evDisconnect
	evSubscribe
	evUnsubscribe
	evDrop
)

type hookEvent struct {
	kind   eventKind
	info   ClientInfo
	err    error
	filter string
	opts   topic.Options
	drop   DropEvent
}

// maxHookEvents bounds the events waiting for slow hooks.
const maxHookEvents = 1 << 16

// hookQueue hands events to the goroutine that runs the hooks.
type hookQueue struct {
	mu      sync.Mutex // a leaf: nothing is taken while it is held
	q       []hookEvent
	closed  bool
	wake    chan struct{} // capacity 1
	stopped chan struct{}
}

// emit queues an event for the hooks; it never blocks.
func (b *Broker) emit(ev hookEvent) {
	h := b.hookq
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.closed || len(h.q) >= maxHookEvents {
		h.mu.Unlock()
		b.stats.hookDropped.Add(1)
		return
	}
	h.q = append(h.q, ev)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// runHooks delivers events until Close, then what is left.
func (b *Broker) runHooks() {
	h := b.hookq
	defer close(h.stopped)
	var batch []hookEvent
	for {
		h.mu.Lock()
		batch, h.q = h.q, batch[:0]
		closed := h.closed
		h.mu.Unlock()
		for i := range batch {
			b.runHook(&batch[i])
			batch[i] = hookEvent{}
		}
		if closed && len(batch) == 0 {
			return
		}
		if len(batch) == 0 {
			<-h.wake
		}
	}
}

func (b *Broker) runHook(ev *hookEvent) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("hook panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	h := &b.opts.Hooks
	switch ev.kind {
	case evConnect:
		h.OnConnect(ev.info)
	case evDisconnect:
		h.OnDisconnect(ev.info, ev.err)
	case evSubscribe:
		h.OnSubscribe(ev.info, ev.filter, ev.opts)
	case evUnsubscribe:
		h.OnUnsubscribe(ev.info, ev.filter)
	case evDrop:
		h.OnDrop(ev.drop)
	}
}

// stopHooks delivers the events still queued and stops the goroutine.
func (b *Broker) stopHooks() {
	h := b.hookq
	if h == nil {
		return
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	<-h.stopped
}

// dropped counts a message not delivered to clientID and reports it to
// Hooks.OnDrop. It may be called with Session.mu held (it only queues).
func (b *Broker) dropped(shard uint8, why DropReason, clientID string, m *Message) {
	b.stats.drop(shard, why)
	if b.opts.Hooks.OnDrop != nil {
		b.emit(hookEvent{kind: evDrop, drop: DropEvent{ClientID: clientID, Message: m, Reason: why}})
	}
}

// allowPublish asks Hooks.OnPublish about m; without the hook it allows.
func (b *Broker) allowPublish(c ClientInfo, m *Message) (rc packet.ReasonCode) {
	h := b.opts.Hooks.OnPublish
	if h == nil {
		return packet.Success
	}
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("OnPublish hook panicked; message refused", "topic", m.Topic, "panic", fmt.Sprint(p))
			rc = packet.ImplementationSpecificError
		}
	}()
	return h(c, m)
}
