package listener

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TLSSpec is a listener's certificate settings (Mosquitto's cafile, capath, certfile, keyfile,
// crlfile, require_certificate, tls_version and ciphers).
type TLSSpec struct {
	CAFile, CAPath     string
	CertFile, KeyFile  string
	CRLFile            string
	RequireCertificate bool
	// MinVersion is "tlsv1.1", "tlsv1.2" or "tlsv1.3"; "" means TLS 1.2 (Mosquitto 2's default).
	MinVersion string
	// Ciphers is an OpenSSL-style cipher list for TLS 1.2 and earlier; see ParseCiphers.
	Ciphers string
}

// TLSConfig is a reloadable server TLS configuration: Config's GetConfigForClient hands each
// new handshake the configuration last loaded by NewTLS or Reload.
type TLSConfig struct {
	spec TLSSpec
	cur  atomic.Pointer[tls.Config]
	base *tls.Config
	// issuer is the server certificate's issuer (RFC 2253), for handshake error messages.
	issuer atomic.Pointer[string]
	notes  []string // see Notes
}

// NewTLS loads the files spec names and checks them.
func NewTLS(spec TLSSpec) (*TLSConfig, error) {
	t := &TLSConfig{spec: spec}
	cfg, notes, err := buildTLS(spec)
	if err != nil {
		return nil, err
	}
	t.notes = notes
	t.store(cfg)
	t.base = &tls.Config{
		MinVersion: cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	}
	return t, nil
}

// Config returns the tls.Config to serve with; it follows Reload.
func (t *TLSConfig) Config() *tls.Config { return t.base }

// Reload re-reads the certificate, key, CA and CRL files. On error the previous configuration
// stays in use.
func (t *TLSConfig) Reload() error {
	cfg, _, err := buildTLS(t.spec)
	if err != nil {
		return err
	}
	t.store(cfg)
	return nil
}

// Notes are problems found at load that do not stop the listener but refuse clients, e.g. an
// expired CRL (Mosquitto starts too, and refuses those clients).
func (t *TLSConfig) Notes() []string { return t.notes }

func (t *TLSConfig) store(cfg *tls.Config) {
	issuer := ""
	if leaf := cfg.Certificates[0].Leaf; leaf != nil {
		issuer = leaf.Issuer.String()
	}
	t.issuer.Store(&issuer)
	t.cur.Store(cfg)
}

// explain wraps a failed handshake's error with its likely cause (see HandshakeError).
func (t *TLSConfig) explain(err error) error {
	issuer := ""
	if p := t.issuer.Load(); p != nil {
		issuer = *p
	}
	return explainHandshake(err, t.spec.CertFile, issuer)
}

func buildTLS(s TLSSpec) (*tls.Config, []string, error) {
	var notes []string
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, nil, errors.New("TLS needs certfile and keyfile")
	}
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("certfile %q / keyfile %q: %w", s.CertFile, s.KeyFile, err)
	}
	min, err := ParseTLSVersion(s.MinVersion)
	if err != nil {
		return nil, nil, err
	}
	suites, _, err := ParseCiphers(s.Ciphers)
	if err != nil {
		return nil, nil, fmt.Errorf("ciphers: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   min,
		CipherSuites: suites,
		ClientAuth:   tls.NoClientCert,
	}
	var cas []*x509.Certificate
	if s.CAFile != "" || s.CAPath != "" {
		pool := x509.NewCertPool()
		if s.CAFile != "" {
			data, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, nil, fmt.Errorf("cafile: %w", err)
			}
			certs := parseCerts(data)
			if len(certs) == 0 {
				return nil, nil, fmt.Errorf("cafile %q: no PEM certificate in it", s.CAFile)
			}
			cas = append(cas, certs...)
		}
		if s.CAPath != "" {
			certs, err := loadCAPath(s.CAPath)
			if err != nil {
				return nil, nil, err
			}
			cas = append(cas, certs...)
		}
		for _, c := range cas {
			pool.AddCert(c)
		}
		cfg.ClientCAs = pool
	}
	if s.RequireCertificate {
		if cfg.ClientCAs == nil {
			return nil, nil, errors.New("require_certificate needs cafile or capath")
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if s.CRLFile != "" {
		crls, err := loadCRL(s.CRLFile)
		if err != nil {
			return nil, nil, err
		}
		notes = crlNotes(s.CRLFile, crls, cas, time.Now())
		check := &crlCheck{file: s.CRLFile, crls: crls, now: time.Now}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
				return nil // no client certificate (require_certificate false)
			}
			return check.verify(cs.VerifiedChains[0])
		}
	}
	return cfg, notes, nil
}

