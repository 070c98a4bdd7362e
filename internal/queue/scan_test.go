package queue_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
)

func TestScan(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	st, err := env.JS.Stream(ctx, queue.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	tests := []struct {
		name  string
		start time.Time
		// during is called at each message; it returns what fn returns.
		during  func(t *testing.T, subject string, md *jetstream.MsgMetadata) (bool, error)
		want    []string
		wantErr error
	}{
		{name: "every message of the subject", want: []string{"0", "1", "2"}},
		{name: "from a start after them all", start: time.Now().Add(time.Hour), want: nil},
		{name: "until fn says stop", want: []string{"0", "1"},
			during: func(t *testing.T, _ string, md *jetstream.MsgMetadata) (bool, error) {
				return md.NumPending > 1, nil
			}},
		{name: "fn's error", want: []string{"0"}, wantErr: errStop,
			during: func(t *testing.T, _ string, _ *jetstream.MsgMetadata) (bool, error) { return false, errStop }},
		{name: "not what is stored after it began", want: []string{"0", "1", "2"},
			during: func(t *testing.T, subject string, _ *jetstream.MsgMetadata) (bool, error) {
				if _, err := env.JS.Publish(ctx, subject, []byte("later")); err != nil {
					t.Fatal(err)
				}
				return true, nil
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := queue.DeadSubject(string(rune('a' + i)))
			for _, body := range []string{"0", "1", "2"} {
				if _, err := env.JS.Publish(ctx, subject, []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			// Another subject's message in between must not be visited.
			if _, err := env.JS.Publish(ctx, queue.DeadSubject("other"), []byte("other")); err != nil {
				t.Fatal(err)
			}
			var got []string
			err := queue.Scan(ctx, st, subject, tt.start, func(m jetstream.Msg, md *jetstream.MsgMetadata) (bool, error) {
				got = append(got, string(m.Data()))
				if tt.during != nil {
					return tt.during(t, subject, md)
				}
				return true, nil
			})
			if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
				t.Errorf("Scan visited %q, error %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}

	t.Run("ends when the rest is deleted under it", func(t *testing.T) {
		subject := queue.DeadSubject("deleted")
		var seqs []uint64
		for range 300 {
			ack, err := env.JS.Publish(ctx, subject, []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ack.Sequence)
		}
		n := 0
		err := queue.Scan(ctx, st, subject, time.Time{}, func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error) {
			if n++; n == 1 {
				// As a concurrent purge would: the scan must not wait for them.
				for _, seq := range seqs[1:] {
					if err := st.DeleteMsg(ctx, seq); err != nil {
						t.Fatal(err)
					}
				}
			}
			return true, nil
		})
		if err != nil || n == 0 || n == len(seqs) {
			t.Errorf("Scan visited %d of %d, error %v; want it to end without the deleted ones", n, len(seqs), err)
		}
	})
}
