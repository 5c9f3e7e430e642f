package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttkit/mqtt/internal/listener"
)

// maxErrors bounds the errors collected from one parse.
const maxErrors = 50

type secState struct {
	s       Security
	anonSet bool
}

func newSecState() secState {
	return secState{s: Security{AllowZeroLengthClientID: true, AutoIDPrefix: "auto-"}}
}

type listenerState struct {
	l    Listener
	sec  secState
	set  map[string]Pos // string settings already given (duplicates are errors)
	text string         // the "listener" line's words, for messages
	// The default listener only: used says a directive before the first "listener" line gave
	// it a value that makes Mosquitto 2.0 create it (see createsDefault); usedBy and usedPos
	// name the first such directive.
	used    bool
	usedBy  string
	usedPos Pos
	// badFile: a TLS file it names was reported as unusable; its certificates are not loaded.
	badFile bool
}

// earlyUse is a directive written before the first "listener" line that configures the default
// listener without creating it; it has no effect unless something else creates that listener.
type earlyUse struct {
	pos  Pos
	name string
}

func newListenerState(pos Pos) *listenerState {
	return &listenerState{l: func() Listener { l := defaultListener(); l.Pos = pos; return l }(), sec: newSecState(), set: map[string]Pos{}}
}

type parser struct {
	cfg   *Config
	errs  Errors
	warns []Warning

	global       secState
	globalSet    map[string]Pos // string settings of global scope already given
	securityPos  Pos            // first security directive, for per_listener_settings ordering
	securitySeen bool

	def       *listenerState
	cur       *listenerState
	listeners []*listenerState
	port      int
	portSet   bool
	bindSet   bool

	early []earlyUse // see earlyUse

	inBridge, inPlugin bool

	logDestSet, logTypeSet bool
}

func newParser(name string) *parser {
	def := newListenerState(Pos{})
	def.l.Default = true
	return &parser{
		cfg:       defaultConfig(name),
		global:    newSecState(),
		globalSet: map[string]Pos{},
		def:       def,
		cur:       def,
	}
}

func (p *parser) errorf(pos Pos, directive, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &Error{Pos: pos, Directive: directive, Msg: fmt.Sprintf(format, args...)})
	}
}

// unusablef records an Unusable error: the line is right, the file it names cannot be used.
func (p *parser) unusablef(pos Pos, directive, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, &Error{Pos: pos, Directive: directive, Msg: fmt.Sprintf(format, args...), Unusable: true})
	}
}

