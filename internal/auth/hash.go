package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// We use the standard library's crypto/pbkdf2 (Go 1.24+): since x/crypto
// v0.3x golang.org/x/crypto/pbkdf2 is a frozen wrapper around it.

// HashType names a password hash format.
type HashType int

const (
	// HashTypePBKDF2 is `$7$`, PBKDF2-HMAC-SHA512: Mosquitto 2.0's default.
	HashTypePBKDF2 HashType = iota
	// HashTypeSHA512 is `$6$`, one round of SHA-512 over password||salt, for
	// Mosquitto 1.6 and earlier.
	HashTypeSHA512
)

const (
	// DefaultIterations is mosquitto_passwd 2.0's PBKDF2 iteration count.
	DefaultIterations = 101
	// MaxIterations bounds the iteration count we accept in files and flags,
	// so a typo cannot make every CONNECT take minutes.
	MaxIterations = 100_000_000

	saltLen = 12 // bytes, as mosquitto
	keyLen  = 64 // bytes: SHA-512 output and PBKDF2 key length
)

// String returns the name used by `passwd -H`.
func (t HashType) String() string {
	switch t {
	case HashTypePBKDF2:
		return "sha512-pbkdf2"
	case HashTypeSHA512:
		return "sha512"
	}
	return "HashType(" + strconv.Itoa(int(t)) + ")"
}

// ParseHashType parses a `passwd -H` value: "sha512-pbkdf2" or "sha512".
func ParseHashType(s string) (HashType, error) {
	switch s {
	case "sha512-pbkdf2":
		return HashTypePBKDF2, nil
	case "sha512":
		return HashTypeSHA512, nil
	}
	return 0, fmt.Errorf("unknown hash type %q (expected sha512-pbkdf2 or sha512)", s)
}

// HashPBKDF2 returns a `$7$` hash of password with a fresh random 12-byte
// salt. iterations 0 means DefaultIterations.
func HashPBKDF2(password string, iterations int) (string, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < 0 || iterations > MaxIterations {
		return "", fmt.Errorf("iterations must be between 1 and %d, got %d", MaxIterations, iterations)
	}
	salt, err := newSalt()
	if err != nil {
		return "", err
	}
	h := passwordHash{kind: '7', iterations: iterations, salt: salt}
	if h.sum, err = h.compute(password); err != nil {
		return "", err
	}
	return h.String(), nil
}

// HashSHA512 returns a `$6$` hash of password with a fresh random salt. Prefer
// HashPBKDF2; this exists for brokers older than Mosquitto 2.0.
func HashSHA512(password string) (string, error) {
	salt, err := newSalt()
	if err != nil {
		return "", err
	}
	h := passwordHash{kind: '6', salt: salt}
	if h.sum, err = h.compute(password); err != nil {
		return "", err
	}
	return h.String(), nil
}

// Hash hashes password with the given type; iterations applies to PBKDF2 only.
func Hash(t HashType, password string, iterations int) (string, error) {
	switch t {
	case HashTypePBKDF2:
		return HashPBKDF2(password, iterations)
	case HashTypeSHA512:
		return HashSHA512(password)
	}
	return "", fmt.Errorf("unknown hash type %v", t)
}

func newSalt() ([]byte, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("reading random salt: %w", err)
	}
	return salt, nil
}

// passwordHash is a decoded `$6$` or `$7$` entry.
type passwordHash struct {
	kind       byte // '6' or '7'
	iterations int  // '7' only
	salt       []byte
	sum        []byte
}

var b64 = base64.StdEncoding

func (h passwordHash) String() string {
	if h.kind == '6' {
		return "$6$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
	}
	return "$7$" + strconv.Itoa(h.iterations) + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.sum)
}

func (h passwordHash) compute(password string) ([]byte, error) {
	if h.kind == '6' {
		d := sha512.New()
		d.Write([]byte(password))
		d.Write(h.salt)
		return d.Sum(nil), nil
	}
	return pbkdf2.Key(sha512.New, password, h.salt, h.iterations, keyLen)
}

// verify compares in constant time (for a given hash's parameters).
func (h passwordHash) verify(password string) bool {
	sum, err := h.compute(password)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(sum, h.sum) == 1
}

// hashPrefix reports whether s looks like `$ID$...`, the crypt(3) style that
// marks a hashed (not plain-text) password, and returns ID.
func hashPrefix(s string) (id string, ok bool) {
	if len(s) < 3 || s[0] != '$' {
		return "", false
	}
	end := strings.IndexByte(s[1:], '$')
	if end <= 0 {
		return "", false
	}
	id = s[1 : 1+end]
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return id, true
}

var errNotOurHash = errors.New("not a $6$ or $7$ hash")

// parseHash decodes a `$6$` or `$7$` string. It returns errNotOurHash when s
// does not start with either prefix, and a message saying what was expected
// otherwise.
func parseHash(s string) (passwordHash, error) {
	var h passwordHash
	switch {
	case strings.HasPrefix(s, "$7$"):
		h.kind = '7'
		parts := strings.Split(s[3:], "$")
		if len(parts) != 3 {
			return h, errors.New("malformed $7$ hash: expected $7$ITERATIONS$SALT$HASH")
		}
		n, err := strconv.Atoi(parts[0])
		if err != nil || n <= 0 || n > MaxIterations {
			return h, fmt.Errorf("malformed $7$ hash: iterations %q must be a number between 1 and %d", parts[0], MaxIterations)
		}
		h.iterations = n
		if h.salt, h.sum, err = decodeSaltSum(parts[1], parts[2]); err != nil {
			return h, fmt.Errorf("malformed $7$ hash: %w", err)
		}
	case strings.HasPrefix(s, "$6$"):
		h.kind = '6'
		parts := strings.Split(s[3:], "$")
		if len(parts) != 2 {
			return h, errors.New("malformed $6$ hash: expected $6$SALT$HASH")
		}
		var err error
		if h.salt, h.sum, err = decodeSaltSum(parts[0], parts[1]); err != nil {
			return h, fmt.Errorf("malformed $6$ hash: %w", err)
		}
	default:
		return h, errNotOurHash
	}
	return h, nil
}

func decodeSaltSum(salt64, sum64 string) (salt, sum []byte, err error) {
	salt, err = b64.DecodeString(salt64)
	if err != nil || len(salt) != saltLen {
		return nil, nil, fmt.Errorf("salt %q must be %d bytes of standard base64", salt64, saltLen)
	}
	sum, err = b64.DecodeString(sum64)
	if err != nil || len(sum) != keyLen {
		return nil, nil, fmt.Errorf("hash must be %d bytes of standard base64 (%d characters)", keyLen, b64.EncodedLen(keyLen))
	}
	return salt, sum, nil
}
