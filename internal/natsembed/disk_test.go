package natsembed_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natsembed"
)

// smallDisk mounts a tmpfs of size bytes in a temp dir for the test, or
// skips it, loudly, where the test may not mount (not root).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: cannot mount a %s tmpfs to fill (needs root): %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// syncBuffer is a log the server writes from its own goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A full disk refuses writes at once and says so in the log; once space is
// freed, writes are taken again, without a restart. Twice: the limit goes
// down again when another writer takes the space back.
func TestFullDiskRefusesFastAndRecovers(t *testing.T) {
	disk := smallDisk(t, "24m")
	filler := filepath.Join(disk, "filler")
	fill := func() {
		t.Helper()
		if err := os.WriteFile(filler, make([]byte, 10<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fill()
	var log syncBuffer
	srv, err := natsembed.Start(natsembed.Options{
		StoreDir: filepath.Join(disk, "jetstream"), DontListen: true,
		Logger: slog.New(slog.NewTextHandler(&log, nil)), LimitCheckEvery: time.Hour, // the test checks itself
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}}); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		// Far shorter than a disk's own failure: a refusal comes at once.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := js.Publish(pctx, "s", make([]byte, 64<<10))
		return err
	}
	fillStore := func(round int) {
		t.Helper()
		for stored := 0; ; stored++ {
			err := publish()
			if err == nil {
				if stored > 1000 {
					t.Fatalf("round %d: %d writes of 64 KiB taken on a 24 MiB disk", round, stored)
				}
				continue
			}
			// nats-server's JSAccountResourcesExceededErr: the limit
			// that follows the disk is the account's.
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10002 {
				t.Fatalf("round %d: a write to a full disk failed with %v, want resource limits exceeded at once", round, err)
			}
			t.Logf("round %d: %d writes of 64 KiB taken, then refused; limit %d bytes", round, stored, srv.MaxStore())
			return
		}
	}
	free := func(round int) {
		t.Helper()
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if err := srv.CheckLimit(); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if err := publish(); err != nil {
				t.Fatalf("round %d: a write after space was freed: %v (limit %d)", round, err, srv.MaxStore())
			}
		}
	}

	fillStore(1)
	if !strings.Contains(log.String(), "resource limits exceeded") {
		t.Errorf("the server's log does not say why writes are refused:\n%s", log.String())
	}
	free(1)

	// Another writer takes the space back: the limit comes down with it.
	raised := srv.MaxStore()
	fill()
	if err := srv.CheckLimit(); err != nil {
		t.Fatal(err)
	}
	if srv.MaxStore() >= raised {
		t.Fatalf("limit %d after the disk filled again, want below %d", srv.MaxStore(), raised)
	}
	fillStore(2)
	free(2)
}