func (p *parser) warnf(pos Pos, directive, format string, args ...any) {
	p.warns = append(p.warns, Warning{Pos: pos, Directive: directive, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parseFile(name string, data []byte, level int) {
	for i, raw := range strings.Split(string(data), "\n") {
		pos := Pos{File: name, Line: i + 1}
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if !utf8.ValidString(line) {
			p.errorf(pos, "", "malformed UTF-8")
			continue
		}
		word, rest := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			word, rest = line[:i], strings.TrimSpace(line[i+1:])
		}
		p.directive(pos, word, rest, level)
	}
}

func (p *parser) directive(pos Pos, name, rest string, level int) {
	d, ok := lookup(name)
	if !ok {
		p.errorf(pos, name, "unknown directive %q", name)
		return
	}
	switch d.scope {
	case scopeBridge:
		if !p.inBridge {
			p.errorf(pos, name, "%s: only valid in a bridge section (after \"connection NAME\")", name)
		}
		return // the "connection" line already warned that the whole bridge is ignored
	case scopePlugin:
		if !p.inPlugin {
			p.errorf(pos, name, "%s: only valid after a \"plugin\" or \"auth_plugin\" line", name)
		}
		return // the plugin line already warned
	}
	switch d.Status {
	case Refused:
		if name == "tls_keyform" {
			break
		}
		if IsPlugin(name) {
			p.inPlugin = true // its plugin_opt_* lines are part of this one error
			p.errorf(pos, name, "%s %s: %s", name, strings.TrimSpace(rest), d.Note)
			return
		}
		p.errorf(pos, name, "%s %s", name, d.Note)
		return
	case Ignored:
		p.ignored(pos, d, rest)
		if d.Name != "autosave_interval" && d.Name != "autosave_on_changes" {
			return
		}
		// Checked and kept in Config as Mosquitto reads them, though without effect.
	case Deprecated, Pending:
		p.warnf(pos, name, "%s %s", name, d.Note)
	}
	p.apply(pos, name, rest, level)
}

// ignored warns about a directive without effect, after checking what can be checked.
func (p *parser) ignored(pos Pos, d Directive, rest string) {
	switch d.Name {
	case "connection":
		v, ok := p.single(pos, d.Name, rest)
		if !ok {
			return
		}
		p.inBridge = true
		p.warnf(pos, d.Name, "connection %q: %s (with all its bridge directives)", v, noteBridge)
		return
	case "psk_file":
		p.touchSecurity(pos, d.Name, creates)
	case "ciphers_tls1.3", "dhparamfile", "psk_hint":
		p.useListener(pos, d.Name, creates) // Mosquitto creates the default listener for these
	case "http_dir":
		p.useListener(pos, d.Name, noCreate)
	}
	p.warnf(pos, d.Name, "%s %s", d.Name, d.Note)
}

// touchSecurity records a security directive and returns the settings it configures. eff is
// what the value does to the default listener with per_listener_settings (see onDefault).
func (p *parser) touchSecurity(pos Pos, name string, eff onDefault) *secState {
	if !p.securitySeen {
		p.securitySeen, p.securityPos = true, pos
	}
	if p.cfg.PerListenerSettings {
		p.useListener(pos, name, eff)
		return &p.cur.sec
	}
	return &p.global
}

// onDefault says what a value written before the first "listener" line does to the default
// listener, following Mosquitto 2.0.11 (its config__parse_args): the default listener on port
// 1883 is created only when one of a fixed set of its settings differs from the default
// (protocol websockets, max_qos 1, a certfile, ...), never by the default value itself
// (protocol mqtt, as Home Assistant's template has). Checked against mosquitto 2.0.11 itself.
type onDefault int

const (
	asDefault onDefault = iota // the default value: changes nothing
	noCreate                   // another value, but not one that creates the default listener
	creates                    // a value that creates the default listener
)

// createsIf is creates when cond holds, else asDefault.
func createsIf(cond bool) onDefault {
	if cond {
		return creates
	}
	return asDefault
}

// useListener returns the listener a listener-scoped directive configures: the current one,
// or the default listener before the first "listener" line. A value that creates the default
// listener creates it; one that does not is remembered, to be warned about as without effect
// if nothing else creates it.
func (p *parser) useListener(pos Pos, name string, eff onDefault) *listenerState {
	if p.cur != p.def {
		return p.cur
	}
	switch eff {
	case creates:
		p.useListenerDefault(pos, name)
	case noCreate:
		p.early = append(p.early, earlyUse{pos, name})
	}
	return p.cur
}

// once reports an error if a string setting is given twice in the same scope.
func (p *parser) once(set map[string]Pos, pos Pos, name string) bool {
	if first, dup := set[name]; dup {
		p.errorf(pos, name, "%s: duplicate value (already set at %s)", name, first)
		return false
	}
	set[name] = pos
	return true
}

// checkFile reports an error unless path names a readable regular file.
func (p *parser) checkFile(pos Pos, name, path string) bool {
	f, err := os.Open(path)
	if err == nil {
		fi, serr := f.Stat()
		_ = f.Close()
		if serr == nil && fi.IsDir() {
			p.unusablef(pos, name, "%s: %q is a directory, not a file", name, path)
			return false
		}
		return true
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.unusablef(pos, name, "%s: file %q does not exist", name, path)
	case errors.Is(err, fs.ErrPermission):
		p.unusablef(pos, name, "%s: file %q is not readable (permission denied)", name, path)
	default:
		p.unusablef(pos, name, "%s: %v", name, err)
	}
	return false
}

func (p *parser) checkDir(pos Pos, name, path string) bool {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.unusablef(pos, name, "%s: directory %q does not exist", name, path)
	case err != nil:
		p.unusablef(pos, name, "%s: %v", name, err)
	case !fi.IsDir():
		p.unusablef(pos, name, "%s: %q is not a directory", name, path)
	default:
		return true
	}
	return false
}

func (p *parser) markGlobal(pos Pos, name string) { p.cfg.set[name] = pos }

// apply honours a supported or deprecated directive.
func (p *parser) apply(pos Pos, name, rest string, level int) {
	c := p.cfg
	var ok bool
	switch name {
	// --- structure
	case "include_dir":
		p.includeDir(pos, rest, level)
		return
	case "listener":
		p.listener(pos, rest)
		return
	case "per_listener_settings":
		v, good := p.boolean(pos, name, rest)
		if !good {
			return
		}
		if c.PerListenerSettings && !v {
			p.errorf(pos, name, "per_listener_settings: cannot be set back to false once true")
			return
		}
		if v && p.securitySeen {
			p.errorf(pos, name, "per_listener_settings: must come before any security setting (the first is at %s)", p.securityPos)
			return
		}
		c.PerListenerSettings = v
		ok = true

	// --- security (global, or per listener)
	case "allow_anonymous":
		var v bool
		if v, ok = p.boolean(pos, name, rest); ok {
			s := p.touchSecurity(pos, name, noCreate)
			s.s.AllowAnonymous, s.anonSet = v, true
		}
		return
	case "allow_zero_length_clientid":
		var v bool
		if v, ok = p.boolean(pos, name, rest); ok {
			p.touchSecurity(pos, name, createsIf(!v)).s.AllowZeroLengthClientID = v
		}
		return
	case "auto_id_prefix":
		var v string
		if v, ok = p.str(pos, name, rest); ok {
			p.touchSecurity(pos, name, noCreate).s.AutoIDPrefix = v
		}
		return
	case "password_file", "acl_file":
		v, good := p.str(pos, name, rest)
		if !good {
			return
		}
		eff := noCreate // acl_file
		if name == "password_file" {
			eff = creates
		}
		s := p.touchSecurity(pos, name, eff)
		set := p.globalSet
		if c.PerListenerSettings {
			set = p.cur.set
		}
		if !p.once(set, pos, name) || !p.checkFile(pos, name, v) {
			return
		}
		if name == "password_file" {
			s.s.PasswordFile, s.s.PasswordFilePos = v, pos
		} else {
			s.s.ACLFile, s.s.ACLFilePos = v, pos
		}
		return

	// --- listener settings
	case "port":
		var v int
		if v, ok = p.integer(pos, name, rest, 1, 65535); ok {
			if p.portSet {
				p.warnf(pos, name, "port: given more than once; the last value (%d) is used", v)
			}
			p.port, p.portSet = v, true
			p.useListenerDefault(pos, name)
		}
		return
	case "bind_address":
		var v string
		if v, ok = p.single(pos, name, rest); ok {
			if !p.once(p.def.set, pos, name) {
				return
			}
			p.def.l.Address, p.def.l.AddressPos, p.bindSet = v, pos, true
			p.useListenerDefault(pos, name)
		}
		return
	case "mount_point":
		v, good := p.str(pos, name, rest)
		if !good {
			return
		}
		if p.cur == p.def {
			p.errorf(pos, name, "mount_point: only valid after a \"listener\" line")
			return
		}
		if strings.ContainsAny(v, "+#") {
			p.errorf(pos, name, "mount_point: %q must not contain the wildcards + or #", v)
			return
		}
		if p.once(p.cur.set, pos, name) {
			p.cur.l.MountPoint = v
		}
		return
	case "protocol", "socket_domain", "tls_version", "tls_keyform":
		choices := map[string][]string{
			"protocol":      {"mqtt", "websockets", "mqttsn"},
			"socket_domain": {"ipv4", "ipv6"},
			"tls_version":   {"tlsv1.1", "tlsv1.2", "tlsv1.3"},
			"tls_keyform":   {"pem", "engine"},
		}[name]
		if name == "tls_version" {
			// Mosquitto meets an unknown version only when it opens the TLS listener, and
			// exits 1 then ("Unsupported tls_version"), not 3 as for a bad line.
			if v, good := p.single(pos, name, rest); good && !slices.Contains(choices, v) {
				p.unusablef(pos, name, "%s: expected %s, got %q", name, orList(choices), v)
				return
			}
		}
		v, good := p.oneOf(pos, name, rest, choices...)
		if !good {
			return
		}
		eff := map[string]onDefault{
			"protocol":      createsIf(v != "mqtt"),
			"socket_domain": creates,
			"tls_version":   noCreate, // Mosquitto 2.0 does not check it
			"tls_keyform":   createsIf(v != "pem"),
		}[name]
		if name == "tls_version" && v == "tlsv1.2" {
			eff = asDefault
		}
		l := p.useListener(pos, name, eff)
		switch name {
		case "protocol":
			l.l.Protocol = v
		case "socket_domain":
			l.l.SocketDomain = v
		case "tls_version":
			l.l.TLS.Version = v
		case "tls_keyform":
			if v == "engine" {
				p.errorf(pos, name, "tls_keyform engine: %s", noteEngine)
			}
		}
		return
	case "bind_interface":
		v, good := p.single(pos, name, rest)
		if !good {
			return
		}
		if _, err := net.InterfaceByName(v); err != nil {
			p.errorf(pos, name, "bind_interface: no network interface %q", v)
			return
		}
		l := p.useListener(pos, name, creates)
		if p.once(l.set, pos, name) {
			l.l.BindInterface = v
		}
		return
	case "sn_gateway_id", "sn_advertise_interval", "sn_retry_interval", "sn_max_retries", "sn_max_message_size":
		r := snRanges[name]
		v, good := p.integer(pos, name, rest, r[0], r[1])
		if !good {
			return
		}
		l := p.useListener(pos, name, noCreate)
		if !p.once(l.set, pos, name) {
			return
		}
		g := &l.l.SN
		switch name {
		case "sn_gateway_id":
			g.GatewayID = v
		case "sn_advertise_interval":
			g.AdvertiseInterval = v
		case "sn_retry_interval":
			g.RetryInterval = v
		case "sn_max_retries":
			g.MaxRetries = v
		case "sn_max_message_size":
			g.MaxMessageSize = v
		}
		g.setPos(name, pos)
		return
	case "sn_advertise_to":
		v, good := p.single(pos, name, rest)
		if !good {
			return
		}
		host, port, err := net.SplitHostPort(v)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			p.errorf(pos, name, "sn_advertise_to: expected HOST:PORT with a port from 1 to 65535 (a broadcast or multicast address), got %q", v)
			return
		}
		l := p.useListener(pos, name, noCreate)
		if p.once(l.set, pos, name) {
			l.l.SN.AdvertiseTo = v
			l.l.SN.setPos(name, pos)
		}
		return
	case "sn_predefined":
		v, good := p.str(pos, name, rest)
		if !good || !p.checkFile(pos, name, v) {
			return
		}
		l := p.useListener(pos, name, noCreate)
		if p.once(l.set, pos, name) {
			l.l.SN.Predefined = v
			l.l.SN.setPos(name, pos)
		}
		return
	case "max_connections":
		v, good := p.integer(pos, name, rest, -1<<31, 1<<31-1)
		if !good {
			return
		}
		switch {
		case v == 0:
			p.errorf(pos, name, "max_connections: 0 would refuse every connection; use -1 for unlimited")
			return
		case v < -1:
			// Mosquitto reads any negative number as unlimited; only -1 is documented.
			p.errorf(pos, name, "max_connections: expected -1 (unlimited) or a number of connections from 1 to %d, got %q", 1<<31-1, splitTokens(rest)[0])
			return
		}
		p.useListener(pos, name, createsIf(v != -1)).l.MaxConnections = v
		return
	case "max_qos", "maximum_qos": // Mosquitto 2.0 accepts both spellings
		v, good := p.single(pos, name, rest)
		if !good {
			return
		}
		if v != "0" && v != "1" && v != "2" {
			p.errorf(pos, name, "%s: expected 0, 1 or 2, got %q", name, v)
			return
		}
		p.useListener(pos, name, createsIf(v != "2")).l.MaxQoS = int(v[0] - '0')
		return
	case "max_topic_alias":
		var v int
		if v, ok = p.integer(pos, name, rest, 0, 65535); ok {
			eff := noCreate // Mosquitto 2.0 does not check it
			if v == 10 {
				eff = asDefault
			}
			p.useListener(pos, name, eff).l.MaxTopicAlias = v
		}
		return
	case "use_username_as_clientid", "require_certificate", "use_identity_as_username", "use_subject_as_username":
		v, good := p.boolean(pos, name, rest)
		if !good {
			return
		}
		l := p.useListener(pos, name, createsIf(v))
		switch name {
		case "use_username_as_clientid":
			l.l.UseUsernameAsClientID = v
		case "require_certificate":
			l.l.TLS.RequireCertificate = v
		case "use_identity_as_username":
			l.l.TLS.UseIdentityAsUsername = v
		case "use_subject_as_username":
			l.l.TLS.UseSubjectAsUsername = v
		}
		return
	case "cafile", "certfile", "keyfile", "crlfile", "capath":
		v, good := p.str(pos, name, rest)
		if !good {
			return
		}
		l := p.useListener(pos, name, creates)
		if !p.once(l.set, pos, name) {
			return
		}
		if name == "capath" {
			if !p.checkDir(pos, name, v) {
				l.badFile = true
			}
		} else if !p.checkFile(pos, name, v) {
			l.badFile = true // reported; the value is kept so that the listener is not also "keyfile needs certfile"
		}
		switch name {
		case "cafile":
			l.l.TLS.CAFile = v
		case "capath":
			l.l.TLS.CAPath = v
		case "certfile":
			l.l.TLS.CertFile = v
		case "keyfile":
			l.l.TLS.KeyFile = v
		case "crlfile":
			l.l.TLS.CRLFile = v
		}
		return
	case "ciphers":
		v, good := p.str(pos, name, rest)
		if !good {
			return
		}
		_, notes, err := listener.ParseCiphers(v)
		if err != nil {
			p.errorf(pos, name, "ciphers: %v", err)
			return
		}
		for _, n := range notes {
			p.warnf(pos, name, "ciphers: %s", n)
		}
		l := p.useListener(pos, name, creates)
		if p.once(l.set, pos, name) {
			l.l.TLS.Ciphers = v
		}
		return

	// --- global settings
	case "max_inflight_messages":
		c.MaxInflightMessages, ok = p.integer(pos, name, rest, 0, 65535)
	case "max_inflight_bytes":
		c.MaxInflightBytes, ok = p.size(pos, name, rest, 0, 1<<30)
	case "max_queued_messages":
		c.MaxQueuedMessages, ok = p.integer(pos, name, rest, 0, 1<<31-1)
	case "max_queued_bytes":
		c.MaxQueuedBytes, ok = p.size(pos, name, rest, 0, 1<<40)
	case "memory_limit":
		var v int
		if v, ok = p.size(pos, name, rest, 0, 1<<42); ok {
			c.MemoryLimit = int64(v)
		}
	case "message_size_limit":
		c.MessageSizeLimit, ok = p.size(pos, name, rest, 0, 268435455)
	case "max_packet_size":
		c.MaxPacketSize, ok = p.size(pos, name, rest, 20, 268435460)
	case "max_keepalive":
		c.MaxKeepalive, ok = p.integer(pos, name, rest, 10, 65535)
	case "sys_interval":
		var v int
		if v, ok = p.integer(pos, name, rest, 0, 65535); ok {
			c.SysInterval = time.Duration(v) * time.Second
		}
	case "autosave_interval":
		var v int
		if v, ok = p.integer(pos, name, rest, 0, 1<<31-1); ok {
			c.AutosaveInterval = time.Duration(v) * time.Second
		}
	case "log_facility":
		c.LogFacility, ok = p.integer(pos, name, rest, 0, 7)
	case "persistent_client_expiration":
		v, good := p.single(pos, name, rest)
		if !good {
			return
		}
		if c.PersistentClientExpiration, ok = parseExpiration(v); !ok {
			p.errorf(pos, name, "persistent_client_expiration: expected a positive number followed by h, d, w, m or y (e.g. 14d), got %q", v)
			return
		}
	case "queue_qos0_messages", "retain_available", "upgrade_outgoing_qos", "check_retain_source",
		"topic_alias_outbound", "persistence", "autosave_on_changes", "log_timestamp",
		"connection_messages", "allow_duplicate_messages":
		var v bool
		if v, ok = p.boolean(pos, name, rest); !ok {
			return
		}
		switch name {
		case "queue_qos0_messages":
			c.QueueQoS0Messages = v
		case "retain_available":
			c.RetainAvailable = v
		case "upgrade_outgoing_qos":
			c.UpgradeOutgoingQoS = v
		case "check_retain_source":
			c.CheckRetainSource = v
		case "topic_alias_outbound":
			c.TopicAliasOutbound = v
		case "persistence":
			c.Persistence = v
		case "autosave_on_changes":
			c.AutosaveOnChanges = v
		case "log_timestamp":
			c.LogTimestamp = v
		case "connection_messages":
			c.ConnectionMessages = v
		}
	case "persistence_file", "persistence_location", "log_timestamp_format", "pid_file", "user":
		var v string
		if v, ok = p.str(pos, name, rest); !ok {
			return
		}
		if name != "user" && !p.once(p.globalSet, pos, name) {
			return
		}
		switch name {
		case "persistence_file":
			c.PersistenceFile = v
		case "persistence_location":
			c.PersistenceLocation = v
		case "log_timestamp_format":
			c.LogTimestampFormat = v
		case "pid_file":
			c.PIDFile = v
		case "user":
			c.User = v
		}
	case "log_dest":
		ok = p.logDest(pos, rest)
	case "log_type":
		ok = p.logType(pos, rest)
	default:
		// Every Supported/Deprecated name in the table must have a case above;
		// TestEveryDirectiveHandled enforces it.
		p.errorf(pos, name, "%s: internal error: directive has no handler", name)
		return
	}
	if ok {
		p.markGlobal(pos, name)
	}
}

