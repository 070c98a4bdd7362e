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
// freed, writes are taken again, without a restart.
func TestFullDiskRefusesFastAndRecovers(t *testing.T) {
	disk := smallDisk(t, "24m")
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 10<<20), 0o600); err != nil {
		t.Fatal(err)
	}
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
	publish := func() (time.Duration, error) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		began := time.Now()
		_, err := js.Publish(pctx, "s", make([]byte, 64<<10))
		return time.Since(began), err
	}
	stored := 0
	for {
		took, err := publish()
		if err == nil {
			stored++
			if stored > 1000 {
				t.Fatalf("%d writes of 64 KiB taken on a 24 MiB disk", stored)
			}
			continue
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10023 {
			t.Fatalf("a write to a full disk failed with %v after %v, want insufficient resources at once", err, took)
		}
		if took > time.Second {
			t.Errorf("the refusal took %v", took)
		}
		break
	}
	t.Logf("%d writes of 64 KiB taken, then refused; limit %d bytes", stored, srv.MaxStore())
	if !strings.Contains(log.String(), "resource limits exceeded") {
		t.Errorf("the server's log does not say why writes are refused:\n%s", log.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := srv.CheckLimit(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := publish(); err != nil {
			t.Fatalf("a write after space was freed: %v (limit %d)", err, srv.MaxStore())
		}
	}
}
