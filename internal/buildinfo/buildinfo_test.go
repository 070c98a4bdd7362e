package buildinfo

import (
	"runtime"
	"testing"
)

func TestReadAndString(t *testing.T) {
	info := Read()
	if info.Version == "" || info.Revision == "" || info.GoVersion != runtime.Version() {
		t.Errorf("Read() = %+v", info)
	}
	got := Info{Version: "0.1.0", Revision: "0123456789abcdef0123", Modified: true,
		CommitTime: "2026-12-04T00:00:00Z", GoVersion: "go1.26.8"}.String()
	if want := "hookrelay 0.1.0 (commit 0123456789ab+dirty, 2026-12-04T00:00:00Z, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