// useListenerDefault records port/bind_address, which always configure the default listener.
func (p *parser) useListenerDefault(pos Pos, name string) {
	if !p.def.used {
		p.def.used, p.def.usedBy, p.def.usedPos = true, name, pos
		p.def.l.Pos = pos
	}
}

func (p *parser) listener(pos Pos, rest string) {
	toks := splitTokens(rest)
	if len(toks) == 0 {
		p.errorf(pos, "listener", "listener: missing port")
		return
	}
	if len(toks) > 2 {
		p.errorf(pos, "listener", "listener: unexpected %q after the address", toks[2])
		return
	}
	port, err := strconv.Atoi(toks[0])
	if err != nil || port < 0 || port > 65535 {
		p.errorf(pos, "listener", "listener: expected a port number from 0 to 65535, got %q", toks[0])
		return
	}
	ls := newListenerState(pos)
	ls.l.Port = port
	if len(toks) == 2 {
		if port == 0 {
			ls.l.UnixPath = toks[1]
		} else {
			ls.l.Address, ls.l.AddressPos = toks[1], pos
		}
	} else if port == 0 {
		p.errorf(pos, "listener", "listener: port 0 needs a unix socket path, e.g. \"listener 0 /run/mqtt.sock\"")
		return
	}
	// A listener defined twice is found once the protocols are known (finish): TCP and UDP
	// (protocol mqttsn) may share a port.
	ls.text = strings.TrimSpace("listener " + rest)
	p.listeners = append(p.listeners, ls)
	p.cur = ls
}

