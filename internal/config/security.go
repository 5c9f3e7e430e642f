package config

import (
	"errors"
	"io/fs"

	"github.com/mqttkit/mqtt/internal/auth"
)

// unreadable tells a file that could not be read from one with a bad line.
func unreadable(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe)
}

// ListenerSecurity loads the password and ACL files and returns each listener's security
// settings, in the order of c.Listeners, for auth.FileAuth.Bind. Without
// per_listener_settings every listener shares one auth.Store (one reload reads each file
// once). An error names the directive's file and line and the file's own FILE:LINE, e.g.
// `mosquitto.conf:4: acl_file: /etc/mqtt/acl:7: unknown access "wirte"`.
//
// Warnings are password file lines the broker skips (a bad line, a plain-text password, a hash
// that does not decode), as Mosquitto skips them: they do not stop the start.
func (c *Config) ListenerSecurity() ([]*auth.ListenerSecurity, []Warning, error) {
	var warns []Warning
	var errs Errors
	type files struct{ pw, acl string }
	stores := map[files]*auth.Store{}
	failed := map[files]bool{}
	load := func(s Security) *auth.Store {
		key := files{s.PasswordFile, s.ACLFile}
		if key == (files{}) || failed[key] {
			return nil
		}
		if st, ok := stores[key]; ok {
			return st
		}
		// Check each file alone first, for messages that say which directive named it.
		ok := true
		if s.PasswordFile != "" {
			_, lw, err := auth.LoadBrokerPasswordFile(s.PasswordFile)
			for _, w := range lw {
				warns = append(warns, Warning{Pos: s.PasswordFilePos, Directive: "password_file", Msg: "password_file: " + w.Error()})
			}
			if err != nil {
				errs = append(errs, &Error{Pos: s.PasswordFilePos, Directive: "password_file", Msg: "password_file: " + err.Error(), Unusable: unreadable(err)})
				ok = false
			}
		}
		if s.ACLFile != "" {
			if _, err := auth.LoadACL(s.ACLFile); err != nil {
				errs = append(errs, &Error{Pos: s.ACLFilePos, Directive: "acl_file", Msg: "acl_file: " + err.Error(), Unusable: unreadable(err)})
				ok = false
			}
		}
		if !ok {
			failed[key] = true
			return nil
		}
		st, _, err := auth.NewStore(s.PasswordFile, s.ACLFile)
		if err != nil { // changed since it was checked a moment ago
			errs = append(errs, &Error{Pos: s.PasswordFilePos, Directive: "password_file", Msg: err.Error(), Unusable: unreadable(err)})
			failed[key] = true
			return nil
		}
		stores[key] = st
		return st
	}
	out := make([]*auth.ListenerSecurity, 0, len(c.Listeners))
	for _, l := range c.Listeners {
		sec := c.Security
		if c.PerListenerSettings {
			sec = l.Security
		}
		out = append(out, &auth.ListenerSecurity{
			Name:               l.Name(),
			Files:              load(sec),
			AllowAnonymous:     sec.AllowAnonymous,
			IdentityAsUsername: l.TLS.UseIdentityAsUsername,
			SubjectAsUsername:  l.TLS.UseSubjectAsUsername,
		})
	}
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return out, warns, nil
}
