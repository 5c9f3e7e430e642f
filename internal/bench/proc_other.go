//go:build !linux

package bench

import (
	"errors"
	"time"
)

var errNoProc = errors.New("reading another process's CPU time and memory needs Linux /proc")

func procCPU(int) (time.Duration, error)       { return 0, errNoProc }
func procMem(int) (rss, peak int64, err error) { return 0, 0, errNoProc }
