package daemon

import (
	"runtime/debug"
	"time"
)

// builtAt is the build's time (RFC 3339) when the linker sets it
// (make build: -X posd/internal/daemon.builtAt=..., the commit's time);
// the toolchain's own stamp (vcs.time) comes first.
var builtAt string

// BuildTime is the time of the commit this binary was built from: the Go
// toolchain's stamp (vcs.time), else the one make build links in; zero
// when neither says. posd gives it to WithBuildTime.
func BuildTime() time.Time {
	var settings []debug.BuildSetting
	if bi, ok := debug.ReadBuildInfo(); ok {
		settings = bi.Settings
	}
	return buildTime(settings, builtAt)
}

func buildTime(settings []debug.BuildSetting, linked string) time.Time {
	for _, s := range settings {
		if s.Key == "vcs.time" {
			linked = s.Value
		}
	}
	t, err := time.Parse(time.RFC3339, linked)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
