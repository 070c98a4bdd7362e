package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limit is one window of a destination's rate ladder: at most Max requests in
// any interval of length Per.
type Limit struct {
	Per time.Duration `yaml:"per"`
	Max int           `yaml:"max"`
}

// Limits is a destination's ladder. In YAML it is a list of {per, max}, or a
// preset name: "teams" (Microsoft's documented per-URL ladder) or "none".
type Limits []Limit

// TeamsLimits is Microsoft's documented ladder per connector URL.
func TeamsLimits() Limits {
	return Limits{
		{Per: time.Second, Max: 4},
		{Per: 30 * time.Second, Max: 60},
		{Per: time.Hour, Max: 100},
		{Per: 2 * time.Hour, Max: 150},
		{Per: 24 * time.Hour, Max: 1800},
	}
}

// UnmarshalYAML accepts a preset name or a list of windows.
func (l *Limits) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "teams":
			*l = TeamsLimits()
		case "none":
			*l = Limits{}
		default:
			return fmt.Errorf("line %d: unknown limits preset %q (teams, none, or a list of {per, max})", n.Line, n.Value)
		}
		return nil
	}
	var list []Limit
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

// teamsHosts are the hosts of Teams connector and Workflows URLs.
var teamsHosts = []string{".webhook.office.com", ".logic.azure.com", ".powerplatform.com", ".powerautomate.com"}

// IsTeamsURL reports whether a URL is a Teams connector or Workflows URL.
func IsTeamsURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := "." + strings.ToLower(u.Hostname())
	for _, h := range teamsHosts {
		if strings.HasSuffix(host, h) {
			return true
		}
	}
	return false
}
