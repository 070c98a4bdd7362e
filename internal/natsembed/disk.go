package natsembed

import (
	"fmt"
	"os"
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
