package sn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ClientOptions configure a Client. Only Gateway is required.
type ClientOptions struct {
	// Gateway is the gateway's UDP address, HOST:PORT.
	Gateway string
	// LocalAddr binds the client's socket (HOST or HOST:PORT; default: any).
	LocalAddr string
	// ForwarderNodeID, when set, wraps every message in a Forwarder Encapsulation frame with
	// this Wireless Node Id, as a forwarder would [MQTT-SN 5.5]; the gateway answers the same
	// way.
	ForwarderNodeID []byte

	ClientID     string
	CleanSession bool
	// KeepAlive is the CONNECT Duration in seconds; the client sends PINGREQ when it has
	// sent nothing for that long. 0: no keep alive.
	KeepAlive uint16
	// Will is prompted for by the gateway when set [MQTT-SN 6.2].
	Will *Will
	// Predefined topics the client knows, for PublishTopic names and for naming the topic of
	// messages that arrive on a predefined id (ClientID's entries and AllClients').
	Predefined *Predefined

	// RetryInterval is T_RETRY: how long to wait for the gateway's answer before sending
	// again [MQTT-SN 6.13]. Default 10 s.
	RetryInterval time.Duration
	// MaxRetries is N_RETRY: retransmissions before giving up with ErrTimeout. Default 3.
	MaxRetries int
	// MaxInflight bounds QoS 1/2 PUBLISHes awaiting acknowledgement; the spec allows one
	// [MQTT-SN 6.6], the default. Concurrent Publish calls wait for a slot.
	MaxInflight int

	// OnMessage receives every PUBLISH from the gateway, in order, on the client's reader
	// goroutine; the message is the callee's to keep. The acknowledgement is sent after it
	// returns. It must not call the client's blocking methods.
	OnMessage func(*ClientMessage)
	// Trace, when set, sees every message sent (sent true) and received.
	Trace func(sent bool, m Message)
}

// Will is a client's will: published by the broker when the client is lost.
type Will struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool
}

// ClientMessage is a PUBLISH the gateway delivered.
type ClientMessage struct {
	// Topic is the topic name when the client knows it (registered, short, predefined in
	// ClientOptions.Predefined, or the id a SUBACK gave a name subscribed to), else "".
	Topic       string
	TopicIDType TopicIDType
	TopicID     uint16
	Payload     []byte
	QoS         QoS
	Retain      bool
	Dup         bool
}

// PublishMessage is what Publish sends. The topic is Topic, a topic name (the client
// registers it first when needed), unless TopicIDType is TopicPredefined (TopicID) or
// TopicShort (Topic of exactly two characters).
type PublishMessage struct {
	Topic       string
	TopicIDType TopicIDType
	TopicID     uint16
	QoS         QoS
	Retain      bool
	Payload     []byte
}

// Client errors.
var (
	// ErrTimeout: the gateway did not answer after MaxRetries retransmissions.
	ErrTimeout = errors.New("mqtt-sn client: no answer from the gateway")
	// ErrNotConnected: the operation needs a connection (CONNECT first).
	ErrNotConnected = errors.New("mqtt-sn client: not connected")
	// ErrClientClosed: Close was called.
	ErrClientClosed = errors.New("mqtt-sn client: closed")
	// ErrGatewayDisconnect: the gateway sent DISCONNECT.
	ErrGatewayDisconnect = errors.New("mqtt-sn client: the gateway disconnected the client")
	// ErrGatewayUnreachable: nothing listens at the gateway's address (the host answered
	// ICMP port unreachable), so a request ends at once rather than after its retries.
	ErrGatewayUnreachable = errors.New("mqtt-sn client: connection refused: nothing listens at the gateway's address")
)

