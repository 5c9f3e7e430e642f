// Command gen writes the shell completions and man pages generated from the mqtt command
// definitions: `go run ./internal/cli/gen -out .` (what `make gen` runs).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mqttkit/mqtt/internal/cli"
)

func main() {
	out := flag.String("out", ".", "repository root to write completions/ and man/ under")
	flag.Parse()
	if err := cli.GenerateFiles(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
