package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttkit/mqtt/internal/config"
	"github.com/mqttkit/mqtt/mqtt/broker"
)

// logSink is where the broker's log lines go, filtered the way Mosquitto's log_type,
// log_dest, log_timestamp(_format) and connection_messages filter them. Lines look like
// Mosquitto's: "1732531200: New client connected from ...", slog attributes appended as
// key=value.
type logSink struct {
	mu      sync.Mutex
	writers []io.Writer
	// Debug lines (a trace of every packet with -v) go through buffers
	// flushed within debugFlush, so tracing does not cost a write per
	// packet; any other line flushes them first, keeping the order.
	bufs    []*bufio.Writer
	flusher *time.Timer // pending flush of debug lines; nil when none
	// The stamp of the last line's second (log_timestamp_format may show
	// less than seconds; it never shows more).
	stampSec  int64
	stampText string
	sys       syslogWriter // nil unless log_dest syslog
	stdout    bool         // log_dest stdout is among the writers
	closers   []io.Closer
	stamp     func(time.Time) string // nil: no timestamp (log_timestamp false)
	// types are the log_type categories written.
	types logTypes
	// connMessages false drops connect/disconnect lines (connection_messages false).
	connMessages bool
	// created are the log files opening the sink created: a broker that drops privileges
	// gives them to its user, as Mosquitto creates them after dropping.
	created []string
}

// logTypes is a set of Mosquitto's log_type categories, each an independent switch as in
// Mosquitto: "log_type subscribe" alone logs subscriptions and nothing else.
type logTypes uint16

const (
	ltError logTypes = 1 << iota
	ltWarning
	ltNotice
	ltInformation
	ltDebug
	ltSubscribe
	ltUnsubscribe
	ltWebsockets

	ltAll logTypes = 1<<iota - 1
	// ltDefault is Mosquitto's log_type without a log_type line, with or without a
	// configuration file.
	ltDefault = ltError | ltWarning | ltNotice | ltInformation
)

var logTypeNames = map[string]logTypes{
	"error": ltError, "warning": ltWarning, "notice": ltNotice, "information": ltInformation,
	"debug": ltDebug, "subscribe": ltSubscribe, "unsubscribe": ltUnsubscribe, "websockets": ltWebsockets,
}

// parseLogTypes is the set of a configuration's log_type list (internal/config resolved none,
// all and the default already; an empty list is log_type none).
func parseLogTypes(names []string) logTypes {
	var t logTypes
	for _, n := range names {
		t |= logTypeNames[n]
	}
	return t
}

// levelTypes is the set a plain level stands for (sn-gateway's logger): Debug is everything,
// Info Mosquitto's default, Warn errors and warnings, Error errors.
func levelTypes(level slog.Level) logTypes {
	switch {
	case level <= slog.LevelDebug:
		return ltAll
	case level <= slog.LevelInfo:
		return ltDefault
	case level <= slog.LevelWarn:
		return ltError | ltWarning
	}
	return ltError
}

// infoKind is the value of the broker.LogType attribute serve gives its own Info lines that
// Mosquitto logs as information (start, stop, listeners, reload); other Info records are
// notices, as the broker's connection lines are.
const infoKind = "information"

// recordType is the category of a record: the broker.LogType attribute when it has one, else
// its level (Info is notice: the broker's connection lines).
func recordType(r slog.Record) logTypes {
	if r.NumAttrs() > 0 {
		var t logTypes
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == broker.LogType {
				t = logTypeNames[a.Value.String()]
				return false
			}
			return true
		})
		if t != 0 {
			return t
		}
	}
	return levelType(r.Level)
}

func levelType(l slog.Level) logTypes {
	switch {
	case l >= slog.LevelError:
		return ltError
	case l >= slog.LevelWarn:
		return ltWarning
	case l >= slog.LevelInfo:
		return ltNotice
	}
	return ltDebug
}

// syslogWriter is the part of log/syslog.Writer the sink uses (not available on Windows).
type syslogWriter interface {
	Err(string) error
	Warning(string) error
	Notice(string) error
	Debug(string) error
	Close() error
}

func unixStamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func newLogSink(w io.Writer, level slog.Level) *logSink {
	return &logSink{writers: []io.Writer{w}, stamp: unixStamp, connMessages: true, types: levelTypes(level)}
}

// logOutputs are where a sink may write: the process's stdout and stderr, and the system
// logger's address (syslogNet/syslogAddr empty: the local syslog socket, as log/syslog finds it).
type logOutputs struct {
	stdout, stderr        io.Writer
	syslogNet, syslogAddr string
}

