package deploy

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hookrelay/hookrelay/internal/config"
)

const chartDir = "helm/hookrelay"

// The image the kustomization and the chart install is pinned, the same
// version in both.
func TestImagePinned(t *testing.T) {
	chart := readYAML(t, filepath.Join(chartDir, "Chart.yaml"))[0]
	appVersion, _ := chart["appVersion"].(string)
	k := readYAML(t, filepath.Join("kubernetes", "kustomization.yaml"))[0]
	images, _ := k["images"].([]any)
	if len(images) != 1 {
		t.Fatalf("kustomization images = %v", images)
	}
	tag, _ := images[0].(map[string]any)["newTag"].(string)
	if tag == "" || tag == "latest" || tag != appVersion {
		t.Errorf("kustomize newTag %q, chart appVersion %q: want one pinned version in both", tag, appVersion)
	}
}

// helmTemplate renders the chart with helm, when it is installed (.ci/run
// installs it from the Go module proxy).
func helmTemplate(t *testing.T, set ...string) []map[string]any {
	t.Helper()
	helm, err := exec.LookPath("helm")
	if err != nil {
		t.Skip("SKIPPED: helm is not installed; .ci/run installs it (go install helm.sh/helm/v4/cmd/helm)")
	}
	args := []string{"template", "relay", chartDir}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var docs []map[string]any
	for _, doc := range decodeYAML(t, "helm template", out) {
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

func byKind(docs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		if d["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

// dig follows keys (and list indexes as ints) through decoded YAML.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestHelmChart(t *testing.T) {
	docs := helmTemplate(t)
	for _, kind := range []string{"Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} {
		if len(byKind(docs, kind)) == 0 {
			t.Errorf("the chart renders no %s", kind)
		}
	}
	if len(byKind(docs, "ServiceMonitor")) != 0 {
		t.Error("a ServiceMonitor by default: it needs the Prometheus Operator's CRDs")
	}
	// The configuration it installs passes check, its secrets unset.
	cm := byKind(docs, "ConfigMap")[0]
	raw, _ := dig(cm, "data", "hookrelay.yaml").(string)
	if _, err := config.Parse([]byte(raw), config.AllowUnset(), config.StrongSecrets()); err != nil {
		t.Errorf("the chart's hookrelay.yaml fails check: %v\n%s", err, raw)
	}
	dep := byKind(docs, "Deployment")[0]
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	if img, _ := dig(c, "image").(string); !strings.HasSuffix(img, ":"+readYAML(t, filepath.Join(chartDir, "Chart.yaml"))[0]["appVersion"].(string)) {
		t.Errorf("image %s: want the chart's appVersion as its tag", img)
	}
	if dig(c, "livenessProbe", "httpGet", "path") != "/healthz" || dig(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("probes: %v / %v", dig(c, "livenessProbe"), dig(c, "readinessProbe"))
	}
	if dig(dep, "spec", "template", "metadata", "annotations", "checksum/config") == nil {
		t.Error("onConfigChange restart: no checksum/config annotation to roll the pods")
	}

	// onConfigChange=reload keeps the pods and has each watch its file.
	docs = helmTemplate(t, "onConfigChange=reload", "serviceMonitor.enabled=true", "configAsSecret=true")
	dep = byKind(docs, "Deployment")[0]
	if dig(dep, "spec", "template", "metadata", "annotations", "checksum/config") != nil {
		t.Error("onConfigChange reload: the checksum annotation would restart the pods anyway")
	}
	args := dig(dep, "spec", "template", "spec", "containers", 0, "args")
	if !strings.Contains(strings.TrimSpace(yamlString(t, args)), "--watch-config=10s") {
		t.Errorf("onConfigChange reload: args %v lack --watch-config", args)
	}
	if len(byKind(docs, "ServiceMonitor")) != 1 || len(byKind(docs, "Secret")) != 1 || len(byKind(docs, "ConfigMap")) != 0 {
		t.Errorf("serviceMonitor.enabled and configAsSecret: kinds rendered %v", kinds(docs))
	}
}

func yamlString(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func kinds(docs []map[string]any) []any {
	var out []any
	for _, d := range docs {
		out = append(out, d["kind"])
	}
	return out
}
