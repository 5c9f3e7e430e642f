package bench

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mqttkit/mqtt/mqtt/packet"
	"github.com/mqttkit/mqtt/mqtt/topic"
)

// Scenario names.
const (
	ScenarioConn   = "conn"
	ScenarioPub    = "pub"
	ScenarioSub    = "sub"
	ScenarioPubSub = "pubsub"
	// ScenarioRetained preloads retained messages on distinct topics, then times a
	// subscribe storm: how long until every subscriber has all of them.
	ScenarioRetained = "retained"
)

// Defaults.
const (
	DefaultCount    = 1000
	DefaultSize     = 64
	DefaultTopic    = "bench/%i"
	DefaultInflight = 20
	DefaultDrain    = 2 * time.Second
	// DefaultRetainedTopic is the retained scenario's topic template: %n numbers the
	// messages of one publisher, so each is retained on a topic of its own.
	DefaultRetainedTopic = "bench/retained/%i/%n"
	// DefaultIndexTopic is the filter template of the --index subscriptions: %i is the
	// holding connection, %n the filter number. It shares the first levels of the default
	// topic, so the broker matches publishes against a crowded part of its index, yet
	// matches none of them.
	DefaultIndexTopic = "bench/%i/idx/%n"
	// indexPerConn is how many --index subscriptions one connection holds, and
	// indexPerPacket how many filters one SUBSCRIBE carries.
	indexPerConn    = 10000
	indexPerPacket  = 100
	quietDrain      = time.Second // the drain ends after this long with no message arriving
	connectTimeout  = 10 * time.Second
	maxParallelDial = 64 // connects in flight at once when Interval is 0
)

// Config describes one bench run. The zero values of the optional fields take the defaults
// above.
type Config struct {
	Scenario string

	// Where and how to connect.
	Server      string      // tcp://host:port, tls://, ws://host:port/path, wss://, unix:///path
	TLSConfig   *tls.Config // for tls:// and wss://
	Version     byte        // packet.V31, V311 or V5
	KeepAlive   uint16      // seconds; 0 disables PINGREQ
	KeepSession bool        // clean session off (-c); the zero value starts clean
	Username    string
	Password    string
	HasUser     bool
	HasPass     bool
	// ConnectProperties are sent in v5 CONNECT packets.
	ConnectProperties packet.Properties
	// IDPrefix starts every client id: PREFIX-p3 is publisher 3, -s subscriber, -c conn.
	IDPrefix string
	// SN makes publishers (and conn's clients) MQTT-SN clients of the gateway at SNGateway
	// (UDP host:port); subscribers stay MQTT on Server. See sn.go.
	SN        bool
	SNGateway string

	Clients  int           // conn: connections; pub, pubsub: publishers; sub: subscribers
	Subs     int           // pubsub: subscribers
	Count    int           // messages per publisher (sub: per subscriber); 0 with Duration
	Duration time.Duration // publish (conn: hold) for this long; 0: until Count
	Rate     float64       // messages/s per publisher, 0: as fast as possible
	QoS      byte
	Size     int    // payload bytes, >= HeaderSize
	Topic    string // template: %i client index, %c client id
	SubTopic string // pubsub: subscribers' filter template ("" derives it from Topic)
	Retain   bool
	Interval time.Duration // pause between connects
	Inflight int           // unacknowledged QoS 1/2 messages per publisher
	Drain    time.Duration // how long to wait for the last messages

	// PublishProperties are sent in every v5 PUBLISH (-D publish ...).
	PublishProperties packet.Properties
	// TopicAlias (v5): each publisher sends its topic once and then only topic alias 1,
	// and subscribers offer a Topic Alias Maximum so the broker may alias towards them.
	TopicAlias bool
	// Stagger spreads the publishers' first messages evenly over one --rate interval, so
	// that many slow publishers (a fleet at 1 msg/s) send steadily instead of in bursts.
	Stagger bool
	// Index (pubsub): subscriptions held in the broker's index during the run by extra
	// connections (indexPerConn each), on filters IndexTopic (%i connection, %n number).
	Index      int
	IndexTopic string
	// BrokerPID, when set, is the broker's process: its CPU time and resident memory are
	// read from /proc and reported (Linux only).
	BrokerPID int

	// Progress, when set, receives a status line once a second.
	Progress func(Snapshot)
}