func (p *parser) includeDir(pos Pos, rest string, level int) {
	dir, ok := p.str(pos, "include_dir", rest)
	if !ok {
		return
	}
	if level > 0 {
		p.warnf(pos, "include_dir", "include_dir: only read from the main configuration file (as in Mosquitto); ignored here")
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			p.errorf(pos, "include_dir", "include_dir: directory %q does not exist", dir)
		} else {
			p.errorf(pos, "include_dir", "include_dir: %v", err)
		}
		return
	}
	for _, e := range entries { // os.ReadDir sorts by name: lexical order, as Mosquitto
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			p.errorf(pos, "include_dir", "include_dir: %v", err)
			continue
		}
		p.parseFile(path, data, level+1)
	}
}

func (p *parser) logDest(pos Pos, rest string) bool {
	c := p.cfg
	toks := splitTokens(rest)
	if len(toks) == 0 {
		p.errorf(pos, "log_dest", "log_dest: missing value")
		return false
	}
	if !p.logDestSet { // the first log_dest replaces the default (stderr)
		p.logDestSet = true
		c.LogDest = nil
	}
	kind := toks[0]
	switch kind {
	case "none":
		c.LogDest = []LogDest{}
		return true
	case "stderr", "stdout", "syslog":
		if len(toks) > 1 {
			p.errorf(pos, "log_dest", "log_dest: unexpected %q after %q", toks[1], kind)
			return false
		}
		for _, d := range c.LogDest {
			if d.Kind == kind {
				return true
			}
		}
		c.LogDest = append(c.LogDest, LogDest{Kind: kind, Pos: pos})
		return true
	case "file":
		path := strings.TrimSpace(strings.TrimPrefix(rest, "file"))
		if path == "" {
			p.errorf(pos, "log_dest", "log_dest file: missing file name")
			return false
		}
		for _, d := range c.LogDest {
			if d.Kind == "file" {
				p.errorf(pos, "log_dest", "log_dest file: only one log file may be given")
				return false
			}
		}
		c.LogDest = append(c.LogDest, LogDest{Kind: "file", Path: path, Pos: pos})
		return true
	case "topic", "dlt":
		p.warnf(pos, "log_dest", "log_dest %s: not supported yet; ignored", kind)
		return true
	}
	p.errorf(pos, "log_dest", "log_dest: expected stderr, stdout, syslog, file PATH, topic, dlt or none, got %q", kind)
	return false
}

