// Package dirlock keeps a second process off a directory another one owns:
// two hookrelays on one data_dir would run two embedded NATS servers over
// the same files.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FileName is the lock file Acquire creates in the directory.
const FileName = "hookrelay.lock"

// Lock is a held directory lock. The operating system releases it when the
// process ends, however it ends, so a crash never leaves it stale.
type Lock struct {
	f *os.File
}

// HeldError says another process holds the lock.
type HeldError struct {
	Dir string
	PID int // 0 when the holder did not write its pid (yet)
}

func (e *HeldError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("data_dir %s is in use by %s: stop it, or give this one another data_dir", e.Dir, holder)
}

// Acquire creates dir if needed and locks it, writing this process's pid in
// the lock file. It fails with a *HeldError when another process holds it.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: open lock file: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Dir: dir, PID: readPID(path)}
		}
		return nil, fmt.Errorf("data_dir %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("data_dir %s: write lock file: %w", dir, err)
		}
	}
	return &Lock{f: f}, nil
}

func readPID(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid
}

// Release unlocks the directory. The lock file stays: removing it would let
// a third process lock a new file while a second still holds the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close()
}
