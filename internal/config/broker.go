package config

import (
	"fmt"

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

	// Per-listener settings the broker has one value for: use it when every listener agrees,
	// otherwise the most permissive, and say so.
	if len(c.Listeners) > 0 {
		first := c.Listeners[0]
		maxQoS, alias := first.MaxQoS, first.MaxTopicAlias
		for _, l := range c.Listeners[1:] {
			if l.MaxQoS != first.MaxQoS {
				warns = append(warns, Warning{Pos: l.Pos, Directive: "max_qos", Msg: fmt.Sprintf("max_qos: listeners differ (%d and %d); the broker applies one value to all, %d", first.MaxQoS, l.MaxQoS, max(maxQoS, l.MaxQoS))})
				maxQoS = max(maxQoS, l.MaxQoS)
			}
			if l.MaxTopicAlias != first.MaxTopicAlias {
				warns = append(warns, Warning{Pos: l.Pos, Directive: "max_topic_alias", Msg: fmt.Sprintf("max_topic_alias: listeners differ (%d and %d); the broker applies one value to all, %d", first.MaxTopicAlias, l.MaxTopicAlias, max(alias, l.MaxTopicAlias))})
				alias = max(alias, l.MaxTopicAlias)
			}
		}
		o.MaxQoS, o.TopicAliasMaximum = byte(maxQoS), uint16(alias)
		if c.PerListenerSettings {
			for _, l := range c.Listeners[1:] {
				if l.Security.AllowZeroLengthClientID != first.Security.AllowZeroLengthClientID || l.Security.AutoIDPrefix != first.Security.AutoIDPrefix {
					warns = append(warns, Warning{Pos: l.Pos, Directive: "auto_id_prefix", Msg: "allow_zero_length_clientid/auto_id_prefix: listeners differ; the broker applies the first listener's to all"})
					break
				}
			}
			o.AllowZeroLengthClientID = first.Security.AllowZeroLengthClientID
			o.AutoIDPrefix = first.Security.AutoIDPrefix
		}
	}
	// persistence is Pending in the directive table: the parser warns where it is written.
	return o, warns
}

// BrokerConfig is what the broker applies per listener (Broker.ServeListenerConfig, or
// SetListenerConfig for an MQTT-SN listener's in-process connections).
func (l *Listener) BrokerConfig() broker.ListenerConfig {
	lc := broker.ListenerConfig{MountPoint: l.MountPoint, UseUsernameAsClientID: l.UseUsernameAsClientID}
	if l.MaxConnections > 0 {
		// Counted by the broker, not by wrapping the listener: a wrapped
		// connection is no longer a bare socket and would leave the event
		// loop for a goroutine of its own.
		lc.MaxConnections = l.MaxConnections
	}
	return lc
}