var logTypes = []string{"error", "warning", "notice", "information", "debug", "subscribe", "unsubscribe", "websockets"}

func (p *parser) logType(pos Pos, rest string) bool {
	c := p.cfg
	v, ok := p.oneOf(pos, "log_type", rest, append(append([]string{}, logTypes...), "none", "all")...)
	if !ok {
		return false
	}
	if !p.logTypeSet {
		p.logTypeSet = true
		c.LogType = nil
	}
	switch v {
	case "none":
		c.LogType = []string{}
	case "all":
		c.LogType = append([]string{}, logTypes...)
	default:
		for _, t := range c.LogType {
			if t == v {
				return true
			}
		}
		c.LogType = append(c.LogType, v)
	}
	return true
}

// finish builds the listener list, resolves the defaults that depend on the whole file and
// checks each listener's TLS settings.
func (p *parser) finish() {
	c := p.cfg
	var states []*listenerState
	if len(p.listeners) == 0 && !p.def.used {
		// Mosquitto 2 local-only mode: 1883 on loopback, anonymous allowed unless set. As in
		// Mosquitto, these listeners have the default settings: lines before the first
		// "listener" line that did not create the default listener do not apply to them.
		c.LocalOnly = true
		for _, addr := range []string{"127.0.0.1", "::1"} {
			ls := newListenerState(Pos{})
			ls.l.Port, ls.l.Address, ls.l.LocalOnly = 1883, addr, true
			ls.l.Optional = addr == "::1"
			states = append(states, ls)
		}
	} else {
		if p.def.used {
			p.def.l.Port = 1883
			if p.portSet {
				p.def.l.Port = p.port
			}
			if !p.portSet && !p.bindSet { // port and bind_address are warned about as deprecated
				where := "before the first \"listener\" line"
				if len(p.listeners) == 0 {
					where = "without any \"listener\" line"
				}
				p.warnf(p.def.usedPos, p.def.usedBy, "%s: %s this creates a default listener on port 1883 on all interfaces (as Mosquitto 2.0 does); move it below a \"listener\" line to configure that listener instead", p.def.usedBy, where)
			}
			states = append(states, p.def)
		}
		states = append(states, p.listeners...)
		p.checkDuplicateListeners()
	}
	if !p.def.used {
		for _, e := range p.early {
			p.warnf(e.pos, e.name, "%s: has no effect: written before the first \"listener\" line it configures the default listener, which only some settings create (as in Mosquitto 2.0); move it below a \"listener\" line", e.name)
		}
	}

	if !p.global.anonSet {
		p.global.s.AllowAnonymous = c.LocalOnly
	}
	c.Security = p.global.s
	for _, ls := range states {
		l := ls.l
		if c.PerListenerSettings {
			if !ls.sec.anonSet {
				ls.sec.s.AllowAnonymous = c.LocalOnly
			}
			l.Security = ls.sec.s
		} else {
			l.Security = c.Security
		}
		p.checkListener(&l, ls.badFile)
		c.Listeners = append(c.Listeners, l)
	}
	if p.def.used && len(p.listeners) > 0 {
		for _, o := range p.listeners {
			if o.l.UnixPath == "" && o.l.Protocol != "mqttsn" && o.l.Port == p.def.l.Port && o.l.Address == p.def.l.Address {
				p.errorf(o.l.Pos, "listener", "listener: port %d is also used by the default listener (configured at %s)", o.l.Port, p.def.usedPos)
			}
		}
	}
}

