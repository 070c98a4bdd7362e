package dispatch

import (
	"net/http"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	wrapped := func(code string) string {
		return "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error " + code +
			" with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=x.0.."
	}
	tests := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		want       verdict
		wantStatus int
		wantWait   time.Duration
	}{
		{"connector success", 200, "", "1", delivered, 200, 0},
		{"workflows accepted", 202, "", "", delivered, 202, 0},
		{"wrapped 429 is not a delivery", 200, "", wrapped("429"), retry, 429, 0},
		{"wrapped 400", 200, "", wrapped("400"), rejected, 400, 0},
		{"wrapped 413", 200, "", wrapped("413"), rejected, 413, 0},
		{"wrapped without code", 200, "", "Webhook message delivery failed with error: oops", retry, 500, 0},
		{"bare 429 seconds", 429, "7", "", retry, 429, 7 * time.Second},
		{"503 http date", 503, now.Add(90 * time.Second).Format(http.TimeFormat), "", retry, 503, 90 * time.Second},
		{"500 junk retry-after", 500, "soon", "", retry, 500, 0},
		{"429 retry-after past a day reads as a day", 429, "172800", "", retry, 429, 24 * time.Hour},
		{"429 retry-after too many seconds for a Duration", 429, "9223372037", "", retry, 429, 24 * time.Hour},
		{"429 retry-after past int64", 429, "99999999999999999999", "", retry, 429, 24 * time.Hour},
		{"503 http date a year ahead reads as a day", 503, now.AddDate(1, 0, 0).Format(http.TimeFormat), "", retry, 503, 24 * time.Hour},
		{"429 negative retry-after", 429, "-5", "", retry, 429, 0},
		{"408", 408, "", "", retry, 408, 0},
		{"400", 400, "", "Summary or Text is required.", rejected, 400, 0},
		{"403", 403, "", "", rejected, 403, 0},
		{"404 gone", 404, "", "", gone, 404, 0},
		{"410 gone", 410, "", "", gone, 410, 0},
		{"redirect is not followed", 302, "", "", rejected, 302, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			o := classify(tt.status, h, []byte(tt.body), now)
			if o.verdict != tt.want || o.status != tt.wantStatus || o.retryAfter != tt.wantWait {
				t.Errorf("classify = %v status %d wait %v, want %v status %d wait %v",
					o.verdict, o.status, o.retryAfter, tt.want, tt.wantStatus, tt.wantWait)
			}
		})
	}
}
