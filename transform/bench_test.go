package transform

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAutoRender maps every fixture with auto detection and renders it
// in both formats: the transform stage's per-event cost without the queue.
func BenchmarkAutoRender(b *testing.B) {
	var events []struct {
		name string
		body []byte
		hdr  map[string]string
	}
	for _, tc := range goldenCases {
		body, err := os.ReadFile(filepath.Join("testdata", "fixtures", tc.fixture+".json"))
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, struct {
			name string
			body []byte
			hdr  map[string]string
		}{tc.fixture, body, tc.headers})
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range events {
			ev := testEvent("src", e.body)
			ev.Headers = e.hdr
			s, err := Auto(ev)
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range formats {
				if _, err := RenderSummary(s, f); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
