// Package vendors is the registry of what hookrelay knows about each vendor.
// Each vendor is one folder beside this file owning all of it — its
// verification scheme, the header its delivery id travels in, its
// handshakes, how auto recognises its events, its mapping and its fixtures —
// and one entry in All. config (scheme and mapping names), ingest
// (verification, delivery ids, handshakes, kept headers) and transform
// (detection, mappings) read this registry and nothing vendor-specific.
//
// Adding a vendor is a folder and a line in All.
package vendors

import (
	"net/http"
	"slices"

	"github.com/hookrelay/hookrelay/internal/vendors/alertmanager"
	"github.com/hookrelay/hookrelay/internal/vendors/azuremonitor"
	"github.com/hookrelay/hookrelay/internal/vendors/generic"
	"github.com/hookrelay/hookrelay/internal/vendors/github"
	"github.com/hookrelay/hookrelay/internal/vendors/gitlab"
	"github.com/hookrelay/hookrelay/internal/vendors/grafana"
	"github.com/hookrelay/hookrelay/internal/vendors/graph"
	"github.com/hookrelay/hookrelay/internal/vendors/handshake"
	"github.com/hookrelay/hookrelay/internal/vendors/jenkins"
	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/internal/vendors/pagerduty"
	"github.com/hookrelay/hookrelay/internal/vendors/sentry"
	"github.com/hookrelay/hookrelay/internal/vendors/slack"
	"github.com/hookrelay/hookrelay/internal/vendors/standardwebhooks"
	"github.com/hookrelay/hookrelay/internal/vendors/svix"
	"github.com/hookrelay/hookrelay/internal/vendors/teams"
	"github.com/hookrelay/hookrelay/internal/vendors/verify"
	"github.com/hookrelay/hookrelay/internal/vendors/zendesk"
)

// Vendor is everything hookrelay knows about one vendor.
type Vendor struct {
	// Name is the vendor's folder.
	Name string
	// Schemes are the verification schemes a source may name for it.
	Schemes []Scheme
	// Headers are request headers worth keeping with its events: they name
	// the event or its delivery, and mappings read them.
	Headers []string
	// Credentials are headers that carry its secrets or signatures, never
	// stored even when a source names one as its delivery id header.
	Credentials []string
	// Mapping is its built-in mapping; nil: it has none.
	Mapping *mapping.Mapping
}

// Scheme is a verification scheme: how ingest verifies a source that names
// it, and what ingest answers in the vendor's stead.
type Scheme struct {
	// Name is what a source's verify.scheme says.
	Name string
	// New builds the scheme's verifier from a source's settings. An unusable
	// setting is an error, never a verifier that accepts everything.
	New func(verify.Settings) (verify.Verifier, error)
	// DeliveryIDHeaders name the headers in which the vendor sends the id
	// that stays the same across its retries, the first one present wins;
	// none: the source's delivery_id_header (default X-Request-Id).
	DeliveryIDHeaders []string
	// BodyDeliveryID reads from a verified body the id the vendor repeats on
	// each retry, for a vendor that sends it in no header (Slack's
	// event_id); "" when the body has none. Nil: none.
	BodyDeliveryID func(body []byte) string
	// Unverified answers a handshake that carries no credential, before the
	// body is read (Graph's validationToken). Nil: none.
	Unverified func(r *http.Request) (handshake.Reply, bool)
	// Verified answers a handshake once the request is verified, instead of
	// storing it (Slack's url_verification and ssl_check). Nil: none.
	Verified func(r *http.Request, body []byte) (handshake.Reply, bool)
	// Notice names a verified request that is a handshake, not news: it is
	// stored and answered like any event, marked so that transform sends it
	// to no channel unless the source asks for it (GitHub's ping). "" for
	// news. Nil: none.
	Notice func(h http.Header, body []byte) string
	// Accepted is the answer once the event is stored (a Teams outgoing
	// webhook's reply to the channel). Nil: 202 {"id": …}.
	Accepted func(id string, duplicate bool) handshake.Reply
}

