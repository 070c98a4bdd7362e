package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/telemetry"
)

// repoRoot is where docker-compose.yml lives, seen from this package.
const repoRoot = ".."

// readYAML decodes every document of a YAML file.
func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeYAML(t, path, raw)
}

// decodeYAML decodes every document of raw, which errors call name.
func decodeYAML(t *testing.T, name string, raw []byte) []map[string]any {
	t.Helper()
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs = append(docs, doc)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestEveryFileParses(t *testing.T) {
	files := []string{filepath.Join(repoRoot, "docker-compose.yml")}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "templates" {
			return filepath.SkipDir // Helm templates: TestHelmChart renders them
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found only %d YAML/JSON files: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if filepath.Ext(f) == ".json" {
				var v any
				readJSON(t, f, &v)
				return
			}
			if docs := readYAML(t, f); len(docs) == 0 {
				t.Errorf("%s holds no YAML document", f)
			}
		})
	}
}

var metricRef = regexp.MustCompile(`\bhookrelay_[a-z0-9_]+`)

// metricsIn returns the hookrelay metric families a PromQL expression uses,
// with histogram series suffixes removed, and the names it uses that no
// family has.
func metricsIn(expr string) (used, unknown []string) {
	families := telemetry.Families()
	for _, name := range metricRef.FindAllString(expr, -1) {
		family := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(families, base) {
				family = base
			}
		}
		if slices.Contains(families, family) {
			used = append(used, family)
		} else {
			unknown = append(unknown, name)
		}
	}
	return used, unknown
}

