package natsembed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// storeLimit is the file store's limit: what it holds (used) and what the
// file system under dir has free, less a reserve for what JetStream writes
// beside its messages (indexes, consumer state) and for other writers, so
// that the disk itself never fills under JetStream.
func storeLimit(dir string, used int64) (int64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("store dir %s: %w", dir, err)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, fmt.Errorf("free space under %s: %w", dir, err)
	}
	size := int64(fs.Blocks) * int64(fs.Bsize)
	free := int64(fs.Bavail) * int64(fs.Bsize)
	reserve := min(max(size/10, 1<<20), 256<<20)
	// Rounded to 1 MiB, so that small changes do not reload the server.
	// Never 0, which would ask nats-server for its own default.
	return max((used+free-reserve)&^(1<<20-1), 1<<20), nil
}

// fsSize is the size of the file system under dir.
func fsSize(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("size of the file system under %s: %w", dir, err)
	}
	return int64(st.Blocks) * int64(st.Bsize), nil
}

// dirSize is the bytes the files under dir hold; 0 when dir does not exist.
func dirSize(dir string) (int64, error) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of the store under %s: %w", dir, err)
	}
	return size, nil
}
