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
