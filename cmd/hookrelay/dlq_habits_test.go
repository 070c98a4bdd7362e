package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/deadletter"
)

// dlqIO runs `hookrelay dlq args…` and returns stdout and stderr.
func dlqIO(t *testing.T, admin, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := adminCmd{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, now: time.Now,
		getenv: func(k string) string {
			if k == "HOOKRELAY_ADMIN" {
				return admin
			}
			return ""
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.run(ctx, args)
	return out.String(), errOut.String(), err
}

// Ids that name nothing are said and fail the command (status 1); the purge
// prompt says how many; replay and purge print JSON with -o json.
func TestDLQReplayAndPurgeOfMissingIDs(t *testing.T) {
	admin, _ := dlqEnv(t)
	out, _, err := dlqIO(t, admin, "", "replay", "--id", "1,77", "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "no dead letter with id 77") || exitCode(err) != exitFailure {
		t.Errorf("replay of a missing id: err = %v (exit %d)", err, exitCode(err))
	}
	var res struct {
		Replayed []string `json:"replayed"`
		NotFound []string `json:"not_found"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Replayed) != 1 || res.Replayed[0] != "1" ||
		len(res.NotFound) != 1 || res.NotFound[0] != "77" {
		t.Errorf("replay -o json = %v %+v\n%s", err, res, out)
	}

	_, stderr, err := dlqIO(t, admin, "n\n", "purge", "--destination", "ops")
	if err == nil || !strings.Contains(stderr, "Delete 1 dead letter(s) matching destination=ops?") {
		t.Errorf("purge prompt = %q, err %v; want the count", stderr, err)
	}
	out, _, err = dlqIO(t, admin, "", "purge", "--id", "3,88", "--yes", "-o", "json")
	if err == nil || !strings.Contains(err.Error(), "no dead letter with id 88") {
		t.Errorf("purge of a missing id: err = %v", err)
	}
	var purged struct {
		Purged   int      `json:"purged"`
		NotFound []string `json:"not_found"`
	}
	if err := json.Unmarshal([]byte(out), &purged); err != nil || purged.Purged != 1 || len(purged.NotFound) != 1 {
		t.Errorf("purge -o json = %v %+v\n%s", err, purged, out)
	}
	if _, _, err := dlqIO(t, admin, "", "replay", "--destination", "ops", "-o", "yaml"); exitCode(err) != exitUsage {
		t.Errorf("replay -o yaml: err = %v, want a usage error", err)
	}
}

func TestDLQListErrorColumnShowsTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		lastError, excerpt, want string
	}{
		{"", "", "-"},
		{"rejected: HTTP 400", "", "rejected: HTTP 400"},
		{"", "Summary or Text is required.", "Summary or Text is required."},
		{"rejected: HTTP 400", "Summary or Text is required.", "rejected: HTTP 400: Summary or Text is required."},
	} {
		var e deadletter.Entry
		e.LastError, e.ResponseExcerpt = tc.lastError, tc.excerpt
		if got := errorColumn(e); got != tc.want {
			t.Errorf("errorColumn(%q, %q) = %q, want %q", tc.lastError, tc.excerpt, got, tc.want)
		}
	}
}

// Mistakes in what a command asks for exit 2, whether the command or the
// admin API finds them; an id that names nothing exits 1 (list too); a
// listing cut at --limit says so on stderr in JSON as in a table.
func TestDLQUsageMistakesAndMissingIDs(t *testing.T) {
	admin, _ := dlqEnv(t)
	for _, args := range [][]string{
		{"list", "--since", "yesterday"},
		{"list", "--reason", "bogus"},
		{"list", "--id", "ev.ops.0"},
		{"list", "--since", "1h", "--until", "2h"},
		{"show", "ev.ops.0"},
		{"replay", "--reason", "rejectd"},
		{"purge", "--id", "ev.ops.0", "--yes"},
	} {
		if _, _, err := dlqIO(t, admin, "", args...); exitCode(err) != exitUsage {
			t.Errorf("dlq %s: exit %d (%v), want %d", strings.Join(args, " "), exitCode(err), err, exitUsage)
		}
	}
	_, _, err := dlqIO(t, admin, "", "list", "--id", "ev9:ops:0")
	if exitCode(err) != exitFailure || err == nil || !strings.Contains(err.Error(), "ev9:ops:0") {
		t.Errorf("dlq list of a missing id: exit %d (%v), want %d naming it", exitCode(err), err, exitFailure)
	}
	out, stderr, err := dlqIO(t, admin, "", "list", "-o", "json", "--limit", "2")
	var entries []json.RawMessage
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 2 || !strings.Contains(stderr, "showing the oldest 2 of 3") {
		t.Errorf("list -o json --limit 2 of 3: %d entries, stderr %q, err %v; want 2 and the note on stderr", len(entries), stderr, err)
	}
}
