package testutil

import (
	"context"
	"log/slog"
	"sync"
)

// LogLines is a slog.Handler that keeps every record's message, so a test can assert on the
// log lines a component wrote (slog.New(h)). Level is the lowest level kept (the zero value,
// Info, leaves out Debug). Safe for concurrent use.
type LogLines struct {
	Level slog.Level
	mu    sync.Mutex
	lines []string
}

func (h *LogLines) Enabled(_ context.Context, l slog.Level) bool { return l >= h.Level }
func (h *LogLines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, r.Message)
	h.mu.Unlock()
	return nil
}
func (h *LogLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *LogLines) WithGroup(string) slog.Handler      { return h }

// Lines returns a copy of the messages logged so far, oldest first.
func (h *LogLines) Lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}
