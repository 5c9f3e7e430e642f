// Package testcerts makes throwaway certificate authorities and certificates for tests, with
// crypto/x509 only: a CA, a server certificate for 127.0.0.1/::1/localhost and a client
// certificate, written as PEM files.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Set is one CA with a server and a client certificate, as files in a directory.
type Set struct {
	Dir                   string
	CAFile                string // CA certificate (PEM)
	CAKey                 *ecdsa.PrivateKey
	CA                    *x509.Certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	ClientSerial          *big.Int
}

// nextSerial returns a random serial number (unique in practice, and safe for parallel tests).
func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// New makes a CA named name and its certificates in a new temporary directory.
func New(t testing.TB, name string) *Set {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mqtt tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	s := &Set{Dir: dir, CAFile: filepath.Join(dir, "ca.crt"), CAKey: key, CA: ca}
	writePEM(t, s.CAFile, "CERTIFICATE", der)
	s.ServerCert, s.ServerKey, _ = s.Issue(t, "server", "localhost", false)
	s.ClientCert, s.ClientKey, s.ClientSerial = s.Issue(t, "client", "client1", true)
	return s
}

// Issue signs a new certificate with the CA and writes FILE.crt/FILE.key; client certificates
// get the client-auth usage, server ones the 127.0.0.1, ::1 and localhost names.
func (s *Set) Issue(t testing.TB, file, cn string, client bool) (certFile, keyFile string, sn *big.Int) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn = nextSerial()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"GB"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.CA, &key.PublicKey, s.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(s.Dir, file+".crt"), filepath.Join(s.Dir, file+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile, sn
}

// CRL writes a revocation list, signed by the CA, that revokes serials; it returns its path.
func (s *Set) CRL(t testing.TB, serials ...*big.Int) string {
	t.Helper()
	return s.CRLAt(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), serials...)
}

// CRLAt writes a revocation list valid from this until next (an expired one when next has
// passed), signed by the CA, that revokes serials; it returns its path (a new file each call).
func (s *Set) CRLAt(t testing.TB, this, next time.Time, serials ...*big.Int) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, sn := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                this,
		NextUpdate:                next,
		RevokedCertificateEntries: entries,
	}, s.CA, s.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(s.Dir, "crl-*.pem")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	writePEM(t, f.Name(), "X509 CRL", der)
	return f.Name()
}

// Pool returns a pool holding the CA certificate.
func (s *Set) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.CA)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
