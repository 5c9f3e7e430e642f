package auth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/internal/listener"
	"github.com/mqttkit/mqtt/mqtt/broker"
	"github.com/mqttkit/mqtt/mqtt/packet"
)

// ListenerSecurity is how the clients of one listener are authenticated and authorized:
// Mosquitto's password_file, acl_file and allow_anonymous (global, or per listener with
// per_listener_settings) and the listener's use_identity_as_username/use_subject_as_username.
type ListenerSecurity struct {
	// Name identifies the listener in logs.
	Name string
	// Files holds the password file and the ACL; nil means neither is configured. Listeners
	// that share the global settings share one Store, so a reload reads each file once.
	Files *Store
	// AllowAnonymous accepts clients that send no username.
	AllowAnonymous bool
	// IdentityAsUsername and SubjectAsUsername take the username from the verified TLS client
	// certificate (its first CN, or its whole subject as OpenSSL prints it in RFC 2253 form,
	// which is Mosquitto's: see subject.go); the password file is then not consulted, as in
	// Mosquitto, and a client without a certificate (or without a CN) is refused.
	IdentityAsUsername bool
	SubjectAsUsername  bool
}

func (s *ListenerSecurity) sameAs(o *ListenerSecurity) bool {
	return s.Files == o.Files && s.AllowAnonymous == o.AllowAnonymous &&
		s.IdentityAsUsername == o.IdentityAsUsername && s.SubjectAsUsername == o.SubjectAsUsername
}

// FileAuth is the Authenticator (a ConnAuthenticator) and Authorizer for password and ACL
// files (internal/auth), with settings per listener. Connections are matched to their
// listener by broker.ClientInfo.Listener (the listener's port, or its path for a unix socket).
//
// Failed authentications are logged at debug level with the client id and address (never the
// password); the broker logs Mosquitto's "Client <unknown> disconnected, not authorised." at
// notice level. They are slowed down: each failure for one username from one IP address within
// FailureWindow of the previous one doubles the delay before the refusing CONNACK, from
// FailureDelay up to MaxFailureDelay, so that one user's typos do not slow the others on the
// same host; and beyond ipFreeFailures failures from one address, whatever the usernames (a
// scan of many), every refusal from it is delayed the same way. At most maxFailureRecords
// addresses and usernames are remembered; beyond that the stalest is forgotten.
type FileAuth struct {
	log *slog.Logger

	// FailureDelay is the delay after a first failure (default 100 ms); MaxFailureDelay caps
	// it (default 3 s); FailureWindow is how long an address's failures are remembered
	// (default 10 min). Set them before serving.
	FailureDelay    time.Duration
	MaxFailureDelay time.Duration
	FailureWindow   time.Duration

	def *ListenerSecurity

	mu    sync.RWMutex // guards byKey
	byKey map[string]*ListenerSecurity

	failMu   sync.Mutex // guards failures
	failures map[string]*failureRecord

	done      chan struct{}
	closeOnce sync.Once

	version atomic.Uint64 // RulesVersion
}

type failureRecord struct {
	n    int
	last time.Time
}

const maxFailureRecords = 10_000

// ipFreeFailures is how many failures one address may have within FailureWindow, across
// usernames, before every refusal from it is delayed.
const ipFreeFailures = 10

// NewFileAuth returns a FileAuth that applies def to connections from listeners not bound
// with Bind (e.g. those of Options.Listeners).
func NewFileAuth(def *ListenerSecurity, logger *slog.Logger) *FileAuth {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if def == nil {
		def = &ListenerSecurity{Name: "default", AllowAnonymous: true}
	}
	return &FileAuth{
		log:             logger,
		FailureDelay:    100 * time.Millisecond,
		MaxFailureDelay: 3 * time.Second,
		FailureWindow:   10 * time.Minute,
		def:             def,
		byKey:           map[string]*ListenerSecurity{},
		failures:        map[string]*failureRecord{},
		done:            make(chan struct{}),
	}
}

// Bind applies s to the connections of ln. Two listeners on one port (different addresses)
// must have the same settings, since connections are told apart by port.
func (a *FileAuth) Bind(ln net.Listener, s *ListenerSecurity) error {
	key := broker.ListenerKey(ln.Addr())
	a.mu.Lock()
	defer a.mu.Unlock()
	if o, ok := a.byKey[key]; ok && !o.sameAs(s) {
		return portConflict(o, s, key)
	}
	a.byKey[key] = s
	return nil
}

func portConflict(o, s *ListenerSecurity, key string) error {
	return fmt.Errorf("%s and %s share port %s but have different security settings (password_file, acl_file, allow_anonymous, use_identity_as_username); give them the same or use different ports", o.Name, s.Name, key)
}

// Rebind replaces every binding at once: listener lns[i] gets secs[i] (nil listeners are
// skipped). On a conflict nothing changes. SIGHUP uses it to apply a re-read configuration.
func (a *FileAuth) Rebind(lns []net.Listener, secs []*ListenerSecurity) error {
	m := make(map[string]*ListenerSecurity, len(lns))
	for i, ln := range lns {
		if ln == nil {
			continue
		}
		key := broker.ListenerKey(ln.Addr())
		if o, ok := m[key]; ok && !o.sameAs(secs[i]) {
			return portConflict(o, secs[i], key)
		}
		m[key] = secs[i]
	}
	a.mu.Lock()
	a.byKey = m
	a.mu.Unlock()
	a.version.Add(1)
	return nil
}

