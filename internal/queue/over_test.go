package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A key that would name another subject than its own is refused before the
// backend is asked (here there is none: asking it would panic).
func TestStoresRefuseKeysThatAreNotNames(t *testing.T) {
	s := Over(nil)
	ctx := context.Background()
	for _, key := range []string{"", "a.b", "*", ">", "ops.>", "two words", "tab\there"} {
		calls := map[string]error{}
		_, calls["AppendEvent"] = s.AppendEvent(ctx, Msg{Key: key})
		_, calls["AppendEvents"] = s.AppendEvents(ctx, []Msg{{Key: "ok"}, {Key: key}})
		_, calls["Enqueue"] = s.Enqueue(ctx, []Msg{{Key: key}})
		_, calls["PutDeadLetters"] = s.PutDeadLetters(ctx, []Msg{{Key: key}})
		_, calls["OpenLane"] = s.OpenLane(ctx, key, LaneOptions{Hold: 1})
		calls["RecordSends"] = s.RecordSends(key, []time.Time{time.Now()})
		calls["RecordHistory"] = s.RecordHistory(key, nil)
		calls["ScanHistory"] = s.ScanHistory(ctx, key, time.Time{}, nil)
		if key != "" { // "" scans every key
			calls["ScanEvents"] = s.ScanEvents(ctx, key, time.Time{}, nil)
			calls["ScanDeadLetters"] = s.ScanDeadLetters(ctx, key, time.Time{}, nil)
			calls["Sends"] = s.Sends(ctx, key, time.Time{}, nil)
		}
		for call, err := range calls {
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("%s with key %q: %v, want ErrBadKey", call, key, err)
			}
		}
	}
}