// parseCerts returns the certificates of the PEM blocks in data.
func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// loadCAPath reads every PEM certificate in the files of dir (as OpenSSL's hashed capath
// directories hold; files without certificates are skipped).
func loadCAPath(dir string) ([]*x509.Certificate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("capath: %w", err)
	}
	var out []*x509.Certificate
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		out = append(out, parseCerts(data)...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("capath %q: no PEM certificate in it", dir)
	}
	return out, nil
}

// loadCRL reads PEM ("X509 CRL") or DER revocation lists.
func loadCRL(path string) ([]*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crlfile: %w", err)
	}
	var ders [][]byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "X509 CRL" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		ders = [][]byte{data}
	}
	var out []*x509.RevocationList
	for _, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("crlfile %q: %w", path, err)
		}
		out = append(out, crl)
	}
	return out, nil
}

// ParseTLSVersion maps Mosquitto's tls_version values to a minimum version.
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "", "tlsv1.2":
		return tls.VersionTLS12, nil
	case "tlsv1.3":
		return tls.VersionTLS13, nil
	case "tlsv1.1":
		return tls.VersionTLS11, nil
	}
	return 0, fmt.Errorf("tls_version: expected tlsv1.1, tlsv1.2 or tlsv1.3, got %q", s)
}

// opensslNames maps OpenSSL cipher names to Go's TLS 1.2 cipher suites.
var opensslNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// Keywords of OpenSSL cipher strings that select "the strong ones": Go's defaults satisfy them.
var opensslDefaults = map[string]bool{"HIGH": true, "DEFAULT": true, "ALL": true, "SECURE": true, "MEDIUM": true, "COMPLEMENTOFDEFAULT": true}

// Classes Go never offers, so excluding them ("!aNULL") changes nothing.
var neverOffered = map[string]bool{
	"aNULL": true, "eNULL": true, "NULL": true, "ADH": true, "AECDH": true, "MD5": true, "RC4": true,
	"EXP": true, "EXPORT": true, "LOW": true, "DES": true, "PSK": true, "SRP": true, "DSS": true,
	"aDSS": true, "CAMELLIA": true, "SEED": true, "IDEA": true, "kDH": true, "kDHE": true, "DHE": true,
	"EDH": true, "3DES": true, "aPSK": true, "kPSK": true, "SHA1": true, "CBC": true,
}

// ParseCiphers reads an OpenSSL-style cipher list ("ECDHE-RSA-AES128-GCM-SHA256:..."; Go/IANA
// names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 also work). Keywords such as HIGH or
// DEFAULT select Go's default suites, and exclusions ("!aNULL", "!MD5") of kinds Go never offers
// are accepted; notes say so. Names Go does not offer (DHE-RSA-AES128-GCM-SHA256 in Mozilla's
// intermediate list) or that are unknown are left out with one note naming them all, as OpenSSL
// (and so Mosquitto) skips them; a list in which nothing is usable is an error, and so is an
// exclusion that cannot be honoured. An empty list gives nil (Go's defaults).
func ParseCiphers(s string) ([]uint16, []string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil, nil
	}
	iana, tls13 := map[string]uint16{}, map[string]bool{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if len(c.SupportedVersions) == 1 && c.SupportedVersions[0] == tls.VersionTLS13 {
			tls13[c.Name] = true
			continue
		}
		iana[c.Name] = c.ID
	}
	var suites []uint16
	var notes, unsupported []string
	useDefaults := false
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		name := item
		if name[0] == '!' || name[0] == '-' {
			base := strings.TrimLeft(name, "!-")
			if neverOffered[base] {
				continue
			}
			return nil, nil, fmt.Errorf("cannot honour the exclusion %q: list the ciphers to allow instead", item)
		}
		name = strings.TrimPrefix(name, "+")
		if id, ok := opensslNames[name]; ok {
			suites = append(suites, id)
			continue
		}
		if id, ok := iana[name]; ok {
			suites = append(suites, id)
			continue
		}
		if opensslDefaults[name] {
			useDefaults = true
			continue
		}
		if tls13[name] {
			notes = append(notes, fmt.Sprintf("%s is a TLS 1.3 suite; Go always enables the TLS 1.3 suites, so it is not needed here", name))
			continue
		}
		unsupported = append(unsupported, item)
	}
	if len(unsupported) > 0 {
		if len(suites) == 0 && !useDefaults && len(notes) == 0 {
			return nil, nil, fmt.Errorf("none of the ciphers is offered by Go's crypto/tls (unknown or unsupported: %s)", strings.Join(unsupported, ", "))
		}
		notes = append(notes, fmt.Sprintf("ignoring %s: not offered by Go's crypto/tls (or unknown); the other ciphers of the list are used", strings.Join(unsupported, ", ")))
	}
	if useDefaults {
		notes = append(notes, "OpenSSL keywords (HIGH, DEFAULT, ...) select Go's default cipher suites")
		if len(suites) == 0 {
			return nil, notes, nil
		}
	}
	if len(suites) == 0 && !useDefaults {
		if len(notes) > 0 { // only TLS 1.3 names: TLS 1.2 keeps Go's defaults
			return nil, notes, nil
		}
		return nil, nil, errors.New("no cipher selected")
	}
	return suites, notes, nil
}