// Client is an MQTT-SN 1.2 client over UDP: what `mqtt pub --sn`, `mqtt sub --sn` and
// `mqtt bench --sn` use. Each message that expects an answer is retransmitted every
// RetryInterval up to MaxRetries times [MQTT-SN 6.13]. Methods are safe for concurrent use;
// one reader goroutine (and one keep-alive goroutine when KeepAlive is set) runs until
// Close.
type Client struct {
	opts ClientOptions
	conn *net.UDPConn

	wmu  sync.Mutex // writes, and wbuf
	wbuf []byte

	mu        sync.Mutex
	waits     map[waitKey]chan Message
	topics    map[string]uint16 // normal topic ids by name (REGISTER, REGACK): for publishing
	names     map[uint16]string // and names by id
	subNames  map[uint16]string // topic ids SUBACKs gave to names subscribed to
	qos2In    map[uint16]bool   // QoS 2 messages received, awaiting PUBREL
	nextID    uint16
	connected bool
	asleep    bool
	pinging   bool // the keep-alive goroutine runs
	err       error

	slots    chan struct{}
	refused  chan struct{} // a read failed with ECONNREFUSED (ICMP port unreachable)
	lastSend atomic.Int64
	done     chan struct{} // closed when the reader ends
	gone     chan struct{} // closed when the gateway disconnects the client unasked
	goneOnce sync.Once
	closed   atomic.Bool
	wg       sync.WaitGroup
}

type waitKey struct {
	t  MsgType
	id uint16
}

// NewClient opens the client's socket towards the gateway; nothing is sent yet.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 10 * time.Second
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 3
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 1
	}
	raddr, err := net.ResolveUDPAddr("udp", opts.Gateway)
	if err != nil {
		return nil, fmt.Errorf("mqtt-sn client: gateway address %q: %v", opts.Gateway, err)
	}
	var laddr *net.UDPAddr
	if opts.LocalAddr != "" {
		la := opts.LocalAddr
		if _, _, err := net.SplitHostPort(la); err != nil {
			la = net.JoinHostPort(la, "0")
		}
		if laddr, err = net.ResolveUDPAddr("udp", la); err != nil {
			return nil, fmt.Errorf("mqtt-sn client: bind address %q: %v", opts.LocalAddr, err)
		}
	}
	conn, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, conn: conn, waits: map[waitKey]chan Message{},
		slots: make(chan struct{}, opts.MaxInflight), refused: make(chan struct{}, 1),
		done: make(chan struct{}), gone: make(chan struct{})}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// Close closes the socket without a DISCONNECT (see Disconnect) and waits for the client's
// goroutines.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		c.wg.Wait()
		return nil
	}
	err := c.conn.Close()
	c.wg.Wait()
	return err
}

// Gone is closed when the gateway disconnects the client without being asked (DISCONNECT
// out of the blue, or no answer to the keep alive).
func (c *Client) Gone() <-chan struct{} { return c.gone }

// Err says why Gone was closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) setGone(err error) {
	c.goneOnce.Do(func() {
		c.mu.Lock()
		c.err, c.connected = err, false
		c.mu.Unlock()
		close(c.gone)
	})
}

// send encodes and writes m.
func (c *Client) send(m Message) error {
	if c.opts.Trace != nil {
		c.opts.Trace(true, m)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.opts.ForwarderNodeID != nil {
		c.wbuf, err = Append(c.wbuf[:0], &Encapsulated{WirelessNodeID: c.opts.ForwarderNodeID, Msg: m})
	} else {
		c.wbuf, err = Append(c.wbuf[:0], m)
	}
	if err != nil {
		return err
	}
	if _, err = c.conn.Write(c.wbuf); err != nil {
		if c.closed.Load() {
			return ErrClientClosed
		}
		return err
	}
	c.lastSend.Store(time.Now().UnixNano())
	return nil
}

// wait registers interest in the answer (t, id) before the request is sent.
func (c *Client) wait(t MsgType, id uint16) chan Message {
	ch := make(chan Message, 4)
	c.mu.Lock()
	c.waits[waitKey{t, id}] = ch
	c.mu.Unlock()
	return ch
}

func (c *Client) unwait(keys ...waitKey) {
	c.mu.Lock()
	for _, k := range keys {
		delete(c.waits, k)
	}
	c.mu.Unlock()
}

// exchange sends req (again after each RetryInterval, with resend for the retransmission
// when not nil) until one of the answers in ch arrives.
func (c *Client) exchange(ctx context.Context, req, resend Message, ch chan Message) (Message, error) {
	if resend == nil {
		resend = req
	}
	t := time.NewTimer(c.opts.RetryInterval)
	defer t.Stop()
	for try := 0; ; try++ {
		m := req
		if try > 0 {
			m = resend
		}
		select {
		case <-c.refused: // about an earlier datagram
		default:
		}
		if err := c.send(m); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil, ErrGatewayUnreachable
			}
			return nil, err
		}
		select {
		case a := <-ch:
			return a, nil
		case <-c.refused:
			return nil, ErrGatewayUnreachable
		case <-t.C:
			if try >= c.opts.MaxRetries {
				return nil, fmt.Errorf("%w: %s sent %d times", ErrTimeout, req.Type(), try+1)
			}
			t.Reset(c.opts.RetryInterval)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, ErrClientClosed
		case <-c.gone:
			return nil, c.Err()
		}
	}
}

