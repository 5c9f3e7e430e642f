package listener

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// HandshakeError is a failed server-side TLS handshake, with what it most likely means for the
// operator. Go's own messages ("local error: tls: bad record MAC") say what broke, not why:
// the usual why is a client that does not trust the server's certificate.
type HandshakeError struct {
	Err error
	// Why explains Err; empty when there is nothing to add.
	Why string
}

func (e *HandshakeError) Error() string {
	if e.Why == "" {
		return "TLS handshake failed: " + e.Err.Error()
	}
	return "TLS handshake failed: " + e.Why + " (" + e.Err.Error() + ")"
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// explainHandshake wraps a failed handshake's error with its likely cause. certFile and
// issuer name the server certificate and its issuer, for the advice.
func explainHandshake(err error, certFile, issuer string) error {
	if err == nil {
		return nil
	}
	rejected := fmt.Sprintf("the client rejected the server's certificate: the client's CA file must hold the issuer of certfile %s", certFile)
	if issuer != "" {
		rejected += " (" + issuer + ")"
	}
	var why string
	msg := err.Error()
	// A TLS alert from the client reads "remote error: tls: DESCRIPTION" (RFC 8446 §6.2 names).
	remote := func(desc string) bool { return strings.Contains(msg, "remote error: tls: "+desc) }
	switch {
	case remote("bad certificate") || remote("unknown certificate authority") || remote("unknown certificate") || remote("unsupported certificate"):
		why = rejected
	case remote("expired certificate"):
		why = "the client rejected the server's certificate as expired: renew certfile " + certFile
	case remote("revoked certificate"):
		why = "the client rejected the server's certificate as revoked: replace certfile " + certFile
	case strings.Contains(msg, "bad record MAC"):
		// TLS 1.3: a client that aborts after reading the server's certificate sends its
		// alert under keys the server has already moved past, which reads as a bad MAC.
		why = "most likely " + rejected
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		why = "the client does not speak TLS: connect with TLS, or use a listener without certfile"
	case strings.Contains(msg, "client didn't provide a certificate"):
		why = "the client sent no certificate, and require_certificate is true"
	case strings.Contains(msg, "failed to verify certificate") || strings.Contains(msg, "certificate signed by unknown authority"):
		why = "the client's certificate is not signed by a CA in cafile or capath"
	case strings.Contains(msg, "no cipher suite supported") || strings.Contains(msg, "no mutual cipher"):
		why = "the client offers none of the cipher suites allowed by ciphers"
	case strings.Contains(msg, "protocol version not supported") || strings.Contains(msg, "unsupported versions"):
		why = "the client does not support the TLS versions allowed by tls_version"
	case errors.Is(err, context.DeadlineExceeded):
		why = "the client did not complete the handshake in time"
	}
	return &HandshakeError{Err: err, Why: why}
}
