package config

import (
	"fmt"
	"path/filepath"

	"github.com/mqttkit/mqtt/mqtt/broker"
)

// This file is the one place that maps a Config onto broker.Options; keep it that way so a
// change of Options is fixed here only.

// BrokerOptions returns the broker options for this configuration, starting from
// broker.DefaultOptions. The warnings name settings the broker cannot honour (yet).
//
// Options.Listeners is left empty: open each of c.Listeners with listener.Open(ctx, l.Spec())
// and hand it to Broker.ServeListener (per-listener max_connections is enforced by the listener
// package). Options.Authenticator and Authorizer are left nil: ListenerSecurity loads the
// password and ACL files for a auth.FileAuth, which Bind ties to each opened listener.
//
// max_inflight_messages, max_queued_messages and max_queued_bytes override the broker's
// defaults only when the file sets them: the broker's defaults were chosen by measurement so
// that no QoS 1/2 message is lost under a burst a subscriber can absorb, whereas Mosquitto's
// (20 and 1000) drop messages in that case.
//
// Options.Store is left nil too: with persistence on, StoreFile names the file that the
// serve wiring opens with internal/store (config starts nothing).
func (c *Config) BrokerOptions() (broker.Options, []Warning) {
	o := broker.DefaultOptions()
	o.Listeners = nil
	var warns []Warning
	warn := func(name, format string, args ...any) {
		pos, _ := c.IsSet(name)
		warns = append(warns, Warning{Pos: pos, Directive: name, Msg: name + ": " + fmt.Sprintf(format, args...)})
	}
	_, set := c.IsSet("max_inflight_messages")
	if set {
		o.MaxInflight = c.MaxInflightMessages // 0: no maximum (the broker's 65535)
	}
	if _, set := c.IsSet("max_queued_messages"); set {
		o.MaxQueuedMessages = c.MaxQueuedMessages
	}
	if _, set := c.IsSet("max_queued_bytes"); set {
		o.MaxQueuedBytes = c.MaxQueuedBytes
	}
	o.QueueQoS0 = c.QueueQoS0Messages
	o.MaxPacketSize = uint32(c.MaxPacketSize)
	o.MessageSizeLimit = c.MessageSizeLimit
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
		for _, l := range c.Listeners {
			if l.MountPoint != "" {
				warns = append(warns, Warning{Pos: l.Pos, Directive: "mount_point", Msg: "mount_point: not supported by the broker yet; ignored on " + l.Name()})
			}
			if l.UseUsernameAsClientID {
				warns = append(warns, Warning{Pos: l.Pos, Directive: "use_username_as_clientid", Msg: "use_username_as_clientid: not supported by the broker yet; ignored on " + l.Name()})
			}
		}
	}

	if c.Persistence {
		// Mosquitto saves its memory every autosave_interval, so a crash loses what it
		// acknowledged since; we write each change as it happens instead.
		why := "not needed: every change is written to the store as it happens, and a message is acknowledged only once it is on disk"
		if _, set := c.IsSet("autosave_interval"); set {
			warn("autosave_interval", "%s", why)
		}
		if _, set := c.IsSet("autosave_on_changes"); set {
			warn("autosave_on_changes", "%s", why)
		}
	}
	if _, set := c.IsSet("max_inflight_bytes"); set && c.MaxInflightBytes > 0 {
		warn("max_inflight_bytes", "not supported by the broker yet; ignored")
	}
	if c.UpgradeOutgoingQoS {
		warn("upgrade_outgoing_qos", "not supported by the broker yet; ignored")
	}
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
