package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqttkit/mqtt/internal/testutil"
)

func TestChooseUser(t *testing.T) {
	users := func(names ...string) func(string) (*user.User, error) {
		return func(n string) (*user.User, error) {
			for _, m := range names {
				if m == n {
					return &user.User{Username: n, Uid: "1", Gid: "1"}, nil
				}
			}
			return nil, user.UnknownUserError(n)
		}
	}
	for _, tc := range []struct {
		name     string
		euid     int
		line     string
		exist    []string
		want     string // "" stays
		warn     string
		errorHas string
	}{
		{"not root", 1000, "", []string{"mqtt"}, "", "", ""},
		{"not root, user line", 1000, "mqtt", []string{"mqtt"}, "", "", ""},
		{"root prefers mqtt", 0, "", []string{"mosquitto", "mqtt", "nobody"}, "mqtt", "", ""},
		{"root then mosquitto", 0, "", []string{"mosquitto", "nobody"}, "mosquitto", "", ""},
		{"root, neither: nobody, said", 0, "", []string{"nobody"}, "nobody", "running as nobody", ""},
		{"root, no user at all", 0, "", nil, "", "", "none of the users"},
		{"user line", 0, "broker", []string{"broker", "mqtt"}, "broker", "", ""},
		{"user line missing", 0, "broker", []string{"mqtt", "nobody"}, "", "", `"broker": this user does not exist`},
		{"user mosquitto missing: nobody", 0, "mosquitto", []string{"nobody"}, "nobody", "running as nobody", ""},
		{"user root", 0, "root", []string{"mqtt"}, "", "running as root", ""},
	} {
		ch, err := chooseUser(tc.euid, tc.line, users(tc.exist...))
		got := ""
		if ch.u != nil {
			got = ch.u.Username
		}
		switch {
		case tc.errorHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errorHas)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.errorHas)
		case tc.errorHas == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got != tc.want || !strings.Contains(ch.warn, tc.warn) || (tc.warn == "" && ch.warn != ""):
			t.Errorf("%s: user %q warn %q, want %q and %q", tc.name, got, ch.warn, tc.want, tc.warn)
		}
	}
}

// Started as root without a user line, the broker drops to mqtt or mosquitto as Mosquitto 2.0
// drops to mosquitto, says so, and warns about files it can then no longer read on SIGHUP.
func TestServeConfigRootDropsByDefault(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var want *user.User
	for _, n := range defaultUsers {
		if u, err := user.Lookup(n); err == nil {
			want = u
			break
		}
	}
	if want == nil {
		t.Skip("neither mqtt nor mosquitto exists here")
	}
	dir := t.TempDir() // root's, 0700
	acl := filepath.Join(dir, "acl")
	writeFile(t, acl, "topic readwrite #\n") // 0600
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\n", testutil.FreePort(t), acl))
	s := serveConf(t, conf)
	s.waitLog("Dropped privileges to user " + want.Username + " (uid " + want.Uid)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Uid:") && strings.Fields(line)[2] != want.Uid {
			t.Errorf("effective uid %q, want %s", line, want.Uid)
		}
	}
	if !strings.Contains(s.log.String(), "acl_file "+acl+" is not readable by user "+want.Username) {
		t.Errorf("no warning about the unreadable acl_file:\n%s", s.log)
	}
}

// As Mosquitto's, the pid file holds the process id without a newline, and it and the log
// file the broker created belong to the user it runs as (Mosquitto creates them after
// dropping privileges); an existing log file keeps its owner.
func TestServePidAndLogFilesBelongToUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	dir := t.TempDir()
	conf, pidFile, logFile, oldLog := filepath.Join(dir, "m.conf"), filepath.Join(dir, "m.pid"), filepath.Join(dir, "m.log"), filepath.Join(dir, "old.log")
	owner := func(path, want string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid); uid != want {
			t.Errorf("%s is owned by uid %s, want %s", path, uid, want)
		}
	}
	start := func(log string) *served {
		writeFile(t, conf, fmt.Sprintf("listener %d 127.0.0.1\nuser nobody\npid_file %s\nlog_dest stderr\nlog_dest file %s\n", testutil.FreePort(t), pidFile, log))
		s := serveConf(t, conf)
		s.waitLog("Dropped privileges to user nobody")
		return s
	}
	s := start(logFile)
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != strconv.Itoa(s.cmd.Process.Pid) {
		t.Errorf("pid_file holds %q (%v), want %d without a newline", b, err, s.cmd.Process.Pid)
	}
	owner(pidFile, nobody.Uid)
	owner(logFile, nobody.Uid)
	s.stop()
	writeFile(t, oldLog, "")
	start(oldLog)
	owner(oldLog, "0")
}

// A unix socket listener is mode 0770 and, started as root, belongs to the user the broker
// drops to and that user's group, as Mosquitto 2.0.11's (which binds it as that user under
// umask 007): that user can connect, other users cannot. Here it is in a directory only root
// may write, where Mosquitto could not create it at all.
func TestServeUnixSocketBelongsToUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	pub := testutil.RequireTool(t, "mosquitto_pub")
	dir, err := os.MkdirTemp("", "mqu") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // root's; others may only look inside
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	conf := filepath.Join(dir, "m.conf")
	writeFile(t, conf, fmt.Sprintf("listener 0 %s\nallow_anonymous true\nuser nobody\n", sock))
	s := serveConf(t, conf)
	s.waitLog("Dropped privileges to user nobody")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o770 || fmt.Sprint(st.Uid) != nobody.Uid || fmt.Sprint(st.Gid) != nobody.Gid {
		t.Errorf("socket %v uid %d gid %d, want -rwxrwx--- uid %s gid %s", fi.Mode(), st.Uid, st.Gid, nobody.Uid, nobody.Gid)
	}
	as := func(uid, gid uint32) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, pub, "--unix", sock, "-t", "x", "-m", "x")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		return runCmd(t, cmd, nil)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if r := as(uint32(uid), uint32(gid)); r.code != 0 {
		t.Errorf("publish as nobody over the unix socket: exit %d %s", r.code, r.stderr)
	}
	// A user outside the socket's group: refused by the file's mode.
	if r := as(54321, 54321); r.code == 0 || !strings.Contains(string(r.stderr), "ermission denied") {
		t.Errorf("publish as another user: exit %d %s, want permission denied", r.code, r.stderr)
	}
}
