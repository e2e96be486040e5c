// Package version tells which build of badbatch is running.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/badbatch/badbatch/internal/version.Version=v1.2.3".
// Without it, the module version from the build info is used.
var Version = ""

// Info describes the running build.
type Info struct {
	Version   string // release or module version, "devel" when unknown
	Commit    string // VCS revision, when the build recorded one
	GoVersion string // the Go toolchain that built it
}

// Get returns the running build's Info.
func Get() Info {
	i := Info{Version: Version, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				i.Commit = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	return i
}