// msgID returns a MsgId no exchange in progress uses. c.mu is held.
func (c *Client) msgIDLocked() uint16 {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		busy := false
		for k := range c.waits {
			if k.id == c.nextID {
				busy = true
				break
			}
		}
		if !busy {
			return c.nextID
		}
	}
}

func (c *Client) msgID() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgIDLocked()
}

// Connect sends CONNECT, answers the will dialogue and waits for CONNACK [MQTT-SN 6.2]. A
// refusal is returned as its ReturnCode (which is an error). Connect is also how a sleeping
// client becomes active again [MQTT-SN 6.14].
func (c *Client) Connect(ctx context.Context) error {
	ch := c.wait(CONNACK, 0)
	c.mu.Lock()
	c.waits[waitKey{WILLTOPICREQ, 0}] = ch
	c.waits[waitKey{WILLMSGREQ, 0}] = ch
	c.mu.Unlock()
	defer c.unwait(waitKey{CONNACK, 0}, waitKey{WILLTOPICREQ, 0}, waitKey{WILLMSGREQ, 0})
	w := c.opts.Will
	var req Message = &Connect{Will: w != nil, CleanSession: c.opts.CleanSession, ProtocolID: ProtocolID,
		Duration: c.opts.KeepAlive, ClientID: c.opts.ClientID}
	for range 8 {
		a, err := c.exchange(ctx, req, nil, ch)
		if err != nil {
			return err
		}
		switch a := a.(type) {
		case *WillTopicReq:
			req = &WillTopic{QoS: w.QoS, Retain: w.Retain, Topic: w.Topic}
		case *WillMsgReq:
			req = &WillMsg{Msg: w.Payload}
		case *Connack:
			if a.ReturnCode != Accepted {
				return a.ReturnCode
			}
			c.mu.Lock()
			c.connected, c.asleep = true, false
			c.mu.Unlock()
			c.startKeepAlive()
			return nil
		}
		if w == nil {
			return fmt.Errorf("mqtt-sn client: the gateway asked for a will, none was given")
		}
	}
	return fmt.Errorf("mqtt-sn client: the will dialogue does not end")
}

// Register returns the topic id of name, registering it with the gateway when the client
// has none [MQTT-SN 6.5].
func (c *Client) Register(ctx context.Context, name string) (uint16, error) {
	c.mu.Lock()
	if id, ok := c.topics[name]; ok {
		c.mu.Unlock()
		return id, nil
	}
	if !c.connected {
		c.mu.Unlock()
		return 0, ErrNotConnected
	}
	id := c.msgIDLocked()
	ch := make(chan Message, 4)
	c.waits[waitKey{REGACK, id}] = ch
	c.mu.Unlock()
	defer c.unwait(waitKey{REGACK, id})
	a, err := c.exchange(ctx, &Register{MsgID: id, TopicName: name}, nil, ch)
	if err != nil {
		return 0, err
	}
	ra := a.(*Regack)
	if ra.ReturnCode != Accepted {
		return 0, ra.ReturnCode
	}
	c.learn(name, ra.TopicID)
	return ra.TopicID, nil
}

