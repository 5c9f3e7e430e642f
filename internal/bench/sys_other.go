//go:build !unix

package bench

import (
	"os"
	"time"
)

func pid() int { return os.Getpid() }

func raiseFileLimit() uint64 { return 0 }

// cpuTime is not measured on this platform.
func cpuTime() time.Duration { return 0 }
