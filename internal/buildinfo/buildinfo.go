// Package buildinfo says which hookrelay this is: its version, the commit it
// was built from and the Go that built it, read from the binary's build
// information. `hookrelay version` prints it and /metrics exports it as
// hookrelay_build_info.
package buildinfo

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at link time by release builds and the image
// (-ldflags "-X github.com/hookrelay/hookrelay/internal/buildinfo.version=v1.2.3");
// left empty, the module version Go stamped from the VCS is used. It is
// written only by the linker, never at run time.
var version string

// Info describes the running binary.
type Info struct {
	// Version is the release (v1.2.3), the pseudo-version Go stamped from
	// git (v0.0.0-20261204…-abcdef123456+dirty), or "devel" when neither is known.
	Version string `json:"version"`
	// Revision is the VCS commit, "unknown" outside a checkout.
	Revision string `json:"revision"`
	// Modified says the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// CommitTime is the commit's time, when known (RFC 3339).
	CommitTime string `json:"commit_time,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Read returns the running binary's Info.
func Read() Info {
	info := Info{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		info.Version = cmp.Or(info.Version, "devel")
		return info
	}
	if v := bi.Main.Version; info.Version == "" && v != "" && v != "(devel)" {
		info.Version = v
	}
	info.Version = cmp.Or(info.Version, "devel")
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "vcs.time":
			info.CommitTime = s.Value
		}
	}
	return info
}

// String is the one line `hookrelay --version` prints.
func (i Info) String() string {
	rev := i.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if i.Modified {
		rev += "+dirty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hookrelay %s (commit %s", i.Version, rev)
	if i.CommitTime != "" {
		fmt.Fprintf(&b, ", %s", i.CommitTime)
	}
	fmt.Fprintf(&b, ", %s)", i.GoVersion)
	return b.String()
}