// tlsListener hands out TLS connections whose handshake runs on first use, so that a slow or
// failing client never holds up Accept.
type tlsListener struct {
	net.Listener
	cfg     *TLSConfig
	timeout time.Duration
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cfg := l.cfg.Config()
	return &TLSConn{Conn: tls.Server(c, cfg), raw: c, cfg: cfg, timeout: l.timeout, explain: l.cfg.explain}, nil
}

func (l *tlsListener) Reload() error { return l.cfg.Reload() }

// TLSConn is a server-side TLS connection that completes its handshake, within a timeout, on
// the first Read, Write or ConnectionState. A failed handshake closes the connection.
//
// It is a broker.TLSHandoff: before its first use, the broker may take the TCP connection
// under it and run the handshake itself, to serve it from its event loop (TLSHandoff).
type TLSConn struct {
	*tls.Conn
	raw     net.Conn
	cfg     *tls.Config
	timeout time.Duration
	explain func(error) error // nil: errors as crypto/tls returns them
	used    atomic.Bool       // the handshake has started: no handoff any more
	once    sync.Once
	err     error
}

// TLSHandoff returns the accepted connection, the server configuration (it follows Reload), the
// handshake timeout and the function that explains a failed handshake (as a *HandshakeError),
// for a broker that runs the handshake itself (broker.TLSHandoff). raw is nil once the
// connection has been used.
func (c *TLSConn) TLSHandoff() (raw net.Conn, config *tls.Config, timeout time.Duration, explain func(error) error) {
	if c.used.Load() {
		return nil, nil, 0, nil
	}
	return c.raw, c.cfg, c.timeout, c.explain
}

// Handshake runs the handshake if it has not run yet and returns its result; a failure is a
// *HandshakeError saying what it most likely means.
func (c *TLSConn) Handshake() error {
	c.used.Store(true)
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			_ = c.Conn.Close()
			if c.explain != nil {
				c.err = c.explain(c.err)
			}
		}
	})
	return c.err
}

func (c *TLSConn) Read(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *TLSConn) Write(b []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// ConnectionState completes the handshake first, so the peer certificates are there.
func (c *TLSConn) ConnectionState() tls.ConnectionState {
	_ = c.Handshake()
	return c.Conn.ConnectionState()
}

// TLSState returns the TLS state of a connection from this package's listeners (TLS and
// websockets over TLS); ok is false for plain connections.
func TLSState(c net.Conn) (tls.ConnectionState, bool) {
	if s, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return s.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// PeerIdentity returns the verified client certificate's common name (for
// use_identity_as_username) and subject in RFC 2253 form, e.g. "CN=dev1,O=Acme" (for
// use_subject_as_username). ok is false without a client certificate.
func PeerIdentity(c net.Conn) (commonName, subject string, ok bool) {
	st, isTLS := TLSState(c)
	if !isTLS || len(st.PeerCertificates) == 0 {
		return "", "", false
	}
	leaf := st.PeerCertificates[0]
	return leaf.Subject.CommonName, leaf.Subject.String(), true
}