// learn records that the normal topic id id names name. A gateway may give an id it used
// before to another topic (it recycles ids): the previous pairing of either is forgotten.
func (c *Client) learn(name string, id uint16) {
	c.mu.Lock()
	if c.topics == nil {
		c.topics, c.names = map[string]uint16{}, map[uint16]string{}
	}
	if old, ok := c.names[id]; ok && old != name {
		delete(c.topics, old)
	}
	if old, ok := c.topics[name]; ok && old != id {
		delete(c.names, old)
	}
	c.topics[name], c.names[id] = id, name
	c.mu.Unlock()
}

func (c *Client) forget(name string) {
	c.mu.Lock()
	if id, ok := c.topics[name]; ok {
		delete(c.topics, name)
		delete(c.names, id)
	}
	c.mu.Unlock()
}

// resolve turns a PublishMessage's topic into a TopicIdType and TopicId.
func (c *Client) resolve(ctx context.Context, m *PublishMessage) (TopicIDType, uint16, error) {
	switch m.TopicIDType {
	case TopicPredefined:
		if m.TopicID == 0 && m.Topic != "" {
			if id, ok := c.opts.Predefined.ID(c.opts.ClientID, m.Topic); ok {
				return TopicPredefined, id, nil
			}
			return 0, 0, fmt.Errorf("mqtt-sn client: %q is not a predefined topic", m.Topic)
		}
		return TopicPredefined, m.TopicID, nil
	case TopicShort:
		id, ok := ShortTopicID(m.Topic)
		if !ok {
			return 0, 0, fmt.Errorf("mqtt-sn client: short topic name %q is not two characters", m.Topic)
		}
		return TopicShort, id, nil
	case TopicNormal:
		if m.QoS == QoSMinus1 {
			return 0, 0, errors.New("mqtt-sn client: QoS -1 needs a predefined topic id or a short topic name")
		}
		id, err := c.Register(ctx, m.Topic)
		return TopicNormal, id, err
	}
	return 0, 0, fmt.Errorf("mqtt-sn client: topic id type %d", m.TopicIDType)
}

