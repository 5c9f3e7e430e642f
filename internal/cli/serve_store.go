package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/internal/store"
	ucli "github.com/urfave/cli/v2"
)

// Persistence for `mqtt serve`: --data DIR, or persistence true with persistence_location and
// persistence_file in the configuration. The store is opened before the broker (which restores
// from it) and closed after it (which writes the sessions' disconnections last).

// storePath is where the store is for this command line: --data DIR (with the configuration's
// persistence_file, if any), else the configuration's persistence settings; "" for none.
func storePath(c *ucli.Context, cfg *config.Config) string {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if dir := c.String("data"); dir != "" {
		return cfg.StoreFileIn(dir)
	}
	return cfg.StoreFile()
}

// openStore opens the store for the broker and says so in the log; a store that cannot be used
// is an error naming the file and the problem. explicit is whether persistence_file named the
// file: if it did not and Mosquitto's own file lies in the same directory, the log says that it
// is not read. runAs names the user the broker runs as after dropping privileges ("" if it did
// not): a store it may not read or write is then explained.
func openStore(path string, explicit bool, runAs string, logger *slog.Logger) (*store.Store, error) {
	if !explicit {
		mosq := filepath.Join(filepath.Dir(path), "mosquitto.db")
		if store.IsMosquittoFile(mosq) {
			logger.Warn("Warning: " + mosq + " is Mosquitto's persistence file, which mqtt cannot read: its retained messages and sessions are not restored. mqtt keeps its own store in " + path + ".")
		}
	}
	st, err := store.Open(path, logger)
	if err != nil {
		if runAs != "" && errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w (the broker runs as user %s: give it the directory, e.g. chown -R %s %s, or set \"user root\")", err, runAs, runAs, filepath.Dir(path))
		}
		return nil, err
	}
	logger.Info("Persistence: " + path + " (every change is written as it happens; a message is acknowledged once it is on disk).")
	return st, nil
}

// checkStore is --check: verify the store at path and print what it holds.
func checkStore(path string, stdout, stderr io.Writer) error {
	if path == "" {
		return serveUsageErrorf("--check needs --data DIR, or -c FILE with persistence true")
	}
	r, err := store.Check(path)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "Error: %s\n", line)
		}
		return exitf(exitError, "")
	}
	fmt.Fprintf(stdout, "%s: OK: format %d, %d bytes; %d retained message%s, %d session%s, %d queued or inflight message%s, %d QoS 2 packet id%s awaiting PUBREL\n",
		r.Path, r.Format, r.Size, r.Retained, plural(r.Retained), r.Sessions, plural(r.Sessions),
		r.Deliveries, plural(r.Deliveries), r.Inbound, plural(r.Inbound))
	return nil
}

// storeError prints why the store cannot be used; the exit is non-zero.
func storeError(errw io.Writer, err error) error {
	fmt.Fprintf(errw, "Error: %v\n", err)
	return exitf(exitError, "")
}

// chownStore gives the store's files (the store file and its journal) to u, and their
// directory when dir says this start made it. A failure is logged: the broker runs on, but a
// start as u could not open them.
func chownStore(path string, dir bool, u *user.User, logger *slog.Logger) {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return
	}
	files := []string{path, path + "-journal"}
	if dir {
		files = append(files, filepath.Dir(path))
	}
	for _, f := range files {
		if err := os.Lchown(f, uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			logger.Warn(fmt.Sprintf("Warning: cannot give %s to user %s: %v.", f, u.Username, err))
		}
	}
}
