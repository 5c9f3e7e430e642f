package cli

import (
	"runtime/debug"
	"testing"
)

// Where `mqtt version` gets each field: -ldflags first (Makefile, goreleaser), then what the Go
// toolchain recorded (go install ...@v1.2.3 records the module version; a build in a git
// checkout records the revision, its time and whether the tree was modified).
func TestResolveBuild(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, tc := range []struct {
		name                string
		ldV, ldC, ldD       string
		bi                  *debug.BuildInfo
		wantV, wantC, wantD string
	}{
		{"ldflags win", "v1.0.0", "abc1234", "2026-05-01T00:00:00Z", &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: vcs},
			"v1.0.0", "abc1234", "2026-05-01T00:00:00Z"},
		{"go install @version", "", "", "", &debug.BuildInfo{Main: debug.Module{Path: "github.com/mqttkit/mqtt", Version: "v1.2.3"}},
			"v1.2.3", "unknown", "unknown"},
		{"go build in a checkout", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"devel", "0123abcd-dirty", "2026-01-02T03:04:05Z"},
		{"nothing recorded", "", "", "", nil, "devel", "unknown", "unknown"},
	} {
		b := resolveBuild(tc.ldV, tc.ldC, tc.ldD, tc.bi)
		if b.Version != tc.wantV || b.Commit != tc.wantC || b.Date != tc.wantD {
			t.Errorf("%s: got %q %q %q, want %q %q %q", tc.name, b.Version, b.Commit, b.Date, tc.wantV, tc.wantC, tc.wantD)
		}
		if b.GoVersion == "" || b.Platform == "" {
			t.Errorf("%s: Go version or platform missing: %+v", tc.name, b)
		}
	}
}
