package config

import (
	"strings"
	"testing"
)

// A window of limits must fit in the send log an instance taking the
// destination over reads: at most 24h long, and with JetStream, whose
// RELAY_SENT keeps a destination's last 2048 sends, at most 2000 sends.
func TestLimitsFitTheSendLog(t *testing.T) {
	doc := func(kind, limits string) []byte {
		q := "queue: {kind: jetstream}\n"
		if kind == QueueKafka {
			q = "queue: {kind: kafka, brokers: [k1:9092]}\n"
		}
		return []byte(q + "destinations:\n  - name: ops\n    url: https://example.com/hook\n    limits: " + limits + "\n")
	}
	for _, tc := range []struct {
		name, kind, limits, wantErr string
	}{
		{"the teams ladder", QueueJetStream, "teams", ""},
		{"2000 an hour", QueueJetStream, "[{per: 1s, max: 4}, {per: 1h, max: 2000}]", ""},
		{"3000 an hour with jetstream", QueueJetStream, "[{per: 1s, max: 4}, {per: 1h, max: 3000}]",
			"line 5: destinations[0].limits[1].max: 3000 is more than the 2000 sends a window may hold with queue.kind jetstream"},
		{"3000 an hour with kafka", QueueKafka, "[{per: 1s, max: 4}, {per: 1h, max: 3000}]", ""},
		{"a day", QueueKafka, "[{per: 24h, max: 1800}]", ""},
		{"two days", QueueKafka, "[{per: 48h, max: 1800}]",
			"line 5: destinations[0].limits[0].per: 48h0m0s is longer than the 24h0m0s a window may span"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(doc(tc.kind, tc.limits))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("limits %s: %v", tc.limits, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("limits %s: err = %v, want it to contain %q", tc.limits, err, tc.wantErr)
			}
		})
	}
}
