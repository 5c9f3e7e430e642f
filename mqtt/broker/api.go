package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// The in-process API: what a program embedding the broker, a bridge, a
// gateway or an admin endpoint uses instead of a socket. Publish and
// Subscribe follow the same routing, retained, QoS and ACL rules as a
// network client (an in-process subscription is a session like any
// other, attached through a LocalConn); Clients, Disconnect and Stats
// (stats.go) expose what $SYS and an operator need.

// Publish routes m as a network client's PUBLISH would be: m.Retain
// updates the retained message of m.Topic (an empty payload clears it
// [MQTT-3.3.1-10]), and every matching subscription gets it at the lower
// of m.QoS and its granted QoS. m.Props are the MQTT 5 properties that
// travel with a message (payload format, content type, response topic,
// correlation data, user properties; others are ignored), m.Expiry the
// time it expires (zero: never), m.From the publishing client's id for
// no-local ("" for none). The broker copies what it keeps: m may be
// reused after Publish returns.
//
// The caller is trusted (as the broker's own $SYS updates are): the
// Authorizer is not asked; PublishAs asks it. Hooks.OnPublish is asked,
// synchronously: ctx is checked before it, not while it runs.
//
// Errors: ErrBrokerClosed; ctx's error; a *packet.Error whose Code is
// TopicNameInvalid (empty, wildcards, invalid UTF-8, deeper than
// topic.MaxLevels), QoSNotSupported (above 2 or Options.MaxQoS),
// RetainNotSupported, or the code Properties.ValidatePublish gives for
// m.Props that could not be sent to a subscriber (invalid UTF-8, Payload
// Format above 1, a wildcard in the Response Topic); the packet.ReasonCode
// of a refusal (NotAuthorized, or what OnPublish returned); QuotaExceeded
// when subscriptions matched but none could take a QoS 1/2 message.
func (b *Broker) Publish(ctx context.Context, m Message) error {
	return b.publishLocal(ctx, nil, m)
}

// PublishAs is Publish on behalf of a client: the Authorizer decides as
// for a network client with identity as (CanPublish), and $SYS topics
// are refused, as they are to clients.
func (b *Broker) PublishAs(ctx context.Context, as ClientInfo, m Message) error {
	return b.publishLocal(ctx, &as, m)
}