// Publish sends a PUBLISH [MQTT-SN 6.6, 6.8] and, at QoS 1 and 2, waits for its completion;
// a refusal is returned as its ReturnCode. QoS −1 needs no connection. At most MaxInflight
// QoS 1/2 publishes are in flight; more wait.
func (c *Client) Publish(ctx context.Context, m PublishMessage) error {
	if m.QoS < QoSMinus1 || m.QoS > QoS2 {
		return fmt.Errorf("mqtt-sn client: QoS %d", m.QoS)
	}
	c.mu.Lock()
	connected := c.connected
	c.mu.Unlock()
	if !connected && m.QoS != QoSMinus1 {
		return ErrNotConnected
	}
	typ, id, err := c.resolve(ctx, &m)
	if err != nil {
		return err
	}
	p := &Publish{QoS: m.QoS, Retain: m.Retain, TopicIDType: typ, TopicID: id, Data: m.Payload}
	if m.QoS <= QoS0 {
		return c.send(p)
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	p.MsgID = c.msgID()
	ack, comp, rec := waitKey{PUBACK, p.MsgID}, waitKey{PUBCOMP, p.MsgID}, waitKey{PUBREC, p.MsgID}
	ch := make(chan Message, 4)
	c.mu.Lock()
	c.waits[ack], c.waits[rec], c.waits[comp] = ch, ch, ch
	c.mu.Unlock()
	defer c.unwait(ack, rec, comp)
	dup := *p
	dup.Dup = true
	a, err := c.exchange(ctx, p, &dup, ch)
	if err != nil {
		return err
	}
	if pa, ok := a.(*Puback); ok {
		if pa.ReturnCode == RejectedInvalidTopicID && typ == TopicNormal {
			c.forget(m.Topic) // the gateway lost our registration: register again next time
		}
		if pa.ReturnCode != Accepted {
			return pa.ReturnCode
		}
		return nil
	}
	if _, ok := a.(*Pubrec); ok && m.QoS == QoS2 {
		a, err = c.exchange(ctx, &Pubrel{MsgID: p.MsgID}, nil, ch)
		if err != nil {
			return err
		}
		if _, ok := a.(*Pubcomp); ok {
			return nil
		}
	}
	return fmt.Errorf("mqtt-sn client: unexpected %s for QoS %d PUBLISH", a.Type(), m.QoS)
}

// SubscribeRequest is what Subscribe asks for: a topic name or filter, or a predefined
// topic id, or a short topic name, as in PublishMessage.
type SubscribeRequest struct {
	Topic       string
	TopicIDType TopicIDType
	TopicID     uint16
	QoS         QoS
}

// Subscribe sends SUBSCRIBE and returns the SUBACK; a refusal is returned as its
// ReturnCode, with the SUBACK [MQTT-SN 6.9].
func (c *Client) Subscribe(ctx context.Context, r SubscribeRequest) (*Suback, error) {
	s := &Subscribe{QoS: r.QoS, TopicIDType: r.TopicIDType, TopicName: r.Topic, TopicID: r.TopicID}
	if r.TopicIDType == TopicShort {
		id, ok := ShortTopicID(r.Topic)
		if !ok {
			return nil, fmt.Errorf("mqtt-sn client: short topic name %q is not two characters", r.Topic)
		}
		s.TopicID, s.TopicName = id, ""
	}
	a, err := c.request(ctx, SUBACK, func(id uint16) (Message, Message) {
		s.MsgID = id
		d := *s
		d.Dup = true
		return s, &d
	})
	if err != nil {
		return nil, err
	}
	sa := a.(*Suback)
	if sa.ReturnCode != Accepted {
		return sa, sa.ReturnCode
	}
	if r.TopicIDType == TopicNormal && sa.TopicID != 0 && !strings.ContainsAny(r.Topic, "+#") {
		// [MQTT-SN 5.4.16] The id the gateway's PUBLISHes on this topic will carry: a normal
		// id, or the topic's predefined id, which SUBACK does not tell apart. It names the
		// messages that arrive; publishing REGISTERs the name, which gives the normal id.
		c.mu.Lock()
		if c.subNames == nil {
			c.subNames = map[uint16]string{}
		}
		c.subNames[sa.TopicID] = r.Topic
		c.mu.Unlock()
	}
	return sa, nil
}

// Unsubscribe sends UNSUBSCRIBE and waits for UNSUBACK [MQTT-SN 6.10].
func (c *Client) Unsubscribe(ctx context.Context, r SubscribeRequest) error {
	u := &Unsubscribe{TopicIDType: r.TopicIDType, TopicName: r.Topic, TopicID: r.TopicID}
	if r.TopicIDType == TopicShort {
		id, _ := ShortTopicID(r.Topic)
		u.TopicID, u.TopicName = id, ""
	}
	_, err := c.request(ctx, UNSUBACK, func(id uint16) (Message, Message) { u.MsgID = id; return u, u })
	return err
}

// request runs an exchange answered by type t with the same MsgId.
func (c *Client) request(ctx context.Context, t MsgType, build func(id uint16) (Message, Message)) (Message, error) {
	c.mu.Lock()
	if !c.connected {
		c.mu.Unlock()
		return nil, ErrNotConnected
	}
	id := c.msgIDLocked()
	ch := make(chan Message, 4)
	c.waits[waitKey{t, id}] = ch
	c.mu.Unlock()
	defer c.unwait(waitKey{t, id})
	req, resend := build(id)
	return c.exchange(ctx, req, resend, ch)
}

// Ping sends PINGREQ and waits for PINGRESP [MQTT-SN 6.11].
func (c *Client) Ping(ctx context.Context) error {
	ch := c.wait(PINGRESP, 0)
	defer c.unwait(waitKey{PINGRESP, 0})
	_, err := c.exchange(ctx, &Pingreq{}, nil, ch)
	return err
}

// Sleep sends DISCONNECT with a duration in seconds: the gateway buffers messages until
// Wake [MQTT-SN 6.14].
func (c *Client) Sleep(ctx context.Context, duration uint16) error {
	ch := c.wait(DISCONNECT, 0)
	defer c.unwait(waitKey{DISCONNECT, 0})
	if _, err := c.exchange(ctx, &Disconnect{HasDuration: true, Duration: duration}, nil, ch); err != nil {
		return err
	}
	c.mu.Lock()
	c.asleep = true
	c.mu.Unlock()
	return nil
}

// Wake sends PINGREQ with the client id and returns at PINGRESP; what the gateway buffered
// arrives before it, through OnMessage [MQTT-SN 6.14]. The client is asleep again after.
func (c *Client) Wake(ctx context.Context) error {
	ch := c.wait(PINGRESP, 0)
	defer c.unwait(waitKey{PINGRESP, 0})
	_, err := c.exchange(ctx, &Pingreq{ClientID: c.opts.ClientID}, nil, ch)
	return err
}

// Disconnect sends DISCONNECT and waits for the gateway's [MQTT-SN 6.12].
func (c *Client) Disconnect(ctx context.Context) error {
	ch := c.wait(DISCONNECT, 0)
	defer c.unwait(waitKey{DISCONNECT, 0})
	_, err := c.exchange(ctx, &Disconnect{}, nil, ch)
	c.mu.Lock()
	c.connected = false
	c.mu.Unlock()
	return err
}

// SearchGateway sends SEARCHGW and returns the first GWINFO [MQTT-SN 6.1].
func (c *Client) SearchGateway(ctx context.Context, radius byte) (*GWInfo, error) {
	ch := c.wait(GWINFO, 0)
	defer c.unwait(waitKey{GWINFO, 0})
	a, err := c.exchange(ctx, &SearchGW{Radius: radius}, nil, ch)
	if err != nil {
		return nil, err
	}
	return a.(*GWInfo), nil
}

// UpdateWill changes the will topic (WILLTOPICUPD; an empty w.Topic deletes the will) and,
// when the topic is kept, the message (WILLMSGUPD) [MQTT-SN 6.4].
func (c *Client) UpdateWill(ctx context.Context, w Will) error {
	ch := c.wait(WILLTOPICRESP, 0)
	defer c.unwait(waitKey{WILLTOPICRESP, 0})
	a, err := c.exchange(ctx, &WillTopicUpd{QoS: w.QoS, Retain: w.Retain, Topic: w.Topic}, nil, ch)
	if err != nil {
		return err
	}
	if rc := a.(*WillTopicResp).ReturnCode; rc != Accepted {
		return rc
	}
	if w.Topic == "" {
		return nil
	}
	ch = c.wait(WILLMSGRESP, 0)
	defer c.unwait(waitKey{WILLMSGRESP, 0})
	if a, err = c.exchange(ctx, &WillMsgUpd{Msg: w.Payload}, nil, ch); err != nil {
		return err
	}
	if rc := a.(*WillMsgResp).ReturnCode; rc != Accepted {
		return rc
	}
	return nil
}

// startKeepAlive runs the keep-alive goroutine once: PINGREQ when nothing was sent for the
// keep alive; the gateway not answering it after the retries ends the connection.
func (c *Client) startKeepAlive() {
	if c.opts.KeepAlive == 0 {
		return
	}
	c.mu.Lock()
	running := c.pinging
	c.pinging = true
	c.mu.Unlock()
	if running {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ka := time.Duration(c.opts.KeepAlive) * time.Second
		t := time.NewTicker(min(ka/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-c.gone:
				return
			case now := <-t.C:
				c.mu.Lock()
				idle := c.connected && !c.asleep && now.UnixNano()-c.lastSend.Load() >= int64(ka)*3/4
				c.mu.Unlock()
				if !idle {
					continue
				}
				if err := c.Ping(context.Background()); errors.Is(err, ErrTimeout) {
					c.setGone(fmt.Errorf("mqtt-sn client: the gateway does not answer PINGREQ: %w", err))
					return
				}
			}
		}
	}()
}

// readLoop reads the gateway's messages until the socket is closed.
func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	buf := make([]byte, MaxMessageSize+1)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			if c.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				select {
				case c.refused <- struct{}{}:
				default:
				}
			}
			// E.g. ICMP port unreachable while the gateway is down; a pause keeps an error
			// that repeats from spinning the loop.
			time.Sleep(time.Millisecond)
			continue
		}
		m, err := Decode(buf[:n])
		if err != nil {
			continue
		}
		if e, ok := m.(*Encapsulated); ok {
			if c.opts.ForwarderNodeID == nil || string(e.WirelessNodeID) != string(c.opts.ForwarderNodeID) {
				continue
			}
			m = e.Msg
		}
		if c.opts.Trace != nil {
			c.opts.Trace(false, m)
		}
		c.dispatch(m)
	}
}