// checkDuplicateListeners reports a "listener" line that repeats an earlier one's port and
// address on the same transport: an MQTT-SN gateway (UDP) may share its port with a TCP
// listener, as the two never clash.
func (p *parser) checkDuplicateListeners() {
	udp := func(ls *listenerState) bool { return ls.l.Protocol == "mqttsn" }
	for i, ls := range p.listeners {
		for _, o := range p.listeners[:i] {
			if o.l.Port == ls.l.Port && o.l.Address == ls.l.Address && o.l.UnixPath == ls.l.UnixPath && udp(o) == udp(ls) {
				// Mosquitto opens both and exits 1 when the second cannot bind (not 3).
				p.unusablef(ls.l.Pos, "listener", "listener: %s is already defined at %s", ls.text, o.l.Pos)
				break
			}
		}
	}
}

// snRanges are the values the integer sn_* directives take.
var snRanges = map[string][2]int{
	"sn_gateway_id":         {0, 255},
	"sn_advertise_interval": {0, 65535},
	"sn_retry_interval":     {1, 3600},
	"sn_max_retries":        {1, 100},
	"sn_max_message_size":   {16, 65535},
}

func (g *SNGateway) setPos(name string, pos Pos) {
	if g.Pos == nil {
		g.Pos = map[string]Pos{}
	}
	g.Pos[name] = pos
}

