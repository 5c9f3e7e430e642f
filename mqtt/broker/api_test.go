package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// inprocCollector gathers in-process deliveries.
type inprocCollector struct {
	ch chan Delivery
}

func newInprocCollector() *inprocCollector { return &inprocCollector{ch: make(chan Delivery, 1024)} }

func (c *inprocCollector) handle(d Delivery) { c.ch <- d }

func (c *inprocCollector) next(t *testing.T) Delivery {
	t.Helper()
	select {
	case d := <-c.ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5 s")
		return Delivery{}
	}
}

func (c *inprocCollector) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-c.ch:
		t.Fatalf("unexpected delivery %q %q", got.Topic, got.Payload)
	case <-time.After(d):
	}
}

// An in-process subscriber sees network publishes at every QoS (at the
// lower of the two QoS), retained messages on subscribe, and the reverse:
// an in-process Publish reaches network subscribers with its properties
// and is retained.
func TestInProcessPublishSubscribe(t *testing.T) {
	b, addr := startBroker(t, nil)
	pub := connectRaw(t, addr, packet.V5, "net-pub")
	pub.Send(&packet.Publish{Topic: "home/kitchen/temp", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("21.5")})
	pub.Recv()

	col := newInprocCollector()
	sub, err := b.Subscribe("home/#", SubscribeOptions{QoS: 1}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	if d := col.next(t); d.Topic != "home/kitchen/temp" || !d.Retained || string(d.Payload) != "21.5" || d.QoS != 1 {
		t.Fatalf("retained on subscribe: %+v %q", d, d.Payload)
	}
	for q := byte(0); q <= 2; q++ {
		pub.Send(&packet.Publish{Topic: "home/hall", QoS: q, PacketID: uint16(10 + q), Payload: []byte{'a' + q}})
		if q == 2 {
			pub.Recv() // PUBREC
			pub.Send(&packet.Pubrel{PacketID: 12})
		}
		if q > 0 {
			pub.Recv()
		}
		d := col.next(t)
		if d.Topic != "home/hall" || d.QoS != min(q, 1) || d.Retained || string(d.Payload) != string([]byte{'a' + q}) {
			t.Fatalf("QoS %d: %+v %q", q, d, d.Payload)
		}
	}
	found := false
	for _, c := range b.Clients() {
		if c.ClientID == sub.ClientID() {
			found = c.Connected && len(c.Subscriptions) == 1 && c.Subscriptions[0] == "home/#"
		}
	}
	if !found || !strings.HasPrefix(sub.ClientID(), "$inproc-") {
		t.Fatalf("subscription session %q not listed as connected with its filter: %+v", sub.ClientID(), b.Clients())
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	pub.Send(&packet.Publish{Topic: "home/hall", Payload: []byte("after")})
	col.none(t, 100*time.Millisecond)

	// In-process Publish to a network subscriber, with MQTT 5 properties.
	nsub := connectRaw(t, addr, packet.V5, "net-sub")
	nsub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cmd/#", QoS: 2})
	err = b.Publish(context.Background(), Message{Topic: "cmd/light", Payload: []byte("on"), QoS: 2, Retain: true,
		Props: &packet.Properties{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}, TopicAlias: 3, HasTopicAlias: true}})
	if err != nil {
		t.Fatal(err)
	}
	p := nsub.RecvPublish()
	if p.Topic != "cmd/light" || string(p.Payload) != "on" || p.QoS != 2 || p.Properties.ContentType != "text/plain" ||
		len(p.Properties.User) != 1 || p.Properties.HasTopicAlias {
		t.Fatalf("network subscriber got %+v", p)
	}
	late := connectRaw(t, addr, packet.V311, "late")
	late.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "cmd/light"})
	if p := late.RecvPublish(); !p.Retain || string(p.Payload) != "on" {
		t.Fatalf("retained in-process publish: %+v", p)
	}

	// No local: an in-process subscription does not get what its own id published.
	col2 := newInprocCollector()
	me, err := b.Subscribe("echo", SubscribeOptions{QoS: 1, NoLocal: true, ClientID: "echoer"}, col2.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer me.Unsubscribe()
	b.Publish(context.Background(), Message{Topic: "echo", Payload: []byte("mine"), From: "echoer"})
	b.Publish(context.Background(), Message{Topic: "echo", Payload: []byte("theirs"), From: "other"})
	if d := col2.next(t); string(d.Payload) != "theirs" {
		t.Fatalf("no local: got %q", d.Payload)
	}
}

