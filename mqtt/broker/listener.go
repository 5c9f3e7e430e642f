package broker

import (
	"context"
	"net"
	"strings"
)

// ListenerConfig is what Mosquitto configures per listener beyond its
// address and security (which the Authenticator and Authorizer decide,
// told apart by ClientInfo.Listener).
type ListenerConfig struct {
	// MountPoint prefixes every topic of this listener's clients
	// (Mosquitto's mount_point): a PUBLISH to "temp" with MountPoint
	// "site1/" is routed as "site1/temp", a subscription to "#" matches
	// only "site1/#", the will's topic is mounted too, and messages reach
	// these clients with the prefix taken off. ACLs see the mounted
	// topics. Clients of such a listener cannot reach topics outside it
	// ($SYS included).
	MountPoint string
	// UseUsernameAsClientID replaces the client id with the username
	// (Mosquitto's use_username_as_clientid), so one user cannot take
	// another's session over; a client without a username is refused
	// with Not authorized.
	UseUsernameAsClientID bool
	// MaxConnections refuses a connection accepted while this many from
	// the listener are open: it is closed at once, before any packet, as
	// Mosquitto's max_connections does (logged "denied: max_connections
	// exceeded."). 0: no limit. In-process connections are not counted.
	MaxConnections int

	// Per-listener values of the Options of the same name, for this
	// listener's clients (Mosquitto's max_qos, max_topic_alias,
	// allow_zero_length_clientid and auto_id_prefix are listener
	// settings); each applies only when its Has flag is set, so 0 and ""
	// can be given.
	HasMaxQoS                  bool
	MaxQoS                     byte
	HasTopicAliasMaximum       bool
	TopicAliasMaximum          uint16
	HasAllowZeroLengthClientID bool
	AllowZeroLengthClientID    bool
	AutoIDPrefix               string // "" keeps Options.AutoIDPrefix
}

// ServeListenerConfig is ServeListener with per-listener settings for
// the connections ln accepts.
func (b *Broker) ServeListenerConfig(ctx context.Context, ln net.Listener, lc ListenerConfig) error {
	b.SetListenerConfig(ListenerKey(ln.Addr()), lc)
	return b.ServeListener(ctx, ln)
}

// SetListenerConfig applies lc to the connections whose
// ClientInfo.Listener is key: a listener's ListenerKey, or the Listener
// of in-process connections (LocalConfig.Listener). It applies to
// connections that connect from then on.
func (b *Broker) SetListenerConfig(key string, lc ListenerConfig) {
	b.lcfgMu.Lock()
	defer b.lcfgMu.Unlock()
	m := make(map[string]*ListenerConfig, len(*b.lcfg.Load())+1)
	for k, v := range *b.lcfg.Load() {
		m[k] = v
	}
	if lc == (ListenerConfig{}) {
		delete(m, key)
	} else {
		m[key] = &lc
	}
	mounts, limits := false, false
	for _, v := range m {
		mounts = mounts || v.MountPoint != ""
		limits = limits || v.HasMaxQoS || v.HasTopicAliasMaximum
	}
	b.lcfg.Store(&m)
	b.mounts.Store(mounts)
	b.llimits.Store(limits)
}

// listenerConfig is the ListenerConfig of listener key (nil: none).
func (b *Broker) listenerConfig(key string) *ListenerConfig {
	return (*b.lcfg.Load())[key]
}

// maxQoS is the Maximum QoS of c's listener (ListenerConfig.MaxQoS, or
// Options.MaxQoS); one atomic load when no listener sets it.
func (c *conn) maxQoS() byte {
	if c.b.llimits.Load() {
		if lc := c.b.listenerConfig(c.info.Listener); lc != nil && lc.HasMaxQoS {
			return min(lc.MaxQoS, 2)
		}
	}
	return c.b.opts.MaxQoS
}

// aliasMax is the Topic Alias Maximum c's listener announces and accepts.
func (c *conn) aliasMax() uint16 {
	if c.b.llimits.Load() {
		if lc := c.b.listenerConfig(c.info.Listener); lc != nil && lc.HasTopicAliasMaximum {
			return lc.TopicAliasMaximum
		}
	}
	return c.b.opts.TopicAliasMaximum
}

// zeroLengthIDs reports whether c's listener accepts an empty client id,
// and the prefix of the id it then assigns.
func (c *conn) zeroLengthIDs() (allowed bool, prefix string) {
	allowed, prefix = c.b.opts.AllowZeroLengthClientID, c.b.opts.AutoIDPrefix
	if lc := c.b.listenerConfig(c.info.Listener); lc != nil {
		if lc.HasAllowZeroLengthClientID {
			allowed = lc.AllowZeroLengthClientID
		}
		if lc.AutoIDPrefix != "" {
			prefix = lc.AutoIDPrefix
		}
	}
	return allowed, prefix
}

// mountPoint is the mount point of c's listener, "" without one; one
// atomic load when no listener has a mount point.
func (c *conn) mountPoint() string {
	if !c.b.mounts.Load() {
		return ""
	}
	if lc := c.b.listenerConfig(c.info.Listener); lc != nil {
		return lc.MountPoint
	}
	return ""
}

// mount prefixes a topic name or filter with c's mount point; a shared
// subscription keeps its $share/{group}/ in front.
func (c *conn) mount(s string) string {
	mp := c.mountPoint()
	if mp == "" {
		return s
	}
	if rest, ok := strings.CutPrefix(s, "$share/"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return "$share/" + rest[:i+1] + mp + rest[i+1:]
		}
	}
	return mp + s
}

// unmount takes c's mount point off a topic delivered to it.
func (c *conn) unmount(topic string) string {
	if mp := c.mountPoint(); mp != "" {
		return strings.TrimPrefix(topic, mp)
	}
	return topic
}
