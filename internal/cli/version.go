package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// Build metadata, filled in at link time by the Makefile and .goreleaser.yaml with
// -ldflags "-X github.com/mqttkit/mqtt/internal/cli.version=... .commit=... .date=...".
// The linker writes them; no code assigns them, so they are constants in all but syntax.
var (
	version string
	commit  string
	date    string
)

// buildInfo is what `mqtt version` prints.
type buildInfo struct {
	Version, Commit, Date, GoVersion, Platform string
}

// currentBuild returns the link-time metadata, falling back to what the Go toolchain recorded
// (module version for `go install ...@vX`, VCS revision and time for builds in a checkout).
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, date, bi)
}

// resolveBuild prefers the -ldflags values and fills what they leave empty from bi (nil when the
// binary carries no build information).
func resolveBuild(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: ldVersion, Commit: ldCommit, Date: ldDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				if s.Value == "true" && ldCommit == "" && b.Commit != "" && !strings.HasSuffix(b.Commit, "-dirty") {
					b.Commit += "-dirty"
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "version",
		Usage:       "print version, commit, build date and Go version",
		Description: "Prints the version of mqtt, the commit it was built from, the build date and the Go toolchain and platform.",
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("version takes no arguments")
			}
			b := currentBuild()
			_, err := fmt.Fprintf(c.App.Writer, "mqtt %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n",
				b.Version, b.Commit, b.Date, b.GoVersion, b.Platform)
			return err
		},
	}
}