// denyAuthz refuses user bob anything under secret/.
type denyAuthz struct{}

func (denyAuthz) CanPublish(_ context.Context, c ClientInfo, t string, _ byte, _ bool) bool {
	return c.Username != "bob" || !strings.HasPrefix(t, "secret/")
}
func (denyAuthz) CanSubscribe(_ context.Context, c ClientInfo, f string) bool {
	return c.Username != "bob" || !strings.HasPrefix(f, "secret/")
}
func (denyAuthz) CanRead(_ context.Context, c ClientInfo, t string) bool {
	return c.Username != "bob" || !strings.HasPrefix(t, "secret/")
}

// The in-process API applies the ACL when given an identity and trusts
// its caller otherwise.
func TestInProcessACL(t *testing.T) {
	b, addr := startBroker(t, func(o *Options) { o.Authorizer = denyAuthz{} })
	bob := &ClientInfo{ClientID: "bob-app", Username: "bob", HasUsername: true}
	if _, err := b.Subscribe("secret/#", SubscribeOptions{As: bob}, func(Delivery) {}); !errors.Is(err, packet.NotAuthorized) {
		t.Fatalf("Subscribe secret/# as bob: %v", err)
	}
	bobCol, trustedCol := newInprocCollector(), newInprocCollector()
	s1, err := b.Subscribe("#", SubscribeOptions{As: bob, QoS: 1}, bobCol.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Unsubscribe()
	s2, err := b.Subscribe("#", SubscribeOptions{QoS: 1}, trustedCol.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Unsubscribe()
	if err := b.PublishAs(context.Background(), *bob, Message{Topic: "secret/plan", Payload: []byte("x")}); !errors.Is(err, packet.NotAuthorized) {
		t.Fatalf("PublishAs secret as bob: %v", err)
	}
	if err := b.PublishAs(context.Background(), ClientInfo{ClientID: "x"}, Message{Topic: "$SYS/x", Payload: []byte("x")}); !errors.Is(err, packet.NotAuthorized) {
		t.Fatalf("PublishAs $SYS: %v", err)
	}
	pub := connectRaw(t, addr, packet.V311, "alice")
	pub.Send(&packet.Publish{Topic: "secret/plan", QoS: 1, PacketID: 1, Payload: []byte("s")})
	pub.Recv()
	pub.Send(&packet.Publish{Topic: "public/news", QoS: 1, PacketID: 2, Payload: []byte("p")})
	pub.Recv()
	if d := trustedCol.next(t); d.Topic != "secret/plan" {
		t.Fatalf("trusted first: %q", d.Topic)
	}
	if d := trustedCol.next(t); d.Topic != "public/news" {
		t.Fatalf("trusted second: %q", d.Topic)
	}
	if d := bobCol.next(t); d.Topic != "public/news" {
		t.Fatalf("bob got %q: the ACL must hide secret/plan", d.Topic)
	}
}

// Misuse of the API returns typed errors, never panics.
func TestInProcessMisuse(t *testing.T) {
	b, _ := startBroker(t, func(o *Options) { o.MaxQoS = 1 })
	ctx := context.Background()
	var pe *packet.Error
	for _, tc := range []struct {
		m    Message
		code packet.ReasonCode
	}{
		{Message{Topic: "a/+"}, packet.TopicNameInvalid},
		{Message{Topic: ""}, packet.TopicNameInvalid},
		{Message{Topic: "bad\x00topic"}, packet.TopicNameInvalid},
		{Message{Topic: "a", QoS: 3}, packet.QoSNotSupported},
		{Message{Topic: "a", QoS: 2}, packet.QoSNotSupported},
		{Message{Topic: strings.Repeat("a/", topic.MaxLevels) + "a"}, packet.TopicNameInvalid},
		{Message{Topic: "a", Props: &packet.Properties{ContentType: "bad\xff"}}, packet.MalformedPacket},
		{Message{Topic: "a", Props: &packet.Properties{HasPayloadFormat: true, PayloadFormat: 7}}, packet.ProtocolError},
		{Message{Topic: "a", Props: &packet.Properties{ResponseTopic: "reply/#"}}, packet.ProtocolError},
		{Message{Topic: "a", Props: &packet.Properties{User: []packet.UserProperty{{Key: "k\x00", Value: "v"}}}}, packet.MalformedPacket},
	} {
		if err := b.Publish(ctx, tc.m); !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("Publish %+v: %v, want %v", tc.m, err, tc.code)
		}
	}
	for _, f := range []string{"", "a/#/b", "a+", "$share/g"} {
		if _, err := b.Subscribe(f, SubscribeOptions{}, func(Delivery) {}); !errors.As(err, &pe) || pe.Code != packet.TopicFilterInvalid {
			t.Errorf("Subscribe %q: %v", f, err)
		}
	}
	if _, err := b.Subscribe("a", SubscribeOptions{QoS: 3}, func(Delivery) {}); !errors.As(err, &pe) || pe.Code != packet.QoSNotSupported {
		t.Errorf("Subscribe QoS 3: %v", err)
	}
	if _, err := b.Subscribe("a", SubscribeOptions{}, nil); err == nil {
		t.Error("Subscribe with a nil handler accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Publish(cctx, Message{Topic: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a cancelled context: %v", err)
	}
	if err := b.Disconnect("nobody", packet.AdministrativeAction); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Disconnect of an unknown client: %v", err)
	}
	b.Close()
	if err := b.Publish(ctx, Message{Topic: "a"}); !errors.Is(err, ErrBrokerClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := b.Subscribe("a", SubscribeOptions{}, func(Delivery) {}); !errors.Is(err, ErrBrokerClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if err := b.Disconnect("x", 0x98); !errors.Is(err, ErrBrokerClosed) {
		t.Errorf("Disconnect after Close: %v", err)
	}
}

// Disconnect ends a client's connection with the given reason; Clients
// shows sessions online and offline.
func TestClientsAndDisconnect(t *testing.T) {
	b, addr := startBroker(t, nil)
	r := dialRaw(t, addr, packet.V5)
	r.Connect(&packet.Connect{ClientID: "dev-1", Username: "u1", UsernameFlag: true,
		Properties: packet.Properties{SessionExpiry: 60, HasSessionExpiry: true}})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "b/#", QoS: 1}, packet.Subscription{Filter: "a", QoS: 0})
	cs := b.Clients()
	if len(cs) != 1 || cs[0].ClientID != "dev-1" || cs[0].Username != "u1" || !cs[0].Connected ||
		cs[0].ProtocolVersion != packet.V5 || cs[0].SessionExpiry != 60 || strings.Join(cs[0].Subscriptions, ",") != "a,b/#" ||
		cs[0].Remote == nil || cs[0].ConnectedSince.IsZero() || time.Since(cs[0].ConnectedSince) > time.Minute {
		t.Fatalf("Clients: %+v", cs)
	}
	if err := b.Disconnect("dev-1", packet.AdministrativeAction); err != nil {
		t.Fatal(err)
	}
	got := r.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].(*packet.Disconnect).ReasonCode != packet.AdministrativeAction {
		t.Fatalf("want DISCONNECT 0x98, got %+v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs = b.Clients()
		if len(cs) == 1 && !cs[0].Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not offline after Disconnect: %+v", cs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cs[0].Remote != nil || len(cs[0].Subscriptions) != 2 {
		t.Fatalf("offline session: %+v", cs[0])
	}
}

