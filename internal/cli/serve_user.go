package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"strconv"

	"github.com/mqttkit/mqtt/internal/config"
)

// defaultUsers are tried, in order, when the broker starts as root and the configuration has
// no user line: mqtt is the user our packages create, mosquitto the one Mosquitto's packages
// create and Mosquitto 2.0 drops to by default.
var defaultUsers = [...]string{"mqtt", "mosquitto"}

// userChoice is the user the broker is to run as.
type userChoice struct {
	u    *user.User // nil: stay as we are
	warn string     // said in the log, e.g. why it is nobody or root
}

// chooseUser decides, as Mosquitto 2.0's drop_privileges does, which user a broker started
// with effective uid euid runs as. name is the configuration's user line ("" if none). Only
// root changes user. A user line naming root keeps root (with a warning); one naming a user
// that does not exist is an error, except mosquitto, for which nobody is tried, as Mosquitto
// does. Without a user line mqtt and then mosquitto are tried, then nobody.
func chooseUser(euid int, name string, lookup func(string) (*user.User, error)) (userChoice, error) {
	if euid != 0 {
		return userChoice{}, nil
	}
	if name == "root" {
		return userChoice{warn: "running as root (user root in the configuration): a broker should not run as root"}, nil
	}
	candidates := []string{name}
	if name == "" {
		candidates = defaultUsers[:]
	}
	for _, n := range candidates {
		if u, err := lookup(n); err == nil {
			return userChoice{u: u}, nil
		}
	}
	if name != "" && name != "mosquitto" {
		return userChoice{}, fmt.Errorf("cannot drop privileges to %q: this user does not exist", name)
	}
	u, err := lookup("nobody")
	if err != nil {
		return userChoice{}, fmt.Errorf("cannot drop privileges: none of the users %v or nobody exists; create one, or set \"user root\" to run as root", candidates)
	}
	return userChoice{u: u, warn: fmt.Sprintf("none of the users %v exists: running as nobody instead (as Mosquitto does)", candidates)}, nil
}

// dropPrivileges switches user as chooseUser decides and says so in the log. It runs after
// the listeners, log files and the password and ACL files are open, so that ports below 1024
// and root-only files work at start (Mosquitto reads its password and ACL files only after
// dropping; see mqtt-serve(1)).
// say logs the line naming the user, at a level the log shows.
// The files in own are given to that user first (best effort: a file system that refuses
// leaves them root's).
func dropPrivileges(name string, logger *slog.Logger, say func(string), own []string) (*user.User, error) {
	ch, err := chooseUser(geteuid(), name, user.Lookup)
	if err != nil {
		return nil, err
	}
	if ch.warn != "" {
		logger.Warn("Warning: " + ch.warn + ".")
	}
	if ch.u == nil {
		return nil, nil
	}
	uid, err1 := strconv.Atoi(ch.u.Uid)
	gid, err2 := strconv.Atoi(ch.u.Gid)
	if err1 == nil && err2 == nil {
		for _, p := range own {
			_ = os.Chown(p, uid, gid)
		}
	}
	if err := switchUser(ch.u); err != nil {
		return nil, err
	}
	say(fmt.Sprintf("Dropped privileges to user %s (uid %s, gid %s).", ch.u.Username, ch.u.Uid, ch.u.Gid))
	return ch.u, nil
}

// warnUnreadable warns about each file that SIGHUP reads again (the configuration, password
// and ACL files, TLS certificates, keys and CRLs) and that the broker can no longer read after
// dropping privileges to u: a reload would fail and keep the old rules.
func warnUnreadable(cfg *config.Config, u *user.User, logger *slog.Logger) {
	type named struct{ directive, path string }
	files := []named{{"configuration file", cfg.File}}
	add := func(s config.Security) {
		files = append(files, named{"password_file", s.PasswordFile}, named{"acl_file", s.ACLFile})
	}
	add(cfg.Security)
	for _, l := range cfg.Listeners {
		add(l.Security)
		t := l.TLS
		files = append(files, named{"certfile", t.CertFile}, named{"keyfile", t.KeyFile}, named{"cafile", t.CAFile}, named{"crlfile", t.CRLFile})
	}
	seen := map[string]bool{}
	for _, f := range files {
		if f.path == "" || seen[f.path] {
			continue
		}
		seen[f.path] = true
		fh, err := os.Open(f.path)
		if err == nil {
			fh.Close()
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			logger.Warn(fmt.Sprintf("Warning: %s %s is not readable by user %s: a reload (SIGHUP) cannot read it again; make it readable by %s, or set \"user root\".", f.directive, f.path, u.Username, u.Username))
		}
	}
}