// dispatch hands an answer to its waiter, or handles what the gateway sends unasked.
func (c *Client) dispatch(m Message) {
	var key waitKey
	switch m := m.(type) {
	case *Publish:
		c.onPublish(m)
		return
	case *Register:
		// [MQTT-SN 6.5] The gateway names a topic before publishing on it.
		c.learn(m.TopicName, m.TopicID)
		_ = c.send(&Regack{TopicID: m.TopicID, MsgID: m.MsgID, ReturnCode: Accepted})
		return
	case *Pubrel:
		c.mu.Lock()
		delete(c.qos2In, m.MsgID)
		c.mu.Unlock()
		_ = c.send(&Pubcomp{MsgID: m.MsgID})
		return
	case *Connack, *WillTopicReq, *WillMsgReq, *Pingresp, *GWInfo, *WillTopicResp, *WillMsgResp:
		key = waitKey{m.Type(), 0}
	case *Disconnect:
		key = waitKey{DISCONNECT, 0}
	case *Regack:
		key = waitKey{REGACK, m.MsgID}
	case *Puback:
		key = waitKey{PUBACK, m.MsgID}
	case *Pubrec:
		key = waitKey{PUBREC, m.MsgID}
	case *Pubcomp:
		key = waitKey{PUBCOMP, m.MsgID}
	case *Suback:
		key = waitKey{SUBACK, m.MsgID}
	case *Unsuback:
		key = waitKey{UNSUBACK, m.MsgID}
	default:
		return
	}
	c.mu.Lock()
	ch := c.waits[key]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
		return
	}
	if key.t == DISCONNECT {
		c.setGone(ErrGatewayDisconnect)
	}
}

