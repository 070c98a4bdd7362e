package vendors

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// shared are the folders beside the vendors that every vendor builds on.
var shared = []string{"verify", "mapping", "handshake"}

// TestEveryVendorFolderIsRegistered: each folder under internal/vendors is
// either shared by the vendors or listed in All, once, with unique scheme
// and mapping names, a constructor per scheme and fixtures for its mapping.
func TestEveryVendorFolderIsRegistered(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	schemes := map[string]bool{}
	mappings := map[string]bool{}
	for _, v := range All() {
		if listed[v.Name] {
			t.Errorf("vendor %s is listed twice", v.Name)
		}
		listed[v.Name] = true
		if len(v.Schemes) == 0 && v.Mapping == nil {
			t.Errorf("vendor %s has neither a scheme nor a mapping", v.Name)
		}
		for _, s := range v.Schemes {
			if schemes[s.Name] || s.Name == "" || s.New == nil {
				t.Errorf("vendor %s: scheme %q is unnamed, has no constructor, or is listed twice", v.Name, s.Name)
			}
			schemes[s.Name] = true
		}
		if m := v.Mapping; m != nil {
			if mappings[m.Name] || m.Map == nil {
				t.Errorf("vendor %s: mapping %q has no function or is listed twice", v.Name, m.Name)
			}
			mappings[m.Name] = true
			fixtures, _ := filepath.Glob(filepath.Join(v.Name, "testdata", "*.json"))
			if len(fixtures) == 0 {
				t.Errorf("vendor %s has a mapping but no fixture in %s/testdata", v.Name, v.Name)
			}
		}
	}
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(shared, e.Name()) && !listed[e.Name()] {
			t.Errorf("folder %s is not listed in All: config, ingest and transform will never see it", e.Name())
		}
	}
	if m := Mappings(); len(m) == 0 || m[len(m)-1].Detect != nil {
		t.Error("the last mapping auto tries must take every event (Detect nil)")
	}
	if _, ok := LookupScheme("svix"); !ok {
		t.Error("no svix scheme")
	}
}
