package auth

import "fmt"

// LineError is a problem found at one line of a password or ACL file. It is
// used both for fatal parse errors and for warnings about entries that were
// skipped.
type LineError struct {
	File string // file name as given to the parser
	Line int    // 1-based line number
	Msg  string // what was wrong and what was expected
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

func lineErrorf(file string, line int, format string, args ...any) *LineError {
	return &LineError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
