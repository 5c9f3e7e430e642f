package listener

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/listener/testcerts"
)

// makeCRL writes a revocation list with the given validity, issued in issuer's name and signed
// with key (not issuer's own key makes a list whose signature does not verify).
func makeCRL(t *testing.T, issuer *x509.Certificate, key *ecdsa.PrivateKey, this, next time.Time, revoked ...*big.Int) string {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, sn := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: sn, RevocationTime: this})
	}
	signer := issuer
	if !issuer.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		// The same name, another key: CreateRevocationList checks the key against the issuer.
		signer = &x509.Certificate{Subject: issuer.Subject, RawSubject: issuer.RawSubject, SubjectKeyId: issuer.SubjectKeyId,
			KeyUsage: x509.KeyUsageCRLSign, PublicKey: &key.PublicKey}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: next,
		RevokedCertificateEntries: entries}, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "crl.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// As OpenSSL (and so Mosquitto) with crlfile: the client certificate is refused when the list
// from its issuer is revoked, expired, not yet valid, badly signed or missing.
func TestTLSCRLChecks(t *testing.T) {
	ca := testcerts.New(t, "ca")
	other := testcerts.New(t, "other")
	now := time.Now()
	hour := time.Hour
	for _, tc := range []struct {
		name   string
		crl    string
		reason string // "" accepted
		note   string // a load-time note
	}{
		{"current", makeCRL(t, ca.CA, ca.CAKey, now.Add(-hour), now.Add(hour)), "", ""},
		{"revoked", makeCRL(t, ca.CA, ca.CAKey, now.Add(-hour), now.Add(hour), ca.ClientSerial), "certificate revoked", ""},
		{"expired", makeCRL(t, ca.CA, ca.CAKey, now.Add(-2*hour), now.Add(-hour)), "CRL has expired", "expired at"},
		{"not yet valid", makeCRL(t, ca.CA, ca.CAKey, now.Add(hour), now.Add(2*hour)), "CRL is not yet valid", ""},
		{"bad signature", makeCRL(t, ca.CA, other.CAKey, now.Add(-hour), now.Add(hour)), "CRL signature failure", "not signed by a CA"},
		{"another CA's list", makeCRL(t, other.CA, other.CAKey, now.Add(-hour), now.Add(hour)), "unable to get certificate CRL", "not signed by a CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tlsSpec(ca)
			spec.RequireCertificate = true
			spec.CRLFile = tc.crl
			tcfg, err := NewTLS(*spec)
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(tcfg.Notes(), "\n")
			if (tc.note == "") != (notes == "") || !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
			l := openT(t, Spec{Network: "tcp4", TLS: spec})
			errc := make(chan error, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					errc <- err
					return
				}
				defer c.Close()
				_, err = c.Read(make([]byte, 1))
				errc <- err
			}()
			cert, err := tls.LoadX509KeyPair(ca.ClientCert, ca.ClientKey)
			if err != nil {
				t.Fatal(err)
			}
			c, err := dialTLS(l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
			if err == nil {
				_, _ = c.Write([]byte("x"))
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Read(make([]byte, 1))
				c.Close()
			}
			var serverErr error
			select {
			case serverErr = <-errc:
			case <-time.After(10 * time.Second):
				t.Fatal("no result on the server side")
			}
			var ce *CRLError
			switch {
			case tc.reason == "" && serverErr != nil:
				t.Errorf("refused: %v", serverErr)
			case tc.reason != "" && (!errors.As(serverErr, &ce) || ce.Reason != tc.reason):
				t.Errorf("server error %v, want the reason %q", serverErr, tc.reason)
			case tc.reason != "" && !strings.Contains(serverErr.Error(), "CN=client1"):
				t.Errorf("the error does not name the client certificate: %v", serverErr)
			}
		})
	}
}
