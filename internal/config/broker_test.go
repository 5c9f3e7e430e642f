package config

import (
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/mqtt/broker"
)

func TestBrokerOptions(t *testing.T) {
	def := broker.DefaultOptions()

	cfg, _ := mustParse(t, "listener 1883\n")
	o, warns := cfg.BrokerOptions()
	if len(warns) != 0 {
		t.Errorf("warnings for a plain config: %v", warns)
	}
	// Queue limits the file does not set keep the broker's measured defaults.
	if o.MaxInflight != def.MaxInflight || o.MaxQueuedMessages != def.MaxQueuedMessages || o.MaxQueuedBytes != def.MaxQueuedBytes {
		t.Errorf("unset queue limits changed: %+v", o)
	}
	if o.Listeners != nil || o.MaxQoS != 2 || o.TopicAliasMaximum != 10 || !o.RetainAvailable || o.SysInterval != 10*time.Second {
		t.Errorf("options = %+v", o)
	}
	// The inbound Receive Maximum is Mosquitto's max_inflight_messages default, 20; outbound
	// topic aliases are off unless topic_alias_outbound is true.
	if o.ReceiveMaximum != 20 || o.OutboundTopicAliases {
		t.Errorf("receive maximum %d, outbound aliases %v", o.ReceiveMaximum, o.OutboundTopicAliases)
	}
	if d, _ := Default().BrokerOptions(); d.ReceiveMaximum != 20 || d.OutboundTopicAliases {
		t.Errorf("Default(): receive maximum %d, outbound aliases %v", d.ReceiveMaximum, d.OutboundTopicAliases)
	}
	cfg, _ = mustParse(t, "max_inflight_messages 0\ntopic_alias_outbound true\n")
	if o, _ := cfg.BrokerOptions(); o.ReceiveMaximum != 65535 || !o.OutboundTopicAliases || o.MaxInflight != 0 {
		t.Errorf("max_inflight_messages 0: receive maximum %d, outbound aliases %v, inflight %d", o.ReceiveMaximum, o.OutboundTopicAliases, o.MaxInflight)
	}

	cfg, _ = mustParse(t, strings.Join([]string{
		"max_inflight_messages 5", "max_queued_messages 50", "max_queued_bytes 1k", "queue_qos0_messages true",
		"max_packet_size 1000", "message_size_limit 500", "max_keepalive 30", "retain_available false",
		"sys_interval 5", "persistent_client_expiration 1h", "allow_zero_length_clientid false", "auto_id_prefix x-",
		"persistence true", "autosave_interval 60", "listener 1883", "max_qos 1", "max_topic_alias 3", "listener 1884", "max_qos 0", "max_topic_alias 3",
	}, "\n"))
	o, warns = cfg.BrokerOptions()
	if o.MaxInflight != 5 || o.MaxQueuedMessages != 50 || o.MaxQueuedBytes != 1024 || !o.QueueQoS0 || o.MaxPacketSize != 1000 ||
		o.MessageSizeLimit != 500 || o.MaxKeepAlive != 30 || o.RetainAvailable || o.SysInterval != 5*time.Second ||
		o.PersistentClientExpiration != time.Hour || o.AllowZeroLengthClientID || o.AutoIDPrefix != "x-" ||
		o.MaxQoS != 2 || o.TopicAliasMaximum != 10 || o.ReceiveMaximum != 5 {
		t.Errorf("options = %+v", o)
	}
	for _, w := range warns {
		if strings.Contains(w.String(), "listeners differ") {
			t.Errorf("per-listener settings are the broker's now, but: %s", w)
		}
	}
	// max_qos, max_topic_alias and the zero-length id settings go per listener.
	for i, want := range []broker.ListenerConfig{
		{HasMaxQoS: true, MaxQoS: 1, HasTopicAliasMaximum: true, TopicAliasMaximum: 3, HasAllowZeroLengthClientID: true, AutoIDPrefix: "x-"},
		{HasMaxQoS: true, MaxQoS: 0, HasTopicAliasMaximum: true, TopicAliasMaximum: 3, HasAllowZeroLengthClientID: true, AutoIDPrefix: "x-"},
	} {
		if got := cfg.Listeners[i].BrokerConfig(); got != want {
			t.Errorf("listener %d: %+v, want %+v", i, got, want)
		}
	}
	b, err := broker.New(o, nil)
	if err != nil {
		t.Fatalf("broker.New rejects the mapped options: %v", err)
	}
	_ = b.Close()
}

// StoreFile: "" without persistence; persistence_location (default: the current directory)
// joined with persistence_file, whose default here is mqtt.db, not Mosquitto's mosquitto.db.
func TestStoreFile(t *testing.T) {
	for _, tc := range []struct{ conf, want, in string }{
		{"persistence false\npersistence_location /var/lib/x/\n", "", "/d/mqtt.db"},
		{"persistence true\n", "mqtt.db", "/d/mqtt.db"},
		{"persistence true\npersistence_location /var/lib/mosquitto/\n", "/var/lib/mosquitto/mqtt.db", "/d/mqtt.db"},
		{"persistence true\npersistence_location /var/lib/mqtt\npersistence_file state.db\n", "/var/lib/mqtt/state.db", "/d/state.db"},
	} {
		cfg, _ := mustParse(t, tc.conf)
		if got := cfg.StoreFile(); got != tc.want {
			t.Errorf("%q: StoreFile %q, want %q", tc.conf, got, tc.want)
		}
		if got := cfg.StoreFileIn("/d"); got != tc.in {
			t.Errorf("%q: StoreFileIn %q, want %q", tc.conf, got, tc.in)
		}
	}
}