// All lists every vendor, in the order mapping auto tries their mappings:
// vendors that say who they are in a header first, then body shapes from
// the most to the least specific; generic comes last and takes everything.
func All() []Vendor {
	return []Vendor{
		{
			Name: "github",
			Schemes: []Scheme{{Name: github.Scheme, New: github.NewVerifier,
				DeliveryIDHeaders: []string{github.DeliveryIDHeader}, Notice: github.Notice}},
			Headers:     []string{github.EventHeader, github.DeliveryIDHeader, "X-GitHub-Hook-ID"},
			Credentials: []string{"X-Hub-Signature", "X-Hub-Signature-256"},
			Mapping:     &mapping.Mapping{Name: "github", Detect: github.Detect, Map: github.Map},
		},
		{
			Name: "gitlab",
			Schemes: []Scheme{{Name: gitlab.Scheme, New: gitlab.NewVerifier,
				DeliveryIDHeaders: []string{gitlab.DeliveryIDHeader}}},
			Headers: []string{"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID", "X-Gitlab-Instance",
				gitlab.DeliveryIDHeader},
			Credentials: []string{"X-Gitlab-Token"},
			Mapping:     &mapping.Mapping{Name: "gitlab", Detect: gitlab.Detect, Map: gitlab.Map},
		},
		{
			Name:        "sentry",
			Schemes:     []Scheme{{Name: sentry.Scheme, New: sentry.NewVerifier}},
			Headers:     []string{"Sentry-Hook-Resource"},
			Credentials: []string{"Sentry-Hook-Signature"},
			Mapping:     &mapping.Mapping{Name: "sentry", Detect: sentry.Detect, Map: sentry.Map},
		},
		{
			Name:    "azuremonitor",
			Mapping: &mapping.Mapping{Name: "azure-monitor", Detect: azuremonitor.Detect, Map: azuremonitor.Map},
		},
		{
			Name:        "pagerduty",
			Schemes:     []Scheme{{Name: pagerduty.Scheme, New: pagerduty.NewVerifier}},
			Credentials: []string{"X-PagerDuty-Signature"},
			Mapping:     &mapping.Mapping{Name: "pagerduty", Detect: pagerduty.Detect, Map: pagerduty.Map},
		},
		{
			Name: "zendesk",
			Schemes: []Scheme{{Name: zendesk.Scheme, New: zendesk.NewVerifier,
				DeliveryIDHeaders: []string{zendesk.DeliveryIDHeader}}},
			Headers:     []string{"X-Zendesk-Webhook-Id", zendesk.DeliveryIDHeader},
			Credentials: []string{"X-Zendesk-Webhook-Signature"},
			Mapping:     &mapping.Mapping{Name: "zendesk", Detect: zendesk.Detect, Map: zendesk.Map},
		},
		{
			Name:        "grafana",
			Schemes:     []Scheme{{Name: grafana.Scheme, New: grafana.NewVerifier}},
			Credentials: []string{"X-Grafana-Alerting-Signature"},
			Mapping:     &mapping.Mapping{Name: "grafana", Detect: grafana.Detect, Map: grafana.Map},
		},
		{
			Name:    "alertmanager",
			Mapping: &mapping.Mapping{Name: "alertmanager", Detect: alertmanager.Detect, Map: alertmanager.Map},
		},
		{
			Name:    "jenkins",
			Mapping: &mapping.Mapping{Name: "jenkins", Detect: jenkins.Detect, Map: jenkins.Map},
		},
		{
			Name:    "teams",
			Schemes: []Scheme{{Name: teams.Scheme, New: teams.NewVerifier, Accepted: teams.Accepted}},
			Mapping: &mapping.Mapping{Name: "teams", Detect: teams.Detect, Map: teams.Map},
		},
		{
			Name: "slack",
			Schemes: []Scheme{{Name: slack.Scheme, New: slack.NewVerifier, BodyDeliveryID: slack.EventID,
				Unverified: slack.SSLCheck, Verified: slack.Answer}},
			Headers:     []string{"X-Slack-Retry-Num"},
			Credentials: []string{"X-Slack-Signature"},
		},
		{
			Name: "standardwebhooks",
			Schemes: []Scheme{{Name: standardwebhooks.Scheme,
				New: func(s verify.Settings) (verify.Verifier, error) {
					// Svix is Standard Webhooks under its own header names.
					return standardwebhooks.NewVerifier(s, standardwebhooks.StandardHeaders(), svix.DefaultHeaders())
				},
				DeliveryIDHeaders: standardwebhooks.DeliveryIDHeaders(standardwebhooks.StandardHeaders(), svix.DefaultHeaders()),
			}},
			Headers:     []string{standardwebhooks.StandardHeaders().ID, standardwebhooks.StandardHeaders().Timestamp},
			Credentials: []string{standardwebhooks.StandardHeaders().Signature},
		},
		{
			Name: "svix",
			Schemes: []Scheme{{Name: svix.Scheme, New: svix.NewVerifier,
				DeliveryIDHeaders: standardwebhooks.DeliveryIDHeaders(svix.DefaultHeaders(), standardwebhooks.StandardHeaders())}},
			Headers:     []string{svix.DefaultHeaders().ID, svix.DefaultHeaders().Timestamp},
			Credentials: []string{svix.DefaultHeaders().Signature},
		},
		{
			Name:    "graph",
			Schemes: []Scheme{{Name: graph.Scheme, New: graph.NewVerifier, Unverified: graph.Validate}},
		},
		{
			Name: "generic",
			Schemes: []Scheme{
				{Name: generic.SchemeToken, New: generic.NewToken},
				{Name: generic.SchemeBasic, New: generic.NewBasic},
				{Name: generic.SchemeHMAC, New: generic.NewHMAC},
			},
			Headers:     []string{"User-Agent", "Idempotency-Key", "X-Event-Type", "X-Event-Key"},
			Credentials: []string{"Authorization", "Proxy-Authorization", "Cookie"},
			Mapping:     &mapping.Mapping{Name: generic.Name, Map: generic.Map},
		},
	}
}

// LookupScheme returns the verification scheme called name.
func LookupScheme(name string) (Scheme, bool) {
	for _, v := range All() {
		for _, s := range v.Schemes {
			if s.Name == name {
				return s, true
			}
		}
	}
	return Scheme{}, false
}

// SchemeNames lists every verification scheme's name, sorted.
func SchemeNames() []string {
	var names []string
	for _, v := range All() {
		for _, s := range v.Schemes {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Mappings lists the built-in mappings in the order auto tries them.
func Mappings() []mapping.Mapping {
	var out []mapping.Mapping
	for _, v := range All() {
		if v.Mapping != nil {
			out = append(out, *v.Mapping)
		}
	}
	return out
}

// LookupMapping returns the built-in mapping called name.
func LookupMapping(name string) (mapping.Mapping, bool) {
	for _, m := range Mappings() {
		if m.Name == name {
			return m, true
		}
	}
	return mapping.Mapping{}, false
}

// Headers lists every vendor's headers worth keeping with events.
func Headers() []string {
	var out []string
	for _, v := range All() {
		out = append(out, v.Headers...)
	}
	return out
}

// Credentials lists every vendor's credential headers, never stored.
func Credentials() []string {
	var out []string
	for _, v := range All() {
		out = append(out, v.Credentials...)
	}
	return out
}
