package bench

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
	"github.com/mqttkit/mqtt/mqtt/client"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// The retained scenario stores every message on a topic of its own, and every storm
// subscriber on '#' gets all of them once.
func TestRetainedStorm(t *testing.T) {
	m := testutil.StartMosquitto(t)
	rep := run(t, Config{Scenario: ScenarioRetained, Server: m.Addr, Clients: 2, Count: 300, Subs: 3, SubTopic: "#", Drain: 5 * time.Second})
	x := rep.Retained
	if x == nil {
		t.Fatal("no retained section in the report")
	}
	if x.Stored != 600 || x.Subscribers != 3 || x.Complete != 3 || x.AllS <= 0 || x.FirstS <= 0 || x.FirstS > x.AllS {
		t.Fatalf("retained %+v, errors %v", *x, rep.Errors)
	}
	mm := rep.Messages
	if mm.Sent != 600 || mm.Acked != 600 || mm.Expected != 1800 || mm.Received != 1800 || mm.Lost != 0 || mm.Duplicated != 0 {
		t.Fatalf("messages %+v", mm)
	}
	// The topics are distinct: an outside subscriber sees 600 retained messages.
	got := make(chan string, 1000)
	c, err := client.Dial(context.Background(), client.Options{Server: m.Addr, CleanStart: true,
		OnMessage: func(msg *client.Message) {
			if msg.Retain {
				got <- msg.Topic
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(context.Background(), []packet.Subscription{{Filter: "bench/retained/#"}}, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for timeout := time.After(10 * time.Second); len(seen) < 600; {
		select {
		case tp := <-got:
			seen[tp] = true
		case <-timeout:
			t.Fatalf("an outside subscriber saw %d distinct retained topics, want 600", len(seen))
		}
	}
	if !seen["bench/retained/1/299"] {
		t.Fatal("no bench/retained/1/299: %i/%n not filled in")
	}
}

// --index subscriptions are granted and held while the pubsub run routes as usual.
func TestIndex(t *testing.T) {
	m := testutil.StartMosquitto(t)
	rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Clients: 2, Count: 200, QoS: 1, Index: 25000})
	x := rep.Index
	if x == nil || x.Subscriptions != 25000 || x.Connections != 3 || x.SubscribeS <= 0 {
		t.Fatalf("index %+v, errors %v", x, rep.Errors)
	}
	if mm := rep.Messages; mm.Received != 400 || mm.Lost != 0 || rep.Connections.Lost != 0 {
		t.Fatalf("messages %+v, connections %+v", mm, rep.Connections)
	}
	if rep.Config.IndexTopic != DefaultIndexTopic {
		t.Fatalf("index topic %q", rep.Config.IndexTopic)
	}
}

// --topic-alias sends the topic once and then only the alias; the broker resolves it,
// so an outside v5 subscriber sees the full topic and the -D publish properties on every
// message.
func TestTopicAliasAndPublishProperties(t *testing.T) {
	m := testutil.StartMosquitto(t)
	var mu sync.Mutex
	var bad []string
	n := 0
	all := make(chan struct{})
	c, err := client.Dial(context.Background(), client.Options{Server: m.Addr, CleanStart: true, ProtocolVersion: packet.V5,
		OnMessage: func(msg *client.Message) {
			mu.Lock()
			defer mu.Unlock()
			if msg.Topic != "alias/0" || len(msg.Properties.User) != 1 || msg.Properties.User[0].Value != "v" || !msg.Properties.HasMessageExpiry {
				bad = append(bad, msg.Topic)
			}
			if n++; n == 300 {
				close(all)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(context.Background(), []packet.Subscription{{Filter: "alias/#", QoS: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	props := packet.Properties{User: []packet.UserProperty{{Key: "k", Value: "v"}}, MessageExpiry: 60, HasMessageExpiry: true}
	rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Version: packet.V5, Clients: 1, Subs: 2, Count: 300, QoS: 1,
		Topic: "alias/%i", TopicAlias: true, PublishProperties: props})
	if mm := rep.Messages; mm.Received != 600 || mm.Lost != 0 || mm.AckErrors != 0 {
		t.Fatalf("messages %+v, errors %v", mm, rep.Errors)
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatalf("the outside subscriber got %d of 300", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d messages lost their topic or properties (first: %q)", len(bad), bad[0])
	}
}

// --topic-alias against a broker that allows none stops the run with ErrNoTopicAlias
// instead of publishing with aliases the broker would refuse.
func TestTopicAliasRefused(t *testing.T) {
	m := testutil.StartMosquitto(t, "max_topic_alias 0")
	_, err := Run(context.Background(), Config{Scenario: ScenarioPubSub, Server: m.Addr, Version: packet.V5, TopicAlias: true, Count: 10})
	if !errors.Is(err, ErrNoTopicAlias) {
		t.Fatalf("err %v, want ErrNoTopicAlias", err)
	}
}

// --stagger spreads the publishers' first messages over one interval: with 4 publishers
// at 1 msg/s, publisher 3 starts 750 ms after publisher 0.
func TestStagger(t *testing.T) {
	m := testutil.StartMosquitto(t)
	first := map[string]time.Time{}
	var mu sync.Mutex
	got := make(chan struct{}, 16)
	c, err := client.Dial(context.Background(), client.Options{Server: m.Addr, CleanStart: true,
		OnMessage: func(msg *client.Message) {
			mu.Lock()
			if _, ok := first[msg.Topic]; !ok {
				first[msg.Topic] = time.Now()
				got <- struct{}{}
			}
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Subscribe(context.Background(), []packet.Subscription{{Filter: "st/#"}}, nil); err != nil {
		t.Fatal(err)
	}
	run(t, Config{Scenario: ScenarioPub, Server: m.Addr, Clients: 4, Count: 1, Rate: 1, Stagger: true, Topic: "st/%i"})
	for i := 0; i < 4; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("first messages from %d of 4 publishers", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if d := first["st/3"].Sub(first["st/0"]); d < 500*time.Millisecond {
		t.Fatalf("publisher 3 started %s after publisher 0, want about 750 ms", d)
	}
}

// --broker-pid reports the process's CPU time and memory from /proc; here the broker is
// this test process itself, an in-process client's work stands in for a broker's.
func TestBrokerPID(t *testing.T) {
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Skip(err) // not Linux
	}
	m := testutil.StartMosquitto(t)
	rep := run(t, Config{Scenario: ScenarioPubSub, Server: m.Addr, Count: 2000, BrokerPID: os.Getpid()})
	b := rep.Broker
	if b == nil || b.PID != os.Getpid() || b.RSSKB <= 0 || b.RSSPeakKB < b.RSSKB || b.RSSBeforeKB <= 0 || b.CPUSeconds < b.RunCPUSeconds {
		t.Fatalf("broker %+v", b)
	}
	if _, err := Run(context.Background(), Config{Scenario: ScenarioConn, Server: m.Addr, BrokerPID: 1 << 30}); err == nil {
		t.Fatal("a --broker-pid with no such process was accepted")
	}
}