// RulesVersion changes whenever Reload or Rebind changes the rules, so the
// broker checks messages queued under the old ones again before it
// delivers them (broker.VersionedAuthorizer).
func (a *FileAuth) RulesVersion() uint64 { return a.version.Load() }

// Close ends the delays of failed authentications in progress.
func (a *FileAuth) Close() { a.closeOnce.Do(func() { close(a.done) }) }

// HasACL reports whether some listener has an acl_file. Without one the broker can run
// without an Authorizer (no check per delivery).
func (a *FileAuth) HasACL() bool {
	for _, s := range a.securities() {
		if s.Files != nil && s.Files.ACL() != nil {
			return true
		}
	}
	return false
}

// securities returns the distinct ListenerSecurity values, the default first.
func (a *FileAuth) securities() []*ListenerSecurity {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := []*ListenerSecurity{a.def}
	for _, s := range a.byKey {
		out = append(out, s)
	}
	return out
}

// Reload reads every password file and ACL again (SIGHUP). A file that fails to load keeps
// its store's old rules in force; the error names FILE:LINE. Warnings are entries skipped.
func (a *FileAuth) Reload() ([]*LineError, error) {
	seen := map[*Store]bool{}
	var warns []*LineError
	var errs []error
	for _, s := range a.securities() {
		if s.Files == nil || seen[s.Files] {
			continue
		}
		seen[s.Files] = true
		w, err := s.Files.Reload()
		warns = append(warns, w...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	a.version.Add(1) // even a failed reload may have changed one of several files
	return warns, errors.Join(errs...)
}

func (a *FileAuth) security(c *broker.ClientInfo) *ListenerSecurity {
	a.mu.RLock()
	s, ok := a.byKey[c.Listener]
	a.mu.RUnlock()
	if !ok {
		return a.def
	}
	return s
}

// Authenticate is AuthenticateConn without a connection (no TLS identity).
func (a *FileAuth) Authenticate(ctx context.Context, info broker.ConnectInfo) packet.ReasonCode {
	return a.AuthenticateConn(ctx, nil, &info)
}

// AuthenticateConn decides a CONNECT as Mosquitto 2 does:
//   - with use_identity_as_username/use_subject_as_username the certificate names the user
//     and no password is checked; no certificate: Bad User Name or Password;
//   - no username: accepted if allow_anonymous, else Not Authorized;
//   - a username with a password file: the password must match (Bad User Name or Password);
//   - a username without a password file: accepted only if allow_anonymous, else Not
//     Authorized: nothing can check it, so it is as anonymous as no username (Mosquitto
//     refuses it too; it was accepted here before).
func (a *FileAuth) AuthenticateConn(ctx context.Context, nc net.Conn, info *broker.ConnectInfo) packet.ReasonCode {
	s := a.security(&info.ClientInfo)
	if s.IdentityAsUsername || s.SubjectAsUsername {
		user, why := certificateUsername(nc, s.SubjectAsUsername)
		if why != "" {
			return a.refuse(ctx, info, packet.BadUserNameOrPassword, why+" on "+s.Name+", which takes the username from the client certificate")
		}
		info.Username, info.HasUsername = user, true
		return packet.Success
	}
	if !info.HasUsername {
		if s.AllowAnonymous {
			return packet.Success
		}
		return a.refuse(ctx, info, packet.NotAuthorized, "anonymous clients are not allowed on "+s.Name)
	}
	var pw *PasswordFile
	if s.Files != nil {
		pw = s.Files.Passwords()
	}
	if pw == nil {
		if s.AllowAnonymous {
			return packet.Success
		}
		return a.refuse(ctx, info, packet.NotAuthorized, "username "+strconv.Quote(info.Username)+" but no password_file on "+s.Name+" to check it, and anonymous clients are not allowed")
	}
	if !info.HasPassword {
		// Verify anyway so that the answer takes as long as for a wrong password.
		pw.Verify(info.Username, "")
		return a.refuse(ctx, info, packet.BadUserNameOrPassword, "username "+strconv.Quote(info.Username)+" without a password")
	}
	if !pw.Verify(info.Username, string(info.Password)) {
		return a.refuse(ctx, info, packet.BadUserNameOrPassword, "bad username or password for "+strconv.Quote(info.Username))
	}
	return packet.Success
}

// certificateUsername is the username Mosquitto takes from nc's client certificate: its
// subject (use_subject_as_username) or its first CN (see subject.go). why says what is
// missing when there is none.
func certificateUsername(nc net.Conn, subject bool) (user, why string) {
	var st tls.ConnectionState
	ok := false
	if nc != nil {
		st, ok = listener.TLSState(nc)
	}
	if !ok || len(st.PeerCertificates) == 0 {
		return "", "no client certificate"
	}
	raw := st.PeerCertificates[0].RawSubject
	if subject {
		s, err := subjectRFC2253(raw)
		if err != nil {
			return "", err.Error()
		}
		return s, ""
	}
	cn, ok, err := firstCommonName(raw)
	switch {
	case err != nil:
		return "", err.Error()
	case !ok:
		return "", "no CN in the client certificate's subject"
	}
	return cn, ""
}

// refuse logs a failed authentication and delays the answer by the address's failure count.
func (a *FileAuth) refuse(ctx context.Context, info *broker.ConnectInfo, rc packet.ReasonCode, why string) packet.ReasonCode {
	remote, ip := "unknown", ""
	if info.Remote != nil {
		remote = info.ClientInfo.LogAddr()
		ip = remoteIP(info.Remote)
	}
	user := ""
	if info.HasUsername {
		user = info.Username
	}
	delay := a.recordFailure(ip, user, time.Now())
	msg := "Authentication failed for client " + info.ClientID + " from " + remote + ": " + why
	if delay > 0 {
		msg += "; answering in " + delay.String()
	}
	a.log.Debug(msg + ".")
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-a.done:
		}
	}
	return rc
}

