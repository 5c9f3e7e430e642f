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
)

// Defaults.
const (
	DefaultCount    = 1000
	DefaultSize     = 64
	DefaultTopic    = "bench/%i"
	DefaultInflight = 20
	DefaultDrain    = 2 * time.Second
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
	if c.Subs == 0 && c.Scenario == ScenarioPubSub {
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
	case ScenarioConn, ScenarioPub, ScenarioSub, ScenarioPubSub:
	default:
		return fmt.Errorf("unknown scenario %q: expected conn, pub, sub or pubsub", c.Scenario)
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
		case c.Scenario == ScenarioSub:
			return fmt.Errorf("--sn applies to pub, pubsub and conn: subscribers stay MQTT")
		case c.SNGateway == "":
			return fmt.Errorf("--sn needs the gateway's address (--sn-gateway)")
		case c.Size > 65000:
			return fmt.Errorf("-s/--size must be at most 65000 bytes with --sn (one UDP datagram), got %d", c.Size)
		}
	}
	if c.Scenario != ScenarioPubSub && c.Subs > 0 {
		return fmt.Errorf("--subs applies to pubsub only")
	}
	if c.Scenario != ScenarioPubSub && c.SubTopic != "" {
		return fmt.Errorf("--sub-topic applies to pubsub only")
	}
	if c.Scenario == ScenarioConn {
		return nil
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

// subFilterTemplate is what pubsub subscribers subscribe to: SubTopic, or Topic with every
// level that names a client (%i, %c) replaced by '+'.
func (c *Config) subFilterTemplate() string {
	if c.SubTopic != "" {
		return c.SubTopic
	}
	levels := strings.Split(c.Topic, "/")
	for i, l := range levels {
		if strings.Contains(l, "%i") || strings.Contains(l, "%c") {
			levels[i] = "+"
		}
	}
	return strings.Join(levels, "/")
}

// expand fills a topic template: %i is the client index, %c the client id, %% a percent.
func expand(tmpl string, index int, id string) string {
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