func (p *parser) checkListener(l *Listener, badFile bool) {
	t := l.TLS
	pos := l.Pos
	name := l.label() // the messages below begin with pos, the listener's line
	if l.Protocol != "mqttsn" {
		names := make([]string, 0, len(l.SN.Pos))
		for name := range l.SN.Pos {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			p.errorf(l.SN.Pos[name], name, "%s: only valid on a listener with \"protocol mqttsn\" (an MQTT-SN gateway), and %s is not one", name, l.Name())
		}
	}
	if l.Protocol == "mqttsn" {
		// An MQTT-SN 1.2 gateway on a UDP port, inside the broker (mqtt/sn).
		switch {
		case l.UnixPath != "":
			p.errorf(pos, "protocol", "%s: protocol mqttsn needs a UDP port, not a unix socket", name)
		case t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || t.CAPath != "":
			p.errorf(pos, "protocol", "%s: protocol mqttsn has no TLS (MQTT-SN 1.2 runs over plain UDP)", name)
		case l.BindInterface != "":
			p.errorf(pos, "bind_interface", "%s: bind_interface is not supported on a protocol mqttsn listener; give the address on the listener line", name)
		}
		return
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		p.errorf(pos, "certfile", "%s: certfile needs keyfile", name)
		return
	case t.KeyFile != "" && t.CertFile == "":
		p.errorf(pos, "keyfile", "%s: keyfile needs certfile", name)
		return
	}
	if !t.Enabled() {
		for _, s := range []struct {
			set  bool
			name string
		}{
			{t.CAFile != "", "cafile"}, {t.CAPath != "", "capath"}, {t.CRLFile != "", "crlfile"},
			{t.RequireCertificate, "require_certificate"}, {t.UseIdentityAsUsername, "use_identity_as_username"},
			{t.UseSubjectAsUsername, "use_subject_as_username"}, {t.Version != "", "tls_version"}, {t.Ciphers != "", "ciphers"},
		} {
			if s.set {
				p.errorf(pos, s.name, "%s: %s needs certfile and keyfile (TLS is off without them)", name, s.name)
				return
			}
		}
		return
	}
	if t.RequireCertificate && t.CAFile == "" && t.CAPath == "" {
		p.errorf(pos, "require_certificate", "%s: require_certificate needs cafile or capath to verify client certificates", name)
		return
	}
	if (t.UseIdentityAsUsername || t.UseSubjectAsUsername) && !t.RequireCertificate {
		p.warnf(pos, "use_identity_as_username", "%s: use_identity_as_username/use_subject_as_username without require_certificate: clients are not asked for a certificate, so they have no identity", name)
	}
	if t.CRLFile != "" && !t.RequireCertificate {
		p.warnf(pos, "crlfile", "%s: crlfile has no effect without require_certificate", name)
	}
	if badFile {
		return // a file was reported missing or unreadable already
	}
	// Load the certificates now, so that a bad key or CA is reported before anything opens.
	tc, err := listener.NewTLS(*l.Spec().TLS)
	if err != nil {
		p.unusablef(pos, "certfile", "%s: %v", name, err)
		return
	}
	for _, n := range tc.Notes() {
		p.warnf(pos, "crlfile", "%s: %s", name, n)
	}
}