// hookLog records hook calls.
type hookLog struct {
	mu     sync.Mutex
	events []string
	drops  []DropReason
	signal chan struct{}
}

func (h *hookLog) add(s string) {
	h.mu.Lock()
	h.events = append(h.events, s)
	h.mu.Unlock()
	select {
	case h.signal <- struct{}{}:
	default:
	}
}

func (h *hookLog) reset() {
	h.mu.Lock()
	h.events = nil
	h.mu.Unlock()
}

// waitFor waits until the log holds want (in order, among others).
func (h *hookLog) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		h.mu.Lock()
		got := strings.Join(h.events, "|")
		h.mu.Unlock()
		if got == strings.Join(want, "|") {
			return
		}
		select {
		case <-h.signal:
		case <-deadline:
			t.Fatalf("hook events:\n got %s\nwant %s", got, strings.Join(want, "|"))
		}
	}
}

// Hooks see exact events; OnPublish refuses with its reason code; OnDrop
// says why; a panicking hook breaks nothing.
func TestHooks(t *testing.T) {
	h := &hookLog{signal: make(chan struct{}, 1)}
	b, addr := startBroker(t, func(o *Options) {
		o.MaxQueuedMessages = 1
		o.Hooks = Hooks{
			OnConnect: func(c ClientInfo) {
				h.add("connect " + c.ClientID)
				if c.ClientID == "panicky" {
					panic("hook bug")
				}
			},
			OnDisconnect: func(c ClientInfo, err error) {
				e := "nil"
				if err != nil {
					e = err.Error()
				}
				h.add("disconnect " + c.ClientID + " " + e)
			},
			OnSubscribe: func(c ClientInfo, f string, o topic.Options) {
				h.add("subscribe " + c.ClientID + " " + f + " q" + string('0'+o.QoS))
			},
			OnUnsubscribe: func(c ClientInfo, f string) { h.add("unsubscribe " + c.ClientID + " " + f) },
			OnPublish: func(c ClientInfo, m *Message) packet.ReasonCode {
				if strings.HasPrefix(m.Topic, "blocked/") {
					return packet.TopicNameInvalid
				}
				return packet.Success
			},
			OnDrop: func(e DropEvent) { h.add("drop " + e.ClientID + " " + e.Message.Topic + " " + e.Reason.String()) },
		}
	})
	r := connectRaw(t, addr, packet.V5, "h1")
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "t/#", QoS: 1})
	r.Send(&packet.Publish{Topic: "blocked/x", QoS: 1, PacketID: 1})
	if ack := r.Recv().(*packet.Puback); ack.ReasonCode != packet.TopicNameInvalid {
		t.Fatalf("OnPublish refusal: PUBACK %v", ack.ReasonCode)
	}
	r.Send(&packet.Unsubscribe{PacketID: 2, Filters: []string{"t/#"}})
	r.Recv()
	r.Send(&packet.Disconnect{})
	r.ExpectClosed(5 * time.Second)
	h.waitFor(t, "connect h1", "subscribe h1 t/# q1", "drop h1 blocked/x not authorized", "unsubscribe h1 t/#", "disconnect h1 nil")

	// Queue full: an offline persistent session with room for one message.
	h.reset()
	r = dialRaw(t, addr, packet.V311)
	r.Connect(&packet.Connect{ClientID: "sleepy"})
	r.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "q", QoS: 1})
	r.NC.Close()
	h.waitFor(t, "connect sleepy", "subscribe sleepy q q1", "disconnect sleepy "+errFromEOF())
	for i := range 2 {
		b.Publish(context.Background(), Message{Topic: "q", QoS: 1, Payload: []byte{byte(i)}})
	}
	h.waitFor(t, "connect sleepy", "subscribe sleepy q q1", "disconnect sleepy "+errFromEOF(), "drop sleepy q queue full")

	// A panicking hook: the client is connected, later events still come.
	h.reset()
	p := connectRaw(t, addr, packet.V311, "panicky")
	p.Send(&packet.Pingreq{})
	if _, ok := p.Recv().(*packet.Pingresp); !ok {
		t.Fatal("no PINGRESP after OnConnect panicked")
	}
	p.Send(&packet.Disconnect{})
	p.ExpectClosed(5 * time.Second)
	h.waitFor(t, "connect panicky", "disconnect panicky nil")
}

