package listener

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"
)

// crlCheck checks a verified client certificate against the lists of crlfile the way OpenSSL
// does with X509_V_FLAG_CRL_CHECK, which Mosquitto sets for crlfile: only the client's own
// certificate is checked, against a list from its issuer whose signature verifies with the
// issuer's key and which is current. A certificate whose issuer has no such list is refused
// ("unable to get certificate CRL"), as are expired, not yet valid and badly signed lists:
// mosquitto 2.0.11 refuses the client in each case (checked with lists made by crypto/x509),
// logging only "certificate verify failed"; these errors say which case it was.
type crlCheck struct {
	file string
	crls []*x509.RevocationList
	now  func() time.Time
}

// CRLError is a client certificate refused by the revocation check.
type CRLError struct {
	Subject string // the client certificate's subject
	Reason  string // what OpenSSL calls it, e.g. "CRL has expired"
	Detail  string
}

func (e *CRLError) Error() string {
	return fmt.Sprintf("client certificate %s refused: %s (%s)", e.Subject, e.Detail, e.Reason)
}

// verify checks chain[0], issued by chain[1] (or self-issued when the chain has one element).
func (c *crlCheck) verify(chain []*x509.Certificate) error {
	leaf := chain[0]
	issuer := leaf
	if len(chain) > 1 {
		issuer = chain[1]
	}
	fail := func(reason, format string, args ...any) error {
		return &CRLError{Subject: leaf.Subject.String(), Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	var named, signed []*x509.RevocationList
	for _, l := range c.crls {
		if !bytes.Equal(l.RawIssuer, leaf.RawIssuer) {
			continue
		}
		named = append(named, l)
		if l.CheckSignatureFrom(issuer) == nil {
			signed = append(signed, l)
		}
	}
	switch {
	case len(named) == 0:
		return fail("unable to get certificate CRL", "crlfile %s has no revocation list from its issuer %s", c.file, leaf.Issuer)
	case len(signed) == 0:
		return fail("CRL signature failure", "the revocation list from %s in crlfile %s is not signed by that CA's key", leaf.Issuer, c.file)
	}
	now := c.now()
	var current *x509.RevocationList
	for _, l := range signed {
		if !now.Before(l.ThisUpdate) && (l.NextUpdate.IsZero() || now.Before(l.NextUpdate)) {
			current = l
			break
		}
	}
	if current == nil {
		l := signed[0]
		if now.Before(l.ThisUpdate) {
			return fail("CRL is not yet valid", "the revocation list from %s in crlfile %s is valid only from %s", leaf.Issuer, c.file, l.ThisUpdate.UTC().Format(time.RFC3339))
		}
		return fail("CRL has expired", "the revocation list from %s in crlfile %s expired at %s; renew it", leaf.Issuer, c.file, l.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, e := range current.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
			return fail("certificate revoked", "serial %s is revoked by crlfile %s", leaf.SerialNumber, c.file)
		}
	}
	return nil
}

// crlNotes says, at load, what will make every client of a CA fail the check: a list that
// no CA in cafile/capath signed, or one that has expired.
func crlNotes(file string, crls []*x509.RevocationList, cas []*x509.Certificate, now time.Time) []string {
	var notes []string
	for _, l := range crls {
		ok := false
		for _, ca := range cas {
			if bytes.Equal(ca.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(ca) == nil {
				ok = true
				break
			}
		}
		if !ok {
			notes = append(notes, fmt.Sprintf("crlfile %s: the revocation list from %s is not signed by a CA in cafile or capath, so it applies to no client", file, l.Issuer))
		}
		if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
			notes = append(notes, fmt.Sprintf("crlfile %s: the revocation list from %s expired at %s: client certificates of that CA are refused until it is renewed (as with Mosquitto)", file, l.Issuer, l.NextUpdate.UTC().Format(time.RFC3339)))
		}
	}
	return notes
}
