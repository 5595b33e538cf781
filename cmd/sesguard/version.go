package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// versionString is the module version and the VCS revision the binary was
// built from, read from the build info the go command stamps in: "v1.2.0"
// after `go install …@v1.2.0`, "(devel)" with the revision after `go build`
// in a clone, "+dirty" when the work tree had changes.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "sesguard (no build information)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	out := "sesguard " + version
	if rev != "" {
		out += fmt.Sprintf(" revision %s%s", rev, dirty)
		if when != "" {
			out += " (" + when + ")"
		}
	} else {
		out += " revision unknown (built without VCS information)"
	}
	return out + " " + info.GoVersion
}

func runVersion(stdout io.Writer) int {
	fmt.Fprintln(stdout, versionString(debug.ReadBuildInfo()))
	return exitOK
}