func (b *Broker) publishLocal(ctx context.Context, as *ClientInfo, m Message) error {
	if b.ctx.Err() != nil {
		return ErrBrokerClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return &packet.Error{Code: packet.TopicNameInvalid, Msg: "broker: Publish: " + err.Error()}
	}
	if topic.TooDeep(m.Topic) {
		return &packet.Error{Code: packet.TopicNameInvalid, Msg: fmt.Sprintf("broker: Publish: topic deeper than %d levels", topic.MaxLevels)}
	}
	if err := m.Props.ValidatePublish(); err != nil {
		return err // what a subscriber could not be sent: refused here, not dropped there
	}
	if m.QoS > 2 || m.QoS > b.opts.MaxQoS {
		return &packet.Error{Code: packet.QoSNotSupported, Msg: fmt.Sprintf("broker: Publish: QoS %d above the maximum %d", m.QoS, min(b.opts.MaxQoS, 2))}
	}
	if m.Retain && !b.opts.RetainAvailable {
		return &packet.Error{Code: packet.RetainNotSupported, Msg: "broker: Publish: retain is not available"}
	}
	msg := &Message{
		Topic:   m.Topic,
		Payload: append([]byte{}, m.Payload...),
		QoS:     m.QoS,
		Retain:  m.Retain,
		Expiry:  m.Expiry,
		From:    m.From,
	}
	if m.Props != nil {
		msg.Props = forwardProps(m.Props)
	}
	info := ClientInfo{ClientID: m.From}
	if as != nil {
		info = *as
		if isSysTopic(m.Topic) || (b.authz != nil && !b.authz.CanPublish(ctx, info, m.Topic, m.QoS, m.Retain)) {
			b.dropped(0, DropNotAuthorized, info.ClientID, msg)
			return packet.NotAuthorized
		}
	}
	if b.opts.MemoryLimit > 0 && b.memoryLevel() == memFull {
		b.dropped(0, DropMemoryLimit, info.ClientID, msg)
		return packet.QuotaExceeded
	}
	if rc := b.allowPublish(info, msg); rc >= 0x80 {
		b.dropped(0, DropNotAuthorized, info.ClientID, msg)
		return rc
	}
	b.stats.add(0, statPubRecv0+statKind(m.QoS), 1)
	b.stats.add(0, statPubBytesRecv, int64(len(m.Payload)))
	if msg.Retain {
		b.retain(msg, as)
	}
	matched, delivered, durable := b.route(msg, nil)
	if msg.QoS > 0 && matched > 0 && delivered == 0 {
		return packet.QuotaExceeded
	}
	if durable || (msg.Retain && b.store != nil) {
		// As a network publisher's PUBACK: return once it is stored.
		done := make(chan error, 1)
		b.store.Commit(nil, func(err error) { done <- err })
		select {
		case err := <-done:
			if err != nil {
				return packet.QuotaExceeded
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// SubscribeOptions configure an in-process subscription.
type SubscribeOptions struct {
	// QoS is the maximum QoS of the deliveries (0..2) [MQTT-3.8.3-1].
	QoS byte
	// NoLocal: messages whose Message.From is ClientID are not delivered.
	NoLocal bool
	// RetainAsPublished keeps the retain flag of forwarded messages.
	RetainAsPublished bool
	// RetainHandling: 0 sends the matching retained messages when the
	// subscription is made, 1 only if it is new, 2 never [MQTT-3.3.1-9..11].
	RetainHandling byte
	// ClientID names the subscription's session in Clients() and logs.
	// Default: "$inproc-" and 12 random hex digits. Client ids are one
	// namespace: a network client or another Subscribe with the same id
	// takes the session over, which ends this subscription for good (its
	// handler is not called again; Unsubscribe then returns nil), as
	// Disconnect of its id does.
	ClientID string
	// As, when set, makes the Authorizer decide for this subscription as
	// for a network client with that identity: CanSubscribe when it is
	// made, CanRead for every message. Nil: trusted, nothing is asked.
	As *ClientInfo
}

// Delivery is a message as an in-process subscription receives it.
type Delivery struct {
	*Message // shared with other subscribers: read only
	// QoS is the delivered QoS: the lower of the published and the
	// subscribed one. Every delivery reaches the handler once.
	QoS byte
	// Retained is set for a retained message sent because the
	// subscription was made [MQTT-3.3.1-8], or with RetainAsPublished.
	Retained bool
}

// Subscription is an in-process subscription made by Subscribe.
type Subscription struct {
	l         *LocalConn
	filter    string
	stopped   atomic.Bool
	inHandler atomic.Bool
}

// Subscribe adds an in-process subscription to filter (wildcards and
// $share/{group}/ allowed) and calls handler for every message it
// receives, including the matching retained messages (see
// SubscribeOptions.RetainHandling). The subscription is a session of its
// own, so the queue limits, ordering and QoS rules of a network client
// hold: handler runs on that session's writer goroutine, one call at a
// time, in order; a slow handler backs up its own queue only (QoS 0
// beyond the limits is dropped, QoS 1/2 held up to them), never routing.
// A message is acknowledged when handler returns. A panic in handler is
// logged and the next message delivered. handler must not call Close
// (Close waits for handlers to return; start it in a goroutine instead),
// and a handler that blocks holds Close up as long.
//
// Like a network client's, the subscription's session is counted in
// Stats (Connections, Subscriptions), listed by Clients and reported to
// Hooks (OnConnect, OnSubscribe, OnDisconnect), under its ClientID.
//
// Errors: ErrBrokerClosed; a *packet.Error with TopicFilterInvalid or
// QoSNotSupported (QoS above 2); packet.NotAuthorized when As may not
// subscribe; the SUBACK's failure code for anything else the broker refused.
func (b *Broker) Subscribe(filter string, opts SubscribeOptions, handler func(Delivery)) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("broker: Subscribe: handler is nil")
	}
	if b.ctx.Err() != nil {
		return nil, ErrBrokerClosed
	}
	if opts.QoS > 2 {
		return nil, &packet.Error{Code: packet.QoSNotSupported, Msg: fmt.Sprintf("broker: Subscribe: QoS %d", opts.QoS)}
	}
	if opts.RetainHandling > 2 {
		return nil, &packet.Error{Code: packet.ProtocolError, Msg: fmt.Sprintf("broker: Subscribe: retain handling %d", opts.RetainHandling)}
	}
	_, inner, shared, err := topic.ParseShared(filter)
	if err == nil && !shared {
		err = topic.ValidateFilter(inner)
	}
	if err != nil {
		return nil, &packet.Error{Code: packet.TopicFilterInvalid, Msg: "broker: Subscribe: " + err.Error()}
	}
	if opts.As != nil && b.authz != nil && !b.authz.CanSubscribe(context.Background(), *opts.As, filter) {
		return nil, packet.NotAuthorized
	}
	id := opts.ClientID
	if id == "" {
		var r [6]byte
		rand.Read(r[:])
		id = "$inproc-" + hex.EncodeToString(r[:])
	}
	sub := &Subscription{filter: filter}
	acks := make(chan packet.Packet, 4)
	l, err := b.Attach(LocalConfig{
		Listener: "inproc",
		Deliver: func(p packet.Packet) {
			switch p.(type) {
			case *packet.Connack, *packet.Suback:
				select {
				case acks <- p:
				default:
				}
			}
		},
	})
	if err != nil {
		return nil, err
	}
	l.handler = func(d Delivery) {
		if !sub.stopped.Load() {
			sub.inHandler.Store(true)
			defer sub.inHandler.Store(false)
			handler(d)
		}
	}
	l.as = opts.As
	l.trusted = opts.As == nil
	sub.l = l
	fail := func(err error) (*Subscription, error) {
		l.Close()
		return nil, err
	}
	if err := l.Send(&packet.Connect{ProtocolName: "MQTT", ProtocolVersion: packet.V5, ClientID: id, CleanStart: true}); err != nil {
		return fail(err)
	}
	if ack, err := waitAck(b, acks); err != nil {
		return fail(err)
	} else if ca, ok := ack.(*packet.Connack); !ok || ca.ReasonCode != packet.Success {
		return fail(fmt.Errorf("broker: Subscribe: session refused: %v", ack))
	}
	err = l.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: opts.QoS,
		NoLocal: opts.NoLocal, RetainAsPublished: opts.RetainAsPublished, RetainHandling: opts.RetainHandling}}})
	if err != nil {
		return fail(err)
	}
	ack, err := waitAck(b, acks)
	if err != nil {
		return fail(err)
	}
	sa, ok := ack.(*packet.Suback)
	if !ok || len(sa.ReasonCodes) != 1 {
		return fail(fmt.Errorf("broker: Subscribe: unexpected %T", ack))
	}
	if rc := sa.ReasonCodes[0]; rc >= 0x80 {
		return fail(rc)
	}
	return sub, nil
}

