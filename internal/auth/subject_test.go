package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

// Attribute types and string types for building subjects.
var (
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidL     = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidUID   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidOther = asn1.ObjectIdentifier{2, 3, 4}
)

func str(tag int, b string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(b)}
}

func utf8s(s string) asn1.RawValue { return str(asn1.TagUTF8String, s) }

func atv(oid asn1.ObjectIdentifier, v asn1.RawValue) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

// rdns builds a Name: each argument is one RDN (more than one value: a multi-valued RDN).
func rdns(sets ...[]pkix.AttributeTypeAndValue) []byte {
	var seq pkix.RDNSequence
	for _, s := range sets {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(s))
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		panic(err)
	}
	return b
}

func one(oid asn1.ObjectIdentifier, v asn1.RawValue) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{atv(oid, v)}
}

// subjectCases are subjects and the username mosquitto 2.0.11 gives them with
// use_subject_as_username: the first nine were read from its "New client connected ... u'...'"
// lines for certificates made with openssl; the rest follow OpenSSL's rules, and
// TestSubjectAsOpenSSLPrintsIt compares every one with the openssl command.
var subjectCases = []struct {
	name    string
	subject []byte
	want    string
}{
	{"order", rdns(one(oidCN, utf8s("alice")), one(oidO, utf8s("Home"))), "O=Home,CN=alice"},
	{"escapes", rdns(one(oidO, utf8s("x")), one(oidCN, utf8s(`a,b+cde<f>g;h=i/j`))), `CN=a\,b\+cde\<f\>g\;h=i/j,O=x`},
	{"leading and trailing", rdns(one(oidCN, utf8s(" lead")), one(oidO, utf8s("#hash")), one(oidOU, utf8s("trail "))), `OU=trail\ ,O=\#hash,CN=\ lead`},
	{"multi-valued", rdns([]pkix.AttributeTypeAndValue{atv(oidCN, utf8s("alice")), atv(oidUID, utf8s("42"))}, one(oidO, utf8s("Home"))), "O=Home,UID=42+CN=alice"},
	{"multi-valued of three", rdns(one(oidO, utf8s("Home")), []pkix.AttributeTypeAndValue{atv(oidCN, utf8s("alice")), atv(oidOU, utf8s("dev")), atv(oidL, utf8s("Paris"))}), "L=Paris+CN=alice+OU=dev,O=Home"},
	{"UTF-8", rdns(one(oidCN, utf8s("Müller")), one(oidO, utf8s("Zürich"))), `O=Z\C3\BCrich,CN=M\C3\BCller`},
	{"control", rdns(one(oidCN, utf8s("tab\there")), one(oidO, utf8s("nl"))), `O=nl,CN=tab\09here`},
	{"DEL and 4-byte UTF-8", rdns(one(oidCN, utf8s("del\x7fx")), one(oidO, utf8s("é€😀"))), `O=\C3\A9\E2\82\AC\F0\9F\98\80,CN=del\7Fx`},
	{"unknown attribute", rdns(one(oidCN, utf8s("x")), one(oidOther, utf8s("custom")), one(oidO, utf8s("y"))), "O=y,2.3.4=#0C06637573746F6D,CN=x"},
	{"printable, IA5", rdns(one(oidC, str(asn1.TagPrintableString, "DE")), one(oidEmail, str(asn1.TagIA5String, "bob@example.com")), one(oidCN, str(asn1.TagPrintableString, "bob"))), "CN=bob,emailAddress=bob@example.com,C=DE"},
	{"BMPString", rdns(one(oidCN, str(asn1.TagBMPString, "\x00\xdc\x00b"))), `CN=\C3\9Cb`},
	{"T61String in Latin-1", rdns(one(oidCN, str(asn1.TagT61String, "caf\xe9"))), `CN=caf\C3\A9`},
	{"lone # and space", rdns(one(oidO, utf8s("#")), one(oidOU, utf8s(" "))), `OU=\ ,O=#`},
	{"backslash and quote", rdns(one(oidCN, utf8s(`a\b"c`))), `CN=a\\b\"c`},
}

func TestSubjectRFC2253(t *testing.T) {
	for _, tc := range subjectCases {
		got, err := subjectRFC2253(tc.subject)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := subjectRFC2253([]byte{0x30, 0x03, 0x31}); err == nil {
		t.Error("a truncated subject was formatted")
	}
}

// Each subject formats as the openssl command prints it with -nameopt RFC2253, which is
// X509_NAME_print_ex with XN_FLAG_RFC2253, what Mosquitto calls.
func TestSubjectAsOpenSSLPrintsIt(t *testing.T) {
	openssl := testutil.RequireTool(t, "openssl")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, tc := range subjectCases {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), RawSubject: tc.subject,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		path := filepath.Join(dir, "c.pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "x509", "-in", path, "-noout", "-subject", "-nameopt", "RFC2253").Output()
		if err != nil {
			t.Fatalf("%s: openssl: %v", tc.name, err)
		}
		want := strings.TrimSuffix(strings.TrimPrefix(string(out), "subject="), "\n")
		if got, _ := subjectRFC2253(der2subject(t, der)); got != want {
			t.Errorf("%s: %q, openssl prints %q", tc.name, got, want)
		}
	}
}

func der2subject(t *testing.T, der []byte) []byte {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c.RawSubject
}

// use_identity_as_username takes the first CN in the certificate's order, as Mosquitto
// (Go's Subject.CommonName is the last).
func TestFirstCommonName(t *testing.T) {
	cn, ok, err := firstCommonName(rdns(one(oidCN, utf8s("first")), one(oidO, utf8s("x")), one(oidCN, utf8s("second"))))
	if err != nil || !ok || cn != "first" {
		t.Errorf("%q %v %v", cn, ok, err)
	}
	if _, ok, err := firstCommonName(rdns(one(oidO, utf8s("x")))); ok || err != nil {
		t.Errorf("no CN: %v %v", ok, err)
	}
}
