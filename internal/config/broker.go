package config

import (
	"path/filepath"

	"github.com/mqttkit/mqtt/mqtt/broker"
)

// This file is the one place that maps a Config onto broker.Options; keep it that way so a
// change of Options is fixed here only.

// BrokerOptions returns the broker options for this configuration, starting from
// broker.DefaultOptions. The warnings name settings the broker cannot honour (yet).
//
// Options.Listeners is left empty: open each of c.Listeners with listener.Open(ctx, l.Spec())
// and hand it to Broker.ServeListenerConfig with l.BrokerConfig() (which carries the
// per-listener max_connections, mount_point and use_username_as_clientid). Options.Authenticator and Authorizer are left nil: ListenerSecurity loads the
// password and ACL files for a auth.FileAuth, which Bind ties to each opened listener.
//
// max_inflight_messages, max_queued_messages and max_queued_bytes override the broker's
// outbound defaults only when the file sets them: the broker's defaults were chosen by
// measurement so that no QoS 1/2 message is lost under a burst a subscriber can absorb,
// whereas Mosquitto's (20 and 1000) drop messages in that case. The inbound limit, the
// Receive Maximum announced in CONNACK, follows max_inflight_messages as in Mosquitto,
// default 20 (0: no limit, 65535).
//
// Outbound topic aliases are off unless topic_alias_outbound is true, whatever the broker
// library's default: see Config.TopicAliasOutbound.
//
// Options.Store is left nil too: with persistence on, StoreFile names the file that the
// serve wiring opens with internal/store (config starts nothing).
func (c *Config) BrokerOptions() (broker.Options, []Warning) {
	o := broker.DefaultOptions()
	o.Listeners = nil
	var warns []Warning
	_, set := c.IsSet("max_inflight_messages")
	if set {
		o.MaxInflight = c.MaxInflightMessages // 0: no maximum (the broker's 65535)
	}
	o.ReceiveMaximum = 65535
	if c.MaxInflightMessages > 0 {
		o.ReceiveMaximum = uint16(c.MaxInflightMessages)
	}
	o.MaxInflightBytes = c.MaxInflightBytes
	o.OutboundTopicAliases = c.TopicAliasOutbound
	o.SilentShutdown = true // as Mosquitto: its MQTT 5 clients then reconnect after a restart
	if _, set := c.IsSet("max_queued_messages"); set {
		o.MaxQueuedMessages = c.MaxQueuedMessages
	}
	if _, set := c.IsSet("max_queued_bytes"); set {
		o.MaxQueuedBytes = c.MaxQueuedBytes
	}
	o.QueueQoS0 = c.QueueQoS0Messages
	o.MaxPacketSize = uint32(c.MaxPacketSize)
	o.MessageSizeLimit = c.MessageSizeLimit
	o.UpgradeOutgoingQoS = c.UpgradeOutgoingQoS
	o.CheckRetainSource = c.CheckRetainSource
	o.MemoryLimit = c.MemoryLimit
	o.MaxKeepAlive = uint16(c.MaxKeepalive)
	o.RetainAvailable = c.RetainAvailable
	o.SysInterval = c.SysInterval
	o.PersistentClientExpiration = c.PersistentClientExpiration
	o.AllowZeroLengthClientID = c.Security.AllowZeroLengthClientID
	o.AutoIDPrefix = c.Security.AutoIDPrefix

	// max_qos, max_topic_alias, allow_zero_length_clientid and auto_id_prefix are per
	// listener (BrokerConfig); the options above are for in-process clients.
	// autosave_interval and autosave_on_changes are Ignored: the parser warns where they are
	// written.
	return o, warns
}

// DefaultStoreFile is the store's name in persistence_location when persistence_file is not
// set. Mosquitto's default, mosquitto.db, is a file of Mosquitto's own format that mqtt cannot
// read: under another name a store never meets one, and Mosquitto's file is left alone.
const DefaultStoreFile = "mqtt.db"

// StoreFile is the path of the durable store, persistence_location/persistence_file, or ""
// when persistence is off. persistence_location defaults to the current directory, as in
// Mosquitto; persistence_file to DefaultStoreFile unless the file sets it.
func (c *Config) StoreFile() string {
	if !c.Persistence {
		return ""
	}
	return c.StoreFileIn(c.PersistenceLocation)
}

// StoreFileIn is the path of the store in dir ("" is the current directory): dir and
// persistence_file, or DefaultStoreFile when the file does not set it.
func (c *Config) StoreFileIn(dir string) string {
	name := DefaultStoreFile
	if _, set := c.IsSet("persistence_file"); set {
		name = c.PersistenceFile
	}
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, name)
}

// BrokerConfig is what the broker applies per listener (Broker.ServeListenerConfig, or
// SetListenerConfig for an MQTT-SN listener's in-process connections).
func (l *Listener) BrokerConfig() broker.ListenerConfig {
	lc := broker.ListenerConfig{
		MountPoint:            l.MountPoint,
		UseUsernameAsClientID: l.UseUsernameAsClientID,
		// Given only where they differ from the broker's defaults (2 and 10, Mosquitto's):
		// then the broker looks them up per PUBLISH.
		HasMaxQoS:                  l.MaxQoS != 2,
		MaxQoS:                     byte(l.MaxQoS),
		HasTopicAliasMaximum:       l.MaxTopicAlias != 10,
		TopicAliasMaximum:          uint16(l.MaxTopicAlias),
		HasAllowZeroLengthClientID: true,
		AllowZeroLengthClientID:    l.Security.AllowZeroLengthClientID, // the effective set
		AutoIDPrefix:               l.Security.AutoIDPrefix,
	}
	if l.MaxConnections > 0 {
		// Counted by the broker, not by wrapping the listener: a wrapped
		// connection is no longer a bare socket and would leave the event
		// loop for a goroutine of its own.
		lc.MaxConnections = l.MaxConnections
	}
	return lc
}