// openLogSink builds the sink a configuration asks for; verbose (-v) is log_type all.
// A log file that cannot be opened is an error. A system logger that cannot be reached is a
// warning naming the log_dest line, and the other destinations are kept: Mosquitto's syslog(3)
// drops such lines silently, and containers usually have no syslog socket.
func openLogSink(cfg *config.Config, verbose bool, out logOutputs) (*logSink, []config.Warning, error) {
	s := &logSink{connMessages: cfg.ConnectionMessages}
	if cfg.LogTimestamp {
		s.stamp = unixStamp
		if layout := cfg.LogTimestampFormat; layout != "" {
			s.stamp = func(t time.Time) string { return strftimeString(layout, t) }
		}
	}
	s.types = parseLogTypes(cfg.LogType)
	if verbose { // -v overrides the file's log_type lines, as in Mosquitto
		s.types = ltAll
	}
	var warns []config.Warning
	for _, d := range cfg.LogDest {
		switch d.Kind {
		case "stderr":
			s.writers = append(s.writers, out.stderr)
		case "stdout":
			s.writers = append(s.writers, out.stdout)
			s.stdout = true
		case "file":
			if _, err := os.Lstat(d.Path); errors.Is(err, fs.ErrNotExist) {
				s.created = append(s.created, d.Path)
			}
			f, err := os.OpenFile(d.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
			if err != nil {
				s.Close()
				return nil, nil, &config.Error{Pos: d.Pos, Directive: "log_dest", Msg: "log_dest file: " + err.Error()}
			}
			s.writers = append(s.writers, f)
			s.closers = append(s.closers, f)
		case "syslog":
			w, err := openSyslog(out.syslogNet, out.syslogAddr, cfg.LogFacility)
			if err != nil {
				warns = append(warns, config.Warning{Pos: d.Pos, Directive: "log_dest",
					Msg: "log_dest syslog: the system logger cannot be reached (" + err.Error() + "); logging to the other destinations only"})
				continue
			}
			s.sys = w
			s.closers = append(s.closers, w)
		}
	}
	return s, warns, nil
}

// checkLogSink opens and closes the sink cfg asks for, as a start would, for --test-config: the
// same errors and warnings. A log file it had to create is removed again.
func checkLogSink(cfg *config.Config, out logOutputs) ([]config.Warning, error) {
	var created []string
	for _, d := range cfg.LogDest {
		if _, err := os.Stat(d.Path); d.Kind == "file" && errors.Is(err, fs.ErrNotExist) {
			created = append(created, d.Path)
		}
	}
	s, warns, err := openLogSink(cfg, false, out)
	if err == nil {
		s.Close()
	}
	for _, p := range created {
		_ = os.Remove(p)
	}
	return warns, err
}

// reaches reports whether lines of category t go to w (one of the sink's writers).
func (s *logSink) reaches(w io.Writer, t logTypes) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.types&t == 0 {
		return false
	}
	for _, x := range s.writers {
		if x == w {
			return true
		}
	}
	return false
}

// visible reports whether lines of category t show on the terminal: the sink writes them to
// stderr or to stdout.
func (s *logSink) visible(stderr io.Writer, t logTypes) bool {
	return s.reaches(stderr, t) || s.reachesStdout(t)
}

// reachesStdout reports whether lines of category t go to log_dest stdout.
func (s *logSink) reachesStdout(t logTypes) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stdout && s.types&t != 0
}

// debugFlush is how long a debug line may wait in a buffer.
const debugFlush = 50 * time.Millisecond

// Close flushes what is buffered and closes the log file and the syslog connection.
func (s *logSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers, s.writers, s.sys = nil, nil, nil
}

// enabled reports whether records of level l may be written: Debug ones only with log_type
// debug (the broker traces every packet when they are), others if any category is on (an Info
// record may carry any category in its broker.LogType attribute).
func (s *logSink) enabled(l slog.Level) bool {
	if l < slog.LevelInfo {
		return s.types&ltDebug != 0
	}
	return s.types != 0
}

// isConnectionMessage tells the lines connection_messages false suppresses: as in Mosquitto,
// every line about a client connecting or disconnecting, refused ones and takeovers included.
func isConnectionMessage(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "New connection from "), strings.HasPrefix(msg, "New client connected from "),
		strings.HasPrefix(msg, "No will message specified."), strings.HasPrefix(msg, "Will message specified ("):
		return true
	case !strings.HasPrefix(msg, "Client "):
		return false
	}
	for _, s := range [...]string{" disconnected", " closed its connection", " has exceeded timeout", " refused: ",
		" already connected, closing old connection.", " denied: max_connections exceeded."} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// emit writes msg, of category t and logged at now, to the sink's destinations.
