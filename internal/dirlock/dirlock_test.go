package dirlock

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// flock locks are per open file, so a second Acquire in the same process
// behaves as a second process would.
func TestSecondAcquireNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	held, ok := errors.AsType[*HeldError](err)
	if !ok {
		t.Fatalf("second Acquire: err = %v, want a HeldError", err)
	}
	if held.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by another process (pid ") {
		t.Errorf("err = %v (pid %d), want the holder's pid %d named", err, held.PID, os.Getpid())
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	again.Release()
}