// remoteIP is the address failures are counted by: the IP of a TCP peer, or "" (not
// counted) for peers without one, such as unix sockets.
func remoteIP(addr net.Addr) string {
	if ta, ok := addr.(interface{ AddrPort() netip.AddrPort }); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	if addr.Network() == "unix" {
		return ""
	}
	s := addr.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return strings.Trim(s, "[]")
}

// recordFailure counts a failure for user from ip and returns how long to delay its answer:
// by the failures for that username from that address, or, past ipFreeFailures, by those of
// the address, whichever is longer.
func (a *FileAuth) recordFailure(ip, user string, now time.Time) time.Duration {
	if ip == "" || a.FailureDelay <= 0 {
		return 0
	}
	a.failMu.Lock()
	defer a.failMu.Unlock()
	d := a.delayFor(a.countFailureLocked(ip+"\x00"+user, now))
	if n := a.countFailureLocked(ip, now); n > ipFreeFailures {
		d = max(d, a.delayFor(n-ipFreeFailures))
	}
	return d
}

// countFailureLocked counts one more failure under key and returns the count in the window.
func (a *FileAuth) countFailureLocked(key string, now time.Time) int {
	r, ok := a.failures[key]
	if ok && now.Sub(r.last) > a.FailureWindow {
		r.n = 0
	}
	if !ok {
		if len(a.failures) >= maxFailureRecords {
			a.evictFailuresLocked(now)
		}
		r = &failureRecord{}
		a.failures[key] = r
	}
	r.n++
	r.last = now
	return r.n
}

// delayFor is the delay after the n-th failure: FailureDelay doubled n-1 times, at most
// MaxFailureDelay.
func (a *FileAuth) delayFor(n int) time.Duration {
	d := a.FailureDelay
	for i := 1; i < n && d < a.MaxFailureDelay; i++ {
		d *= 2
	}
	return min(d, a.MaxFailureDelay)
}

// evictFailuresLocked forgets expired records, or the stalest one if none has expired.
func (a *FileAuth) evictFailuresLocked(now time.Time) {
	var stalest string
	var oldest time.Time
	for ip, r := range a.failures {
		if now.Sub(r.last) > a.FailureWindow {
			delete(a.failures, ip)
			continue
		}
		if stalest == "" || r.last.Before(oldest) {
			stalest, oldest = ip, r.last
		}
	}
	if len(a.failures) >= maxFailureRecords {
		delete(a.failures, stalest)
	}
}

func (a *FileAuth) acl(c *broker.ClientInfo) *ACL {
	s := a.security(c)
	if s.Files == nil {
		return nil
	}
	return s.Files.ACL()
}

func aclUser(c *broker.ClientInfo) string {
	if !c.HasUsername {
		return ""
	}
	return c.Username
}

// CanPublish applies the ACL's write rules.
func (a *FileAuth) CanPublish(_ context.Context, c broker.ClientInfo, topic string, _ byte, _ bool) bool {
	return a.acl(&c).CanWrite(aclUser(&c), c.ClientID, topic)
}

// CanSubscribe applies the ACL's read rules to a filter (see ACL.CanSubscribe).
func (a *FileAuth) CanSubscribe(_ context.Context, c broker.ClientInfo, filter string) bool {
	return a.acl(&c).CanSubscribe(aclUser(&c), c.ClientID, filter)
}

// CanRead applies the ACL's read rules to each message delivered.
func (a *FileAuth) CanRead(_ context.Context, c broker.ClientInfo, topic string) bool {
	return a.acl(&c).CanRead(aclUser(&c), c.ClientID, topic)
}

// Quick reports that the checks never wait: the rules are in memory and
// a reload swaps them whole (broker.QuickAuthorizer).
func (a *FileAuth) Quick() bool { return true }

var _ broker.ConnAuthenticator = (*FileAuth)(nil)
var _ broker.QuickAuthorizer = (*FileAuth)(nil)