func (s *logSink) emit(t logTypes, now time.Time, msg string) {
	if s.types&t == 0 || (!s.connMessages && isConnectionMessage(msg)) {
		return
	}
	if now.IsZero() {
		now = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stamp string
	if s.stamp != nil {
		// One stamp per second, not one per line: a -v trace logs
		// hundreds of thousands of lines a second.
		if sec := now.Unix(); sec != s.stampSec || s.stampText == "" {
			s.stampSec, s.stampText = sec, s.stamp(now)+": "
		}
		stamp = s.stampText
	}
	if len(s.bufs) != len(s.writers) {
		s.bufs = s.bufs[:0]
		for _, w := range s.writers {
			s.bufs = append(s.bufs, bufio.NewWriterSize(w, 32<<10))
		}
	}
	for _, w := range s.bufs {
		w.WriteString(stamp)
		w.WriteString(msg)
		w.WriteByte('\n')
	}
	if t != ltDebug {
		s.flushLocked()
	} else if s.flusher == nil {
		s.flusher = time.AfterFunc(debugFlush, func() {
			s.mu.Lock()
			s.flushLocked()
			s.mu.Unlock()
		})
	}
	if s.sys != nil {
		switch t {
		case ltError:
			_ = s.sys.Err(msg)
		case ltWarning:
			_ = s.sys.Warning(msg)
		case ltDebug:
			_ = s.sys.Debug(msg)
		default:
			_ = s.sys.Notice(msg)
		}
	}
}

// flushLocked writes out the buffered lines.
func (s *logSink) flushLocked() {
	if s.flusher != nil {
		s.flusher.Stop()
		s.flusher = nil
	}
	for _, w := range s.bufs {
		w.Flush()
	}
}

// mosqHandler is the slog.Handler writing to a logSink. The sink can be swapped while
// logging (a SIGHUP that changes log_dest or log_type).
type mosqHandler struct {
	sinkp *atomic.Pointer[logSink]
	attrs string
}

func newMosqHandler(w io.Writer, level slog.Level) *mosqHandler {
	return handlerFor(newLogSink(w, level))
}

func handlerFor(s *logSink) *mosqHandler {
	h := &mosqHandler{sinkp: new(atomic.Pointer[logSink])}
	h.sinkp.Store(s)
	return h
}

func (h *mosqHandler) sink() *logSink { return h.sinkp.Load() }

// swap makes s the sink and returns the previous one.
func (h *mosqHandler) swap(s *logSink) *logSink { return h.sinkp.Swap(s) }

func (h *mosqHandler) Enabled(_ context.Context, l slog.Level) bool { return h.sink().enabled(l) }

func (h *mosqHandler) Handle(_ context.Context, r slog.Record) error {
	t, sink := recordType(r), h.sink()
	if sink.types&t == 0 {
		// A category log_type leaves out (subscribe, above all: a line per
		// filter) is dropped before its line is built: 1,000,000
		// subscriptions made 135 MB of garbage formatting lines no one saw.
		return nil
	}
	msg := r.Message
	if h.attrs != "" || r.NumAttrs() > 0 {
		var sb strings.Builder
		sb.WriteString(r.Message)
		sb.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != broker.LogType { // the category, not part of the line
				sb.WriteString(" " + a.Key + "=" + a.Value.String())
			}
			return true
		})
		msg = sb.String()
	}
	sink.emit(t, r.Time, escapeControls(msg))
	return nil
}

// escapeControls writes the control characters of a log line as Go escapes (\n, \r, \x1b,
// \u009b): client ids, topics and user names are chosen by clients, and one with a newline
// would otherwise start a forged line of its own, one with an escape sequence would drive
// the operator's terminal. Tabs stay. Lines without any are returned as they are, unexamined
// beyond one pass over their bytes.
func escapeControls(s string) string {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if (c < ' ' && c != '\t') || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f) {
			break
		}
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		switch {
		case r == '\t' || (r >= ' ' && r != 0x7f && (r < 0x80 || r > 0x9f)):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// write logs msg whatever the level (the startup and shutdown notices of plain `serve`).
func (h *mosqHandler) write(msg string) {
	s := h.sink()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	for _, w := range s.writers {
		fmt.Fprintf(w, "%d: %s\n", time.Now().Unix(), msg)
	}
}

func (h *mosqHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	for _, a := range as {
		n.attrs += " " + a.Key + "=" + a.Value.String()
	}
	return &n
}

func (h *mosqHandler) WithGroup(string) slog.Handler { return h }
