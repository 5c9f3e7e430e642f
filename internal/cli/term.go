package cli

import (
	"io"
	"os"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// useColor reports whether output to w may be coloured: only when w is a terminal and the
// NO_COLOR convention (https://no-color.org: set and non-empty) does not forbid it.
func useColor(w io.Writer, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fd := f.Fd()
	return isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)
}

// painter colours text for one stream. Colour is decided per painter, never through
// fatih/color's package-level NoColor switch, so two apps in one process don't interfere.
type painter struct{ on bool }

func newPainter(w io.Writer) painter { return painter{on: useColor(w, os.Getenv)} }

func (p painter) paint(s string, attrs ...color.Attribute) string {
	if !p.on {
		return s
	}
	c := color.New(attrs...)
	c.EnableColor()
	return c.Sprint(s)
}

// errorPrefix is the "error:" label in red and bold on a terminal.
func (p painter) errorPrefix() string { return p.paint("error:", color.FgRed, color.Bold) }

// hint is the dimmed usage hint after an error.
func (p painter) hint(s string) string { return p.paint(s, color.Faint) }