// onPublish delivers a PUBLISH and acknowledges it [MQTT-SN 6.6]; a QoS 2 message is
// delivered once, at its first arrival.
func (c *Client) onPublish(p *Publish) {
	cm := &ClientMessage{TopicIDType: p.TopicIDType, TopicID: p.TopicID, QoS: p.QoS, Retain: p.Retain, Dup: p.Dup,
		Payload: append([]byte(nil), p.Data...)}
	known := true
	c.mu.Lock()
	switch p.TopicIDType {
	case TopicNormal:
		if cm.Topic, known = c.names[p.TopicID]; !known {
			cm.Topic, known = c.subNames[p.TopicID]
		}
	case TopicShort:
		cm.Topic = ShortTopicName(p.TopicID)
	case TopicPredefined:
		var ok bool
		if cm.Topic, ok = c.opts.Predefined.Topic(c.opts.ClientID, p.TopicID); !ok {
			cm.Topic = c.subNames[p.TopicID]
		}
	}
	dupQoS2 := p.QoS == QoS2 && c.qos2In[p.MsgID]
	if p.QoS == QoS2 && !dupQoS2 {
		if c.qos2In == nil {
			c.qos2In = map[uint16]bool{}
		}
		c.qos2In[p.MsgID] = true
	}
	c.mu.Unlock()
	if !known {
		_ = c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID, ReturnCode: RejectedInvalidTopicID})
		return
	}
	if !dupQoS2 && c.opts.OnMessage != nil {
		c.opts.OnMessage(cm)
	}
	switch p.QoS {
	case QoS1:
		_ = c.send(&Puback{TopicID: p.TopicID, MsgID: p.MsgID, ReturnCode: Accepted})
	case QoS2:
		_ = c.send(&Pubrec{MsgID: p.MsgID})
	}
}
