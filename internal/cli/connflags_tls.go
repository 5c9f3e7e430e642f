package cli

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// --ciphers takes an OpenSSL cipher list, as Mosquitto's clients pass it to OpenSSL. Go's
// crypto/tls configures TLS 1.0-1.2 suites only (TLS 1.3's are fixed, as OpenSSL's list
// leaves them alone too), so this accepts:
//
//   - suite names, OpenSSL's (ECDHE-RSA-AES128-GCM-SHA256) or IANA's
//     (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), for the suites Go implements and considers
//     secure (ECDHE with AES-GCM, ChaCha20-Poly1305 or AES-CBC-SHA): those are then
//     offered, in the order given;
//   - DEFAULT, HIGH, ALL and SECURE, which give Go's default suites (all of them "HIGH");
//   - exclusions (!X, -X) of classes Go's suites never belong to (aNULL, RC4, MD5, ...),
//     which change nothing, and @SECLEVEL/@STRENGTH, which are ignored;
//
// and refuses anything else by name rather than guess.

// opensslCipherNames maps OpenSSL's names to Go's suites.
var opensslCipherNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
}

// opensslInsecure are OpenSSL's names of the suites Go implements but holds insecure (RSA
// key exchange, RC4, 3DES, CBC with SHA-256): refused with that reason.
var opensslInsecure = map[string]bool{
	"AES128-GCM-SHA256": true, "AES256-GCM-SHA384": true, "AES128-SHA": true, "AES256-SHA": true,
	"AES128-SHA256": true, "DES-CBC3-SHA": true, "RC4-SHA": true, "ECDHE-RSA-DES-CBC3-SHA": true,
	"ECDHE-ECDSA-RC4-SHA": true, "ECDHE-RSA-RC4-SHA": true, "ECDHE-ECDSA-AES128-SHA256": true,
	"ECDHE-RSA-AES128-SHA256": true,
}

// cipherClassesGoLacks are OpenSSL classes none of Go's secure suites is in: excluding them
// changes nothing.
var cipherClassesGoLacks = map[string]bool{
	"aNULL": true, "eNULL": true, "NULL": true, "EXPORT": true, "EXP": true, "LOW": true, "DES": true,
	"3DES": true, "RC4": true, "RC2": true, "MD5": true, "PSK": true, "SRP": true, "DSS": true, "aDSS": true,
	"SEED": true, "IDEA": true, "CAMELLIA": true, "ARIA": true, "ADH": true, "AECDH": true, "aECDH": true,
	"kRSA": true, "kDHE": true, "DHE": true, "EDH": true, "kEDH": true, "DH": true, "kDH": true, "GOST": true, "SSLv3": true,
}

// parseCiphers turns an OpenSSL cipher list into Go's suite ids; nil means Go's defaults.
func parseCiphers(list string) ([]uint16, error) {
	secure := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		secure[cs.Name] = cs.ID
	}
	var out []uint16
	seen := map[uint16]bool{}
	for _, tok := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		switch {
		case strings.HasPrefix(tok, "!") || strings.HasPrefix(tok, "-"):
			if !cipherClassesGoLacks[tok[1:]] {
				return nil, fmt.Errorf("cannot exclude %q: only classes no Go cipher suite is in (aNULL, eNULL, RC4, MD5, 3DES, ...) can be excluded; name the suites to use instead", tok[1:])
			}
		case strings.HasPrefix(tok, "@"):
			// @SECLEVEL=n, @STRENGTH: OpenSSL's ordering and levels; Go's suites meet them.
		case tok == "DEFAULT" || tok == "HIGH" || tok == "ALL" || tok == "SECURE":
			for _, cs := range tls.CipherSuites() {
				if !seen[cs.ID] {
					seen[cs.ID] = true
					out = append(out, cs.ID)
				}
			}
		default:
			id, ok := opensslCipherNames[strings.TrimPrefix(tok, "+")]
			if !ok {
				id, ok = secure[tok]
			}
			if !ok {
				if opensslInsecure[tok] || insecureCipher(tok) {
					return nil, fmt.Errorf("cipher %q is one Go's crypto/tls holds insecure and does not offer (it offers %s)", tok, strings.Join(cipherNames(), ", "))
				}
				return nil, fmt.Errorf("unknown cipher %q (Go's crypto/tls offers %s)", tok, strings.Join(cipherNames(), ", "))
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func insecureCipher(name string) bool {
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return true
		}
	}
	return false
}

// cipherNames lists the OpenSSL names --ciphers accepts, for its error message.
func cipherNames() []string {
	var names []string
	for _, cs := range tls.CipherSuites() {
		for n, id := range opensslCipherNames {
			if id == cs.ID {
				names = append(names, n)
			}
		}
	}
	return names
}
