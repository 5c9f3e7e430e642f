package auth

import (
	"encoding/asn1"
	"errors"
	"strconv"
	"strings"
)

// The usernames Mosquitto takes from a client certificate, byte for byte, so that ACLs and
// password files written for Mosquitto name the same users:
//
//   - use_subject_as_username: the subject as OpenSSL's X509_NAME_print_ex with
//     XN_FLAG_RFC2253 prints it. That is RFC 2253 order (the last RDN first), OpenSSL's short
//     attribute names, '+' inside a multi-valued RDN (whose values also come last first), the
//     RFC 2253 escapes with a backslash, control characters and every byte above 0x7F as \XX
//     (a UTF-8 "ü" is \C3\BC), and attributes OpenSSL does not know as OID=#DER in hex.
//     Go's pkix.Name.String() differs in all but the order of RDNs, so the raw subject is
//     read here. Checked against mosquitto 2.0.11's "New client connected ... u'...'" for
//     escapes, multi-valued RDNs, UTF-8, control characters and unknown OIDs.
//   - use_identity_as_username: the first CN in the certificate's order (Go's
//     Subject.CommonName is the last), its bytes up to a NUL.

// subjectRFC2253 formats a DER-encoded X.501 Name (x509.Certificate.RawSubject).
func subjectRFC2253(raw []byte) (string, error) {
	entries, err := nameEntries(raw)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if i < len(entries)-1 {
			if e.set == entries[i+1].set {
				b.WriteByte('+')
			} else {
				b.WriteByte(',')
			}
		}
		name, known := opensslShortNames[e.oid.String()]
		if !known {
			b.WriteString(e.oid.String() + "=")
			dumpDER(&b, e.value.FullBytes)
			continue
		}
		b.WriteString(name + "=")
		if err := printValue(&b, e.value); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// firstCommonName is the value of the first CN of a DER-encoded Name, as Mosquitto copies it
// (its bytes, up to a NUL); ok is false when there is none.
func firstCommonName(raw []byte) (cn string, ok bool, err error) {
	entries, err := nameEntries(raw)
	if err != nil {
		return "", false, err
	}
	for _, e := range entries {
		if e.oid.Equal(oidCommonName) {
			v := e.value.Bytes
			if i := strings.IndexByte(string(v), 0); i >= 0 {
				v = v[:i]
			}
			return string(v), true, nil
		}
	}
	return "", false, nil
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

// nameEntry is one AttributeTypeAndValue of a Name, in certificate order.
type nameEntry struct {
	set   int // index of its RDN
	oid   asn1.ObjectIdentifier
	value asn1.RawValue // Bytes: the contents; FullBytes: the whole encoding
}

var errBadName = errors.New("malformed certificate subject")

// nameEntries reads a Name (SEQUENCE OF SET OF SEQUENCE {OID, ANY}) keeping each value's
// type and bytes, which pkix.RDNSequence does not.
func nameEntries(raw []byte) ([]nameEntry, error) {
	var name asn1.RawValue
	if rest, err := asn1.Unmarshal(raw, &name); err != nil || len(rest) > 0 || name.Class != asn1.ClassUniversal || name.Tag != asn1.TagSequence {
		return nil, errBadName
	}
	var out []nameEntry
	for set, rdns := 0, name.Bytes; len(rdns) > 0; set++ {
		var rdn asn1.RawValue
		rest, err := asn1.Unmarshal(rdns, &rdn)
		if err != nil || rdn.Class != asn1.ClassUniversal || rdn.Tag != asn1.TagSet {
			return nil, errBadName
		}
		rdns = rest
		for atvs := rdn.Bytes; len(atvs) > 0; {
			var atv asn1.RawValue
			rest, err := asn1.Unmarshal(atvs, &atv)
			if err != nil || atv.Class != asn1.ClassUniversal || atv.Tag != asn1.TagSequence {
				return nil, errBadName
			}
			atvs = rest
			e := nameEntry{set: set}
			rest, err = asn1.Unmarshal(atv.Bytes, &e.oid)
			if err != nil {
				return nil, errBadName
			}
			if rest, err = asn1.Unmarshal(rest, &e.value); err != nil || len(rest) > 0 {
				return nil, errBadName
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// dumpDER writes #HEX of the value's whole encoding, as OpenSSL's ASN1_STRFLGS_DUMP_DER.
func dumpDER(b *strings.Builder, der []byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('#')
	for _, c := range der {
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// printValue writes a value as OpenSSL's do_print_ex with ASN1_STRFLGS_RFC2253: string types
// character by character (UTF8String as its bytes; the others converted to UTF-8), anything
// else dumped.
func printValue(b *strings.Builder, rv asn1.RawValue) error {
	width, convert := 0, true
	tag := -1
	if rv.Class == asn1.ClassUniversal && !rv.IsCompound {
		tag = rv.Tag
	}
	switch tag {
	case asn1.TagUTF8String:
		width, convert = 1, false // "just interpret it as 1 byte per character"
	case asn1.TagNumericString, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagUTCTime, asn1.TagGeneralizedTime, 26: // 26: VisibleString
		width = 1
	case 28: // UniversalString
		width = 4
	case asn1.TagBMPString:
		width = 2
	default:
		dumpDER(b, rv.FullBytes)
		return nil
	}
	v := rv.Bytes
	if len(v)%width != 0 {
		return errors.New("malformed string in certificate subject")
	}
	n := len(v) / width
	for i := 0; i < n; i++ {
		var c uint32
		for _, x := range v[i*width : (i+1)*width] {
			c = c<<8 | uint32(x)
		}
		// OpenSSL: the first character is escaped as first, the last as last (a single
		// character only as last).
		pos := 0
		switch {
		case i == n-1:
			pos = posLast
		case i == 0:
			pos = posFirst
		}
		if !convert {
			escapeByte(b, byte(c), pos)
			continue
		}
		for _, x := range utf8Bytes(c) {
			escapeByte(b, x, pos)
		}
	}
	return nil
}

const (
	posFirst = 1
	posLast  = 2
)

// utf8Bytes encodes c as OpenSSL's UTF8_putc does: without checking for surrogates.
func utf8Bytes(c uint32) []byte {
	switch {
	case c < 0x80:
		return []byte{byte(c)}
	case c < 0x800:
		return []byte{0xC0 | byte(c>>6), 0x80 | byte(c&0x3F)}
	case c < 0x10000:
		return []byte{0xE0 | byte(c>>12), 0x80 | byte(c>>6&0x3F), 0x80 | byte(c&0x3F)}
	}
	return []byte{0xF0 | byte(c>>18&0x07), 0x80 | byte(c>>12&0x3F), 0x80 | byte(c>>6&0x3F), 0x80 | byte(c&0x3F)}
}

// escapeByte writes one byte as OpenSSL's do_esc_char with the RFC 2253 flags.
func escapeByte(b *strings.Builder, c byte, pos int) {
	const hex = "0123456789ABCDEF"
	switch {
	case strings.IndexByte(",+\"\\<>;", c) >= 0,
		c == '#' && pos == posFirst,
		c == ' ' && pos != 0:
		b.WriteByte('\\')
		b.WriteByte(c)
	case c < 0x20 || c >= 0x7F:
		b.WriteByte('\\')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	default:
		b.WriteByte(c)
	}
}

// opensslShortNames are OpenSSL's short names (OBJ_nid2sn) of the attributes found in
// certificate subjects; others print as their OID.
var opensslShortNames = func() map[string]string {
	m := map[string]string{
		"1.2.840.113549.1.9.1":       "emailAddress",
		"1.2.840.113549.1.9.2":       "unstructuredName",
		"1.2.840.113549.1.9.8":       "unstructuredAddress",
		"0.9.2342.19200300.100.1.1":  "UID",
		"0.9.2342.19200300.100.1.3":  "mail",
		"0.9.2342.19200300.100.1.25": "DC",
		"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL",
		"1.3.6.1.4.1.311.60.2.1.2":   "jurisdictionST",
		"1.3.6.1.4.1.311.60.2.1.3":   "jurisdictionC",
	}
	// 2.5.4.N, the X.520 attribute types.
	for n, name := range map[int]string{
		3: "CN", 4: "SN", 5: "serialNumber", 6: "C", 7: "L", 8: "ST", 9: "street", 10: "O", 11: "OU",
		12: "title", 13: "description", 14: "searchGuide", 15: "businessCategory", 16: "postalAddress",
		17: "postalCode", 18: "postOfficeBox", 19: "physicalDeliveryOfficeName", 20: "telephoneNumber",
		21: "telexNumber", 22: "teletexTerminalIdentifier", 23: "facsimileTelephoneNumber", 24: "x121Address",
		25: "internationaliSDNNumber", 26: "registeredAddress", 27: "destinationIndicator",
		28: "preferredDeliveryMethod", 29: "presentationAddress", 30: "supportedApplicationContext",
		31: "member", 32: "owner", 33: "roleOccupant", 34: "seeAlso", 35: "userPassword",
		36: "userCertificate", 37: "cACertificate", 38: "authorityRevocationList",
		39: "certificateRevocationList", 40: "crossCertificatePair", 41: "name", 42: "GN", 43: "initials",
		44: "generationQualifier", 45: "x500UniqueIdentifier", 46: "dnQualifier", 47: "enhancedSearchGuide",
		48: "protocolInformation", 49: "distinguishedName", 50: "uniqueMember", 51: "houseIdentifier",
		52: "supportedAlgorithms", 53: "deltaRevocationList", 54: "dmdName", 65: "pseudonym", 72: "role",
		97: "organizationIdentifier", 98: "c3", 99: "n3", 100: "dnsName",
	} {
		m["2.5.4."+strconv.Itoa(n)] = name
	}
	return m
}()