// waitAck waits for the CONNACK or SUBACK of an in-process subscription
// (usually there already: Send writes what it queued before returning).
func waitAck(b *Broker, acks <-chan packet.Packet) (packet.Packet, error) {
	select {
	case p := <-acks:
		return p, nil
	case <-b.ctx.Done():
		return nil, ErrBrokerClosed
	case <-time.After(b.opts.ConnectTimeout):
		return nil, errors.New("broker: Subscribe: no answer from the broker")
	}
}

// Filter is the filter as subscribed.
func (s *Subscription) Filter() string { return s.filter }

// ClientID is the subscription's session id.
func (s *Subscription) ClientID() string { return s.l.info.ClientID }

// Unsubscribe ends the subscription and its session; the handler is not
// called after Unsubscribe returns (a call already under way on another
// goroutine finishes). It may be called from the handler, and more than
// once.
func (s *Subscription) Unsubscribe() error {
	if s.stopped.Swap(true) {
		return nil
	}
	if s.inHandler.Load() {
		// Close waits for the writer, which may be running the handler
		// that called us: a goroutine of its own ends the session.
		go s.l.Close()
		return nil
	}
	return s.l.Close()
}

// deliverToHandler hands an in-process subscription its message instead
// of encoding a PUBLISH, and acknowledges it once the handler returned.
func (l *LocalConn) deliverToHandler(d *delivery) {
	func() {
		defer func() {
			if p := recover(); p != nil {
				l.b.log.Error("in-process subscription handler panicked", "client", l.info.ClientID,
					"topic", d.msg.Topic, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		l.handler(Delivery{Message: d.msg, QoS: d.qos, Retained: d.retain})
	}()
	l.b.stats.add(l.shard, statPubSent0+statKind(d.qos), 1)
	l.b.stats.add(l.shard, statPubBytesSent, int64(len(d.msg.Payload)))
	if d.qos > 0 {
		l.sess.complete(d.id)
	}
}

// ClientStatus describes one session for Clients.
type ClientStatus struct {
	ClientID        string
	Username        string
	Remote          net.Addr // nil for an offline session
	Listener        string
	ProtocolVersion byte // packet.V31, V311 or V5
	Connected       bool
	// ConnectedSince is when the current connection was accepted, to
	// the second (zero when offline).
	ConnectedSince time.Time
	// SessionExpiry is the Session Expiry Interval in seconds
	// (0xFFFFFFFF: never; 3.x clean session 0 counts as never).
	SessionExpiry uint32
	Subscriptions []string // filters as subscribed, sorted
	Inflight      int      // QoS 1/2 messages sent and not yet acknowledged
	Queued        int      // messages waiting to be sent
}

// Clients lists every session, connected or not, sorted by client id.
func (b *Broker) Clients() []ClientStatus {
	b.mu.Lock()
	sessions := make([]*Session, 0, b.sessions.len())
	for s := range b.sessions.all() {
		sessions = append(sessions, s)
	}
	b.mu.Unlock()
	out := make([]ClientStatus, 0, len(sessions))
	for _, s := range sessions {
		s.mu.Lock()
		cs := ClientStatus{
			ClientID:        s.id,
			ProtocolVersion: s.version,
			SessionExpiry:   s.expiry,
			Inflight:        s.inflight.len(),
			Queued:          s.queue.len(),
			Subscriptions:   make([]string, 0, len(s.subs)),
		}
		for f := range s.subs {
			cs.Subscriptions = append(cs.Subscriptions, f)
		}
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			cs.Connected = true
			cs.Remote = c.info.Remote
			cs.Username = c.info.Username
			cs.Listener = c.info.Listener
			cs.ConnectedSince = b.start.Add(time.Duration(c.since) * time.Second)
		} else if i := s.info.Load(); i != nil {
			cs.Username = i.Username
			cs.Listener = i.Listener
		}
		slices.Sort(cs.Subscriptions)
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

// ErrNotConnected is returned by Disconnect for a client id with no
// connection.
var ErrNotConnected = errors.New("broker: client not connected")

// Disconnect closes the connection of clientID, sending MQTT 5 clients a
// DISCONNECT with reason (e.g. packet.AdministrativeAction; codes below
// 0x80 send none). A network client's session stays, as after any
// connection loss (its will is published); an in-process subscription
// (Subscribe) ends. It returns once the close has started.
//
// Errors: ErrBrokerClosed; ErrNotConnected.
func (b *Broker) Disconnect(clientID string, reason packet.ReasonCode) error {
	if b.ctx.Err() != nil {
		return ErrBrokerClosed
	}
	b.mu.Lock()
	s := b.sessions.get(clientID)
	b.mu.Unlock()
	if s == nil {
		return ErrNotConnected
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	b.log.Info("Client " + clientID + " disconnected by the broker's API (" + reason.String() + ").")
	c.close(closeReason{code: reason, send: true})
	return nil
}
