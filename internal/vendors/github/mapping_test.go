package github

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// TestPushOfATagSaysTag: a push of refs/tags/… names a tag, in the fact's
// label and the title, never a branch; a branch push still says Branch.
// GitHub's published sample (../../../../shared/payloads/github_push.json,
// refs/tags/simple-tag) is read too when it is there.
func TestPushOfATagSaysTag(t *testing.T) {
	for _, tc := range []struct {
		file, label, value, title string
	}{
		{"testdata/github_push_tag.json", "Tag", "v1.2.0", "created tag v1.2.0"},
		{"testdata/github_push.json", "Branch", "main", "to main"},
		{"../../../../shared/payloads/github_push.json", "Tag", "simple-tag", "deleted tag simple-tag"},
	} {
		t.Run(tc.file, func(t *testing.T) { testPushRef(t, tc.file, tc.label, tc.value, tc.title) })
	}
}

func testPushRef(t *testing.T, file, label, value, title string) {
	body, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(file, "../") {
		t.Skipf("SKIPPED: the published sample %s is absent; only this package's fixtures were read", filepath.Clean(file))
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := Map(schemas.Event{ID: "e", Source: "gh", ContentType: "application/json", Body: body,
		Headers: map[string]string{"X-GitHub-Event": "push"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Title, title) {
		t.Errorf("title %q does not say %q", s.Title, title)
	}
	var got []mapping.Fact
	for _, f := range s.Facts {
		if f.Name == "Branch" || f.Name == "Tag" {
			got = append(got, f)
		}
	}
	if want := (mapping.Fact{Name: label, Value: value}); len(got) != 1 || got[0] != want {
		t.Errorf("facts %v, want %v", got, want)
	}
}
