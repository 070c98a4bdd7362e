// Package nodetest runs the vendors' and Microsoft's own JavaScript libraries
// (tools/vendorjs: svix, standardwebhooks, @octokit/webhooks-methods,
// @slack/bolt, adaptivecards) from Go tests, exchanging JSON on stdin and
// stdout. .ci/install-node-tools installs Node and the libraries; without
// them a test skips loudly, and fails under CI=true.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// timeout bounds one script run; loading the libraries takes about a second.
const timeout = 2 * time.Minute

// Dir returns tools/vendorjs, or skips (fails in CI) when Node or the
// installed libraries are missing.
func Dir(t testing.TB) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing in CI: .ci/install-node-tools should have installed it", what)
		}
		t.Skipf("!!! SKIPPING A TEST THAT USES THE VENDORS' OWN LIBRARIES: %s is missing (run .ci/install-node-tools) !!!", what)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("find the repository root: %v", err)
	}
	dir := filepath.Join(root, "tools", "vendorjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		missing(filepath.Join(dir, "node_modules"))
	}
	return dir
}

// Run runs the script tools/vendorjs/<script> with in as JSON on stdin and
// decodes its stdout into out.
func Run(t testing.TB, script string, in, out any) {
	t.Helper()
	dir := Dir(t)
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("encode input of %s: %v", script, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, script))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("node %s printed no JSON: %v\n%s", script, err, stdout.Bytes())
	}
}

// repoRoot is the nearest directory above the working directory that holds
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
