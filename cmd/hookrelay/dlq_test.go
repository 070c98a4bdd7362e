package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookrelay/hookrelay/deadletter"
	"github.com/hookrelay/hookrelay/internal/natstest"
	"github.com/hookrelay/hookrelay/internal/queue"
	"github.com/hookrelay/hookrelay/schemas"
)

// dlqEnv is an admin API over a real JetStream holding three dead letters
// as a release before ids were names stored them, so named by their
// sequence: 1 and 3 for "ops", 2 for "sales".
func dlqEnv(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	env := natstest.Start(t)
	for i, dest := range []string{"ops", "sales", "ops"} {
		dl := schemas.DeadLetter{
			Delivery: schemas.Delivery{
				ID: fmt.Sprintf("d%d", i+1), Source: "github", Destination: dest,
				Card: []byte(`{"type":"message"}`), CreatedAt: time.Now(), NotAfter: time.Now().Add(time.Hour),
			},
			Reason: schemas.ReasonRejected, Attempts: 1, LastStatus: 400,
			LastError: "Bad payload received by generic incoming webhook.\n" + strings.Repeat("x", 100),
			DeadAt:    time.Now(),
		}
		data, err := json.Marshal(dl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.JS.Publish(context.Background(), queue.DeadSubject(dest), data); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(deadletter.NewHandler(deadletter.NewStore(queue.Over(env.Queue(t)), queue.Over(env.Queue(t))), slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv.URL, env.JS
}

// dlq runs `hookrelay dlq args…` against admin with stdin as given.
func dlq(t *testing.T, admin, stdin string, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := dlqIO(t, admin, stdin, args...)
	return stdout, err
}

func remaining(t *testing.T, admin string) int {
	t.Helper()
	out, err := dlq(t, admin, "", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []deadletter.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	return len(entries)
}

func TestDLQList(t *testing.T) {
	admin, _ := dlqEnv(t)
	out, err := dlq(t, admin, "", "list", "--destination", "ops")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ANSWER") || !strings.Contains(lines[0], "TITLE") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range []string{"1", "3"} {
		f := strings.Fields(lines[i+1])
		if f[0] != want || !strings.Contains(lines[i+1], "ops") || !strings.Contains(lines[i+1], "400") {
			t.Errorf("row %d = %q, want id %s for ops with status 400", i+1, lines[i+1], want)
		}
		if !strings.HasSuffix(lines[i+1], "…") {
			t.Errorf("row %d does not cut the long error: %q", i+1, lines[i+1])
		}
	}
	// The global flag wins over the environment, before or after the command.
	if _, err := dlq(t, "http://127.0.0.1:1", "", "--admin", admin, "list"); err != nil {
		t.Errorf("--admin before the command: %v", err)
	}
	if _, err := dlq(t, "http://127.0.0.1:1", "", "list", "--admin", admin); err != nil {
		t.Errorf("--admin after the command: %v", err)
	}
}

func TestDLQShow(t *testing.T) {
	admin, _ := dlqEnv(t)
	out, err := dlq(t, admin, "", "show", "-o", "json", "2")
	if err != nil {
		t.Fatal(err)
	}
	var e deadletter.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.ID != "2" || e.Delivery.Destination != "sales" {
		t.Errorf("show 2 = %v %+v\n%s", err, e, out)
	}
	if _, err := dlq(t, admin, "", "show", "9"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("show 9 error = %v, want ErrNotFound", err)
	}
}

func TestDLQReplay(t *testing.T) {
	admin, js := dlqEnv(t)
	if _, err := dlq(t, admin, "", "replay"); err == nil {
		t.Error("replay without a filter succeeded")
	}
	out, err := dlq(t, admin, "", "replay", "--destination", "ops", "--dry-run")
	if err != nil || !strings.Contains(out, "would replay 2 dead letter(s): 1, 3") {
		t.Errorf("dry run = %q, %v", out, err)
	}
	if n := remaining(t, admin); n != 3 {
		t.Errorf("dry run left %d, want 3", n)
	}
	out, err = dlq(t, admin, "", "replay", "--id", "1,3")
	if err != nil || !strings.Contains(out, "replayed 2 dead letter(s): 1, 3") {
		t.Errorf("replay = %q, %v", out, err)
	}
	if n := remaining(t, admin); n != 1 {
		t.Errorf("replay left %d, want 1", n)
	}
	st, err := js.Stream(context.Background(), queue.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := st.CachedInfo().State.Msgs; msgs != 2 {
		t.Errorf("RELAY_OUT holds %d, want 2", msgs)
	}
}

func TestDLQPurge(t *testing.T) {
	admin, _ := dlqEnv(t)
	if _, err := dlq(t, admin, "y\n", "purge"); err == nil {
		t.Error("purge without a filter succeeded")
	}
	if _, err := dlq(t, admin, "n\n", "purge", "--destination", "sales"); err == nil {
		t.Error("declined purge did not report cancellation")
	}
	if n := remaining(t, admin); n != 3 {
		t.Errorf("declined purge left %d, want 3", n)
	}
	out, err := dlq(t, admin, "y\n", "purge", "--destination", "sales")
	if err != nil || !strings.Contains(out, "purged 1") {
		t.Errorf("purge = %q, %v", out, err)
	}
	out, err = dlq(t, admin, "", "purge", "--all", "--yes")
	if err != nil || !strings.Contains(out, "purged 2") {
		t.Errorf("purge --all = %q, %v", out, err)
	}
	if n := remaining(t, admin); n != 0 {
		t.Errorf("left %d after purge --all", n)
	}
}

// A dead letter stored now is listed, shown, replayed and purged by its
// name, "<event id>:<destination>:<replays>"; what cannot be an id is
// refused with what one looks like.
func TestDLQByName(t *testing.T) {
	env := natstest.Start(t)
	stores := queue.Over(env.Queue(t))
	var msgs []queue.Msg
	for _, ev := range []string{"ev1", "ev2", "ev3"} {
		m, err := deadletter.Msg(schemas.DeadLetter{
			Delivery: schemas.Delivery{
				ID: ev + ".ops", EventID: ev, Source: "github", Destination: "ops",
				Card: []byte(`{"type":"message"}`), CreatedAt: time.Now(), NotAfter: time.Now().Add(time.Hour),
			},
			Reason: schemas.ReasonRejected, Attempts: 1, LastStatus: 400,
		})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if _, err := stores.PutDeadLetters(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(deadletter.NewHandler(deadletter.NewStore(stores, stores), slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	admin := srv.URL

	out, err := dlq(t, admin, "", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, want := range []string{"ev1:ops:0", "ev2:ops:0", "ev3:ops:0"} {
		if len(lines) <= i+1 || strings.Fields(lines[i+1])[0] != want {
			t.Fatalf("list, row %d: want id %s\n%s", i+1, want, out)
		}
	}
	out, err = dlq(t, admin, "", "show", "-o", "json", "ev2:ops:0")
	var e deadletter.Entry
	if err != nil || json.Unmarshal([]byte(out), &e) != nil || e.ID != "ev2:ops:0" || e.Delivery.EventID != "ev2" {
		t.Errorf("show ev2:ops:0 = %v %+v\n%s", err, e, out)
	}
	if out, err := dlq(t, admin, "", "replay", "--id", "ev1:ops:0"); err != nil || !strings.Contains(out, "replayed 1 dead letter(s): ev1:ops:0") {
		t.Errorf("replay --id ev1:ops:0 = %q, %v", out, err)
	}
	if out, err := dlq(t, admin, "", "purge", "--id", "ev3:ops:0", "--yes"); err != nil || !strings.Contains(out, "purged 1") {
		t.Errorf("purge --id ev3:ops:0 = %q, %v", out, err)
	}
	if n := remaining(t, admin); n != 1 {
		t.Errorf("%d left, want ev2's", n)
	}
	if _, err := dlq(t, admin, "", "show", "ev1:ops:0"); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("show of a replayed dead letter: %v, want not found", err)
	}
	_, err = dlq(t, admin, "", "show", "ev2.ops.0")
	if err == nil || !strings.Contains(err.Error(), "event id:destination:replays") {
		t.Errorf("show ev2.ops.0: %v, want what an id looks like", err)
	}
}

// answerAfter is a terminal whose user types answer once first has run: it
// runs when the prompt waits for the answer.
type answerAfter struct {
	first  func()
	answer io.Reader
}

func (a *answerAfter) Read(p []byte) (int, error) {
	if a.first != nil {
		a.first()
		a.first = nil
	}
	return a.answer.Read(p)
}

// A purge deletes what its prompt counted: a dead letter that arrives while
// the prompt waits for the answer stays.
func TestDLQPurgeDeletesWhatWasConfirmed(t *testing.T) {
	admin, js := dlqEnv(t) // ops has two
	arrive := func() {
		data, err := json.Marshal(schemas.DeadLetter{
			Delivery: schemas.Delivery{ID: "d-late", Source: "github", Destination: "ops", Card: []byte(`{"type":"message"}`)},
			Reason:   schemas.ReasonRejected, DeadAt: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(context.Background(), queue.DeadSubject("ops"), data); err != nil {
			t.Fatal(err)
		}
	}
	var out, prompt bytes.Buffer
	c := adminCmd{stdin: &answerAfter{first: arrive, answer: strings.NewReader("y\n")}, stdout: &out, stderr: &prompt, now: time.Now,
		getenv: func(k string) string {
			if k == "HOOKRELAY_ADMIN" {
				return admin
			}
			return ""
		}}
	if err := c.run(context.Background(), []string{"purge", "--destination", "ops"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prompt.String(), "Delete 2 dead letter(s)") || !strings.Contains(out.String(), "purged 2") {
		t.Errorf("prompt %q, result %q: want 2 counted and 2 purged", prompt.String(), out.String())
	}
	left, err := dlq(t, admin, "", "list", "--destination", "ops", "-o", "json")
	if err != nil || !strings.Contains(left, "d-late") {
		t.Errorf("the dead letter that arrived during the prompt is gone: %q, %v", left, err)
	}
}