func errFromEOF() string { return "EOF" }

// A hook that blocks stalls nothing but the events behind it.
func TestSlowHookDoesNotStallRouting(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	_, addr := startBroker(t, func(o *Options) {
		o.Hooks.OnConnect = func(ClientInfo) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
	})
	defer close(release)
	sub := connectRaw(t, addr, packet.V311, "sub")
	<-entered
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "x", QoS: 1})
	pub := connectRaw(t, addr, packet.V311, "pub")
	for i := range 100 {
		pub.Send(&packet.Publish{Topic: "x", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
		pub.Recv()
		if p := sub.RecvPublish(); string(p.Payload) != "m" {
			t.Fatal(p)
		}
		sub.Send(&packet.Puback{PacketID: uint16(i + 1)})
	}
}

// Stats are exact.
func TestStatsCounts(t *testing.T) {
	b, addr := startBroker(t, nil)
	sub := connectRaw(t, addr, packet.V311, "s")
	sub.Subscribe(1, packet.Properties{}, packet.Subscription{Filter: "c/#", QoS: 2})
	pub := connectRaw(t, addr, packet.V311, "p")
	for i := range 5 {
		pub.Send(&packet.Publish{Topic: "c/1", QoS: 1, PacketID: uint16(i + 1), Payload: []byte("abc")})
		pub.Recv()
		sub.Send(&packet.Puback{PacketID: sub.RecvPublish().PacketID})
	}
	pub.Send(&packet.Publish{Topic: "c/1", Payload: []byte("zero")})
	sub.RecvPublish()
	st := b.Stats()
	if st.PublishReceived != [3]int64{1, 5, 0} || st.PublishSent != [3]int64{1, 5, 0} ||
		st.PayloadReceived != 19 || st.PayloadSent != 19 || st.ClientsConnected != 2 || st.Subscriptions != 1 {
		t.Fatalf("Stats: %+v", st)
	}
}

// New refuses options that cannot work, naming them; zero timeouts and
// sizes take their defaults.
func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Options)
	}{
		{"max QoS", func(o *Options) { o.MaxQoS = 3 }},
		{"max queued messages", func(o *Options) { o.MaxQueuedMessages = -1 }},
		{"max queued bytes", func(o *Options) { o.MaxQueuedBytes = -1 }},
		{"message size limit", func(o *Options) { o.MessageSizeLimit = -5 }},
		{"memory limit", func(o *Options) { o.MemoryLimit = -1 }},
		{"sys interval", func(o *Options) { o.SysInterval = -time.Second }},
		{"persistent client expiration", func(o *Options) { o.PersistentClientExpiration = -time.Hour }},
		{"max connect size", func(o *Options) { o.MaxConnectSize = 1 }},
		{"max packet size", func(o *Options) { o.MaxPacketSize = 5 }},
		{"max inflight bytes", func(o *Options) { o.MaxInflightBytes = -1 }},
	} {
		o := DefaultOptions()
		tc.mod(&o)
		if b, err := New(o, nil); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: New = %v, want an error naming it", tc.name, err)
			if b != nil {
				b.Close()
			}
		}
	}
	var zero Options
	b, err := New(zero, nil)
	if err != nil {
		t.Fatalf("zero Options: %v", err)
	}
	defer b.Close()
	if b.opts.ConnectTimeout != 10*time.Second || b.opts.MaxConnectSize != 64<<10 || b.opts.AutoIDPrefix != "auto-" {
		t.Errorf("zero Options: defaults not taken: %+v", b.opts)
	}
}