func TestMetricsIn(t *testing.T) {
	tests := []struct {
		expr          string
		used, unknown []string
	}{
		{`rate(hookrelay_deliveries_total[5m])`, []string{telemetry.MetricDeliveries}, nil},
		{`sum by (le) (rate(hookrelay_delivery_duration_seconds_bucket[1m]))`, []string{telemetry.MetricDeliveryDuration}, nil},
		{`hookrelay_deliveries_count`, nil, []string{"hookrelay_deliveries_count"}},
		{`up == 0`, nil, nil},
	}
	for _, tt := range tests {
		used, unknown := metricsIn(tt.expr)
		if !slices.Equal(used, tt.used) || !slices.Equal(unknown, tt.unknown) {
			t.Errorf("metricsIn(%q) = %v, %v; want %v, %v", tt.expr, used, unknown, tt.used, tt.unknown)
		}
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource any    `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	var dash struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	readJSON(t, filepath.Join("grafana", "hookrelay-dashboard.json"), &dash)
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard needs a uid and a title, has %q %q", dash.UID, dash.Title)
	}
	seen := map[string]bool{}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if other, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 || p.Datasource == nil {
				t.Errorf("panel %q has no query or no datasource", p.Title)
			}
			for _, tg := range p.Targets {
				used, unknown := metricsIn(tg.Expr)
				if len(unknown) > 0 {
					t.Errorf("panel %q uses metrics hookrelay does not export: %v", p.Title, unknown)
				}
				if len(used) == 0 {
					t.Errorf("panel %q: query %q uses no hookrelay metric", p.Title, tg.Expr)
				}
				for _, m := range used {
					seen[m] = true
				}
			}
		}
	}
	walk(dash.Panels)
	for _, f := range telemetry.Families() {
		if !seen[f] {
			t.Errorf("no dashboard panel shows %s", f)
		}
	}
}

func TestAlertRules(t *testing.T) {
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile(filepath.Join("prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	// Each required alert and the metric it must watch.
	want := map[string]string{
		"HookrelayBreakerOpen":        telemetry.MetricBreakerState,
		"HookrelayDeadLettersGrowing": telemetry.MetricDeadLetters,
		"HookrelayIngest5xx":          telemetry.MetricIngestRequests,
		"HookrelayBacklogOld":         telemetry.MetricBacklogAge,
		"HookrelayConfigReloadFailed": telemetry.MetricReloadSuccessful,
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			used, unknown := metricsIn(r.Expr)
			if len(unknown) > 0 {
				t.Errorf("alert %s uses metrics hookrelay does not export: %v", r.Alert, unknown)
			}
			if len(used) == 0 {
				t.Errorf("alert %s uses no hookrelay metric", r.Alert)
			}
			if d, err := time.ParseDuration(r.For); err != nil || d <= 0 {
				t.Errorf("alert %s: for %q is not a positive duration", r.Alert, r.For)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s needs a severity label and a summary annotation", r.Alert)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("alert %s: unbalanced parentheses in %q", r.Alert, r.Expr)
			}
			if m, ok := want[r.Alert]; ok {
				if !slices.Contains(used, m) {
					t.Errorf("alert %s does not watch %s: %q", r.Alert, m, r.Expr)
				}
				delete(want, r.Alert)
			}
			if r.Alert == "HookrelayBreakerOpen" {
				if d, _ := time.ParseDuration(r.For); d != 5*time.Minute {
					t.Errorf("breaker alert fires after %v, want 5m", d)
				}
			}
		}
	}
	for name := range want {
		t.Errorf("alert %s is missing", name)
	}
}

// TestConfigsLoad checks that the configurations shipped for compose and
// Kubernetes are valid hookrelay configurations.
func TestConfigsLoad(t *testing.T) {
	tests := []struct {
		path     string
		env      map[string]string
		replicas int
	}{
		{filepath.Join("compose", "hookrelay.yaml"), map[string]string{
			"ZENDESK_SECRET": "s1", "GENERIC_TOKEN": "s2", "HOOKRELAY_ADMIN_TOKEN": "t",
			"TEAMS_OPS_URL": "http://teams-sim:9090/a?sig=x", "TEAMS_ENG_URL": "http://teams-sim:9090/b",
		}, 3},
		{filepath.Join("kubernetes", "hookrelay.yaml"), map[string]string{
			"ZENDESK_SECRET": "s1", "TEAMS_OPS_URL": "https://example.logic.azure.com/workflows/a?sig=x",
			"HOOKRELAY_ADMIN_TOKEN": "t",
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := config.Load(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NATS.URL == "" || cfg.NATS.Replicas != tt.replicas {
				t.Errorf("nats = %+v, want an external cluster with %d replicas", cfg.NATS, tt.replicas)
			}
			if cfg.AdminToken == "" {
				t.Error("no admin_token: serve refuses an admin listener off loopback without one")
			}
			if !strings.HasSuffix(cfg.AdminListen, ":8081") || !strings.HasSuffix(cfg.Listen, ":8080") {
				t.Errorf("listeners %s, %s: the manifests expect ingest on 8080 and admin on 8081", cfg.Listen, cfg.AdminListen)
			}
		})
	}
}

func TestCompose(t *testing.T) {
	docs := readYAML(t, filepath.Join(repoRoot, "docker-compose.yml"))
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Profiles    []string          `yaml:"profiles"`
		} `yaml:"services"`
	}
	raw, _ := yaml.Marshal(docs[0])
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3", "hookrelay-1", "hookrelay-2", "teams-sim",
		"otel-collector", "jaeger", "prometheus", "grafana", "kafka"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
		if strings.HasPrefix(name, "nats-") && !slices.Contains(s.Command, "--jetstream") {
			t.Errorf("%s runs without JetStream: %v", name, s.Command)
		}
		if strings.HasPrefix(name, "hookrelay-") && s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" {
			t.Errorf("%s exports no traces", name)
		}
	}
	if s := compose.Services["teams-sim"]; !slices.Equal(s.Command, []string{"teams-sim", "--listen", "0.0.0.0:9090"}) {
		t.Errorf("teams-sim command = %v", s.Command)
	}
	if s := compose.Services["kafka"]; !slices.Equal(s.Profiles, []string{"kafka"}) {
		t.Errorf("kafka profiles = %v, want only under the kafka profile", s.Profiles)
	}
	prom := readYAML(t, filepath.Join("compose", "prometheus.yml"))[0]
	raw, _ = json.Marshal(prom)
	for _, target := range []string{"hookrelay-1:8081", "hookrelay-2:8081"} {
		if !bytes.Contains(raw, []byte(target)) {
			t.Errorf("prometheus.yml does not scrape %s", target)
		}
	}
}

func TestKubernetes(t *testing.T) {
	k := readYAML(t, filepath.Join("kubernetes", "kustomization.yaml"))[0]
	var refs []string
	for _, r := range k["resources"].([]any) {
		refs = append(refs, r.(string))
	}
	for _, g := range k["configMapGenerator"].([]any) {
		for _, f := range g.(map[string]any)["files"].([]any) {
			refs = append(refs, f.(string))
		}
	}
	for _, r := range refs {
		if _, err := os.Stat(filepath.Join("kubernetes", r)); err != nil {
			t.Errorf("kustomization names %s: %v", r, err)
		}
	}

	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot bool `yaml:"runAsNonRoot"`
					} `yaml:"securityContext"`
					Containers []struct {
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
						LivenessProbe  probe `yaml:"livenessProbe"`
						ReadinessProbe probe `yaml:"readinessProbe"`
						Resources      struct {
							Requests map[string]string `yaml:"requests"`
							Limits   map[string]string `yaml:"limits"`
						} `yaml:"resources"`
						EnvFrom []struct {
							SecretRef struct {
								Name string `yaml:"name"`
							} `yaml:"secretRef"`
						} `yaml:"envFrom"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	raw, _ := yaml.Marshal(readYAML(t, filepath.Join("kubernetes", "deployment.yaml"))[0])
	if err := yaml.Unmarshal(raw, &dep); err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || len(pod.Containers) != 1 {
		t.Fatalf("pod: runAsNonRoot %v, %d containers", pod.SecurityContext.RunAsNonRoot, len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["ingest"] != 8080 || ports["admin"] != 8081 {
		t.Errorf("ports = %v, want ingest 8080 and admin 8081", ports)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != "admin" {
		t.Errorf("liveness probe = %+v, want /healthz on admin", c.LivenessProbe.HTTPGet)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port != "admin" {
		t.Errorf("readiness probe = %+v, want /readyz on admin", c.ReadinessProbe.HTTPGet)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	if len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef.Name == "" {
		t.Error("the container takes no secrets from a Secret")
	}

	// kubectl builds the kustomization offline when it is installed.
	if _, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command("kubectl", "kustomize", "kubernetes").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		for _, kind := range []string{"kind: Deployment", "kind: Service", "kind: ConfigMap", "kind: PodDisruptionBudget"} {
			if !bytes.Contains(out, []byte(kind)) {
				t.Errorf("kustomize output has no %s", kind)
			}
		}
	}
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestNATSValues(t *testing.T) {
	v := readYAML(t, filepath.Join("nats", "values.yaml"))[0]
	cfg := v["config"].(map[string]any)
	cluster := cfg["cluster"].(map[string]any)
	js := cfg["jetstream"].(map[string]any)
	fileStore := js["fileStore"].(map[string]any)
	if cluster["enabled"] != true || cluster["replicas"] != 3 || js["enabled"] != true || fileStore["enabled"] != true {
		t.Errorf("values: cluster %v, jetstream %v: want 3 replicas with JetStream on file storage", cluster, js)
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(s, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final image %s: want distroless/static or scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/hookrelay", "USER 65532"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