func (c *Config) setDefaults() {
	if c.Version == 0 {
		c.Version = packet.V311
	}
	if c.Clients == 0 {
		c.Clients = 1
	}
	if c.Subs == 0 && (c.Scenario == ScenarioPubSub || c.Scenario == ScenarioRetained) {
		c.Subs = 1
	}
	if c.Count == 0 && c.Duration == 0 && c.Scenario != ScenarioConn {
		c.Count = DefaultCount
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
		if c.Scenario == ScenarioRetained {
			c.Topic = DefaultRetainedTopic
		}
	}
	if c.Index > 0 && c.IndexTopic == "" {
		c.IndexTopic = DefaultIndexTopic
	}
	if c.Inflight == 0 {
		c.Inflight = DefaultInflight
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.IDPrefix == "" {
		c.IDPrefix = "mqttbench-" + strconv.Itoa(pid())
	}
}

// Validate checks the configuration and names the flag at fault.
func (c *Config) Validate() error {
	switch c.Scenario {
	case ScenarioConn, ScenarioPub, ScenarioSub, ScenarioPubSub, ScenarioRetained:
	default:
		return fmt.Errorf("unknown scenario %q: expected conn, pub, sub, pubsub or retained", c.Scenario)
	}
	switch {
	case c.Clients < 1:
		return fmt.Errorf("-c/--clients must be at least 1, got %d", c.Clients)
	case c.Subs < 0:
		return fmt.Errorf("--subs must not be negative, got %d", c.Subs)
	case c.Count < 0:
		return fmt.Errorf("-n/--count must not be negative, got %d", c.Count)
	case c.Duration < 0:
		return fmt.Errorf("--duration must not be negative, got %s", c.Duration)
	case c.Rate < 0:
		return fmt.Errorf("--rate must not be negative, got %g", c.Rate)
	case c.QoS > 2:
		return fmt.Errorf("-q/--qos must be 0, 1 or 2, got %d", c.QoS)
	case c.Size < HeaderSize:
		return fmt.Errorf("-s/--size must be at least %d bytes (the bench header: publisher, sequence, timestamp), got %d", HeaderSize, c.Size)
	case c.Size > 256<<20:
		return fmt.Errorf("-s/--size must be at most 256 MiB, got %d", c.Size)
	case c.Interval < 0:
		return fmt.Errorf("--interval must not be negative, got %s", c.Interval)
	case c.Inflight < 1 || c.Inflight > 65535:
		return fmt.Errorf("--inflight must be 1 to 65535, got %d", c.Inflight)
	case c.Drain < 0:
		return fmt.Errorf("--drain must not be negative, got %s", c.Drain)
	case c.Server == "":
		return fmt.Errorf("no broker address")
	}
	if c.SN {
		switch {
		case c.Scenario == ScenarioSub || c.Scenario == ScenarioRetained:
			return fmt.Errorf("--sn applies to pub, pubsub and conn: subscribers stay MQTT")
		case c.TopicAlias:
			return fmt.Errorf("--topic-alias does not apply with --sn (MQTT-SN has topic ids instead)")
		case c.Stagger:
			return fmt.Errorf("--stagger does not apply with --sn")
		case c.SNGateway == "":
			return fmt.Errorf("--sn needs the gateway's address (--sn-gateway)")
		case c.Size > 65000:
			return fmt.Errorf("-s/--size must be at most 65000 bytes with --sn (one UDP datagram), got %d", c.Size)
		}
	}
	twoSided := c.Scenario == ScenarioPubSub || c.Scenario == ScenarioRetained
	if !twoSided && c.Subs > 0 {
		return fmt.Errorf("--subs applies to pubsub and retained only")
	}
	if !twoSided && c.SubTopic != "" {
		return fmt.Errorf("--sub-topic applies to pubsub and retained only")
	}
	switch {
	case c.TopicAlias && c.Version != packet.V5:
		return fmt.Errorf("--topic-alias needs MQTT 5 (-V 5)")
	case c.TopicAlias && c.Scenario != ScenarioPub && c.Scenario != ScenarioPubSub:
		return fmt.Errorf("--topic-alias applies to pub and pubsub only")
	case c.Stagger && c.Rate == 0:
		return fmt.Errorf("--stagger needs --rate")
	case c.Index < 0:
		return fmt.Errorf("--index must not be negative, got %d", c.Index)
	case c.Index > 0 && c.Scenario != ScenarioPubSub:
		return fmt.Errorf("--index applies to pubsub only")
	case c.IndexTopic != "" && c.Index == 0:
		return fmt.Errorf("--index-topic needs --index")
	case c.BrokerPID < 0:
		return fmt.Errorf("--broker-pid must be a process id, got %d", c.BrokerPID)
	}
	if c.Index > 0 {
		if !strings.Contains(c.IndexTopic, "%n") {
			return fmt.Errorf("--index-topic %q must contain %%n (the filter number), or every filter would be the same", c.IndexTopic)
		}
		if err := topic.ValidateFilter(expandN(c.IndexTopic, 0, "x", 0)); err != nil {
			return fmt.Errorf("--index-topic %q: %v", c.IndexTopic, err)
		}
	}
	if c.Scenario == ScenarioConn {
		return nil
	}
	if c.Scenario == ScenarioRetained {
		if c.Count == 0 {
			return fmt.Errorf("retained: -n/--count (retained messages per publisher) must be at least 1")
		}
		if !strings.Contains(c.Topic, "%n") {
			return fmt.Errorf("-t/--topic %q must contain %%n (the message number): retained messages need a topic each", c.Topic)
		}
		id := clientID(c.IDPrefix, 'p', 0)
		if err := topic.ValidateName(expandN(c.Topic, 0, id, 0)); err != nil {
			return fmt.Errorf("-t/--topic %q: %v", c.Topic, err)
		}
		if err := topic.ValidateFilter(expandN(c.subFilterTemplate(), 0, id, 0)); err != nil {
			return fmt.Errorf("--sub-topic %q: %v", c.subFilterTemplate(), err)
		}
		return nil
	}
	if strings.Contains(strings.ReplaceAll(c.Topic, "%%", ""), "%n") {
		return fmt.Errorf("-t/--topic %q: %%n (the message number) applies to the retained scenario only", c.Topic)
	}
	// Check the templates with a sample expansion.
	id := clientID(c.IDPrefix, 'p', 0)
	switch c.Scenario {
	case ScenarioPub, ScenarioPubSub:
		if err := topic.ValidateName(expand(c.Topic, 0, id)); err != nil {
			return fmt.Errorf("-t/--topic %q: %v", c.Topic, err)
		}
	case ScenarioSub:
		if err := topic.ValidateFilter(expand(c.Topic, 0, id)); err != nil {
			return fmt.Errorf("-t/--topic %q: %v", c.Topic, err)
		}
	}
	if c.Scenario == ScenarioPubSub {
		if err := topic.ValidateFilter(expand(c.subFilterTemplate(), 0, id)); err != nil {
			return fmt.Errorf("--sub-topic %q: %v", c.subFilterTemplate(), err)
		}
	}
	return nil
}

// subFilterTemplate is what pubsub and retained subscribers subscribe to: SubTopic, or
// Topic with every level that names a client or message (%i, %c, %n) replaced by '+'.
func (c *Config) subFilterTemplate() string {
	if c.SubTopic != "" {
		return c.SubTopic
	}
	levels := strings.Split(c.Topic, "/")
	for i, l := range levels {
		if strings.Contains(l, "%i") || strings.Contains(l, "%c") || strings.Contains(l, "%n") {
			levels[i] = "+"
		}
	}
	return strings.Join(levels, "/")
}

// expand fills a topic template: %i is the client index, %c the client id, %% a percent.
func expand(tmpl string, index int, id string) string { return expandN(tmpl, index, id, -1) }

// expandN is expand with %n, the message (or filter) number n, filled in too when n >= 0.
func expandN(tmpl string, index int, id string, n int) string {
	if !strings.Contains(tmpl, "%") {
		return tmpl
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '%' && i+1 < len(tmpl) {
			switch tmpl[i+1] {
			case 'i':
				b.WriteString(strconv.Itoa(index))
				i++
				continue
			case 'c':
				b.WriteString(id)
				i++
				continue
			case 'n':
				if n >= 0 {
					b.WriteString(strconv.Itoa(n))
					i++
					continue
				}
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(tmpl[i])
	}
	return b.String()
}

// clientID names client index of a role: 'p' publisher, 's' subscriber, 'c' conn.
func clientID(prefix string, role byte, index int) string {
	return prefix + "-" + string(role) + strconv.Itoa(index)
}
