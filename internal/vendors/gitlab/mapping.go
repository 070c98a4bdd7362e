package gitlab

import (
	"fmt"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// GitLab names the event in X-Gitlab-Event ("Push Hook") and in the body's
// object_kind ("push", "merge_request", "pipeline").

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Header("X-Gitlab-Event") != "" || p.Str("object_kind") != ""
}

type gitlabPayload struct {
	ObjectKind mapping.Text `json:"object_kind"`
	Project    struct {
		PathWithNamespace mapping.Text `json:"path_with_namespace"`
		WebURL            mapping.Text `json:"web_url"`
	} `json:"project"`
	User struct {
		Name     mapping.Text `json:"name"`
		Username mapping.Text `json:"username"`
	} `json:"user"`

	// push, tag_push
	Ref               mapping.Text `json:"ref"`
	Before            mapping.Text `json:"before"`
	After             mapping.Text `json:"after"`
	UserName          mapping.Text `json:"user_name"`
	TotalCommitsCount int          `json:"total_commits_count"`
	Commits           []struct {
		ID      mapping.Text `json:"id"`
		Title   mapping.Text `json:"title"`
		Message mapping.Text `json:"message"`
		URL     mapping.Text `json:"url"`
		Author  struct {
			Name mapping.Text `json:"name"`
		} `json:"author"`
	} `json:"commits"`

	// merge_request, pipeline
	ObjectAttributes struct {
		ID           mapping.Text `json:"id"`
		IID          mapping.Text `json:"iid"`
		Title        mapping.Text `json:"title"`
		Description  mapping.Text `json:"description"`
		State        mapping.Text `json:"state"`
		Action       mapping.Text `json:"action"`
		URL          mapping.Text `json:"url"`
		SourceBranch mapping.Text `json:"source_branch"`
		TargetBranch mapping.Text `json:"target_branch"`
		Draft        bool         `json:"draft"`
		Ref          mapping.Text `json:"ref"`
		SHA          mapping.Text `json:"sha"`
		Status       mapping.Text `json:"status"`
		Source       mapping.Text `json:"source"`
		Duration     mapping.Text `json:"duration"` // seconds
	} `json:"object_attributes"`
	Builds []struct {
		Name   mapping.Text `json:"name"`
		Stage  mapping.Text `json:"stage"`
		Status mapping.Text `json:"status"`
	} `json:"builds"`
	Commit struct {
		Message mapping.Text `json:"message"`
	} `json:"commit"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var g gitlabPayload
	if err := mapping.Decode(ev, "gitlab", &g); err != nil {
		return mapping.Summary{}, err
	}
	kind := mapping.FirstText(g.ObjectKind, mapping.Text(strings.ToLower(strings.TrimSuffix(mapping.Header(ev, "X-Gitlab-Event"), " Hook"))))
	project := g.Project.PathWithNamespace.String()
	web := strings.TrimSuffix(g.Project.WebURL.String(), "/")
	oa := g.ObjectAttributes
	s := mapping.Summary{Subtitle: mapping.Subtitle("GitLab", strings.TrimSpace(kind+" "+oa.Action.String())), Severity: mapping.SeverityInfo}
	var f mapping.Facts
	var l mapping.Links
	switch kind {
	case "push", "tag_push":
		ref := strings.TrimPrefix(strings.TrimPrefix(g.Ref.String(), "refs/heads/"), "refs/tags/")
		n := max(g.TotalCommitsCount, len(g.Commits))
		s.Title = fmt.Sprintf("[%s] %s pushed %s to %s", project, mapping.FirstText(g.UserName, g.User.Name), mapping.Plural(n, "commit"), ref)
		if strings.Trim(g.After.String(), "0") == "" {
			s.Title = fmt.Sprintf("[%s] %s deleted %s", project, mapping.FirstText(g.UserName, g.User.Name), ref)
		}
		var lines []string
		for i, c := range g.Commits {
			if i == mapping.MaxListed {
				break
			}
			lines = append(lines, mapping.Short(string(c.ID))+" "+mapping.FirstText(c.Title, mapping.Text(mapping.FirstLine(c.Message.String())))+" — "+c.Author.Name.String())
		}
		s.Text = mapping.Bullets(mapping.Listed(lines, n))
		f.Add("Project", project)
		f.Add("Branch", ref)
		if web != "" && strings.Trim(g.Before.String(), "0") != "" && strings.Trim(g.After.String(), "0") != "" {
			l.Add("Compare changes", web+"/-/compare/"+g.Before.String()+"..."+g.After.String())
		}
	case "merge_request":
		action := mapping.FirstText(oa.Action, oa.State)
		s.Title = fmt.Sprintf("[%s] Merge request !%s %s: %s", project, oa.IID, gitlabVerb(action), oa.Title)
		s.Text = mapping.Cut(oa.Description.String(), mapping.MaxBodyText)
		f.Add("Author", g.User.Name.String())
		f.Add("Branch", oa.SourceBranch.String()+" → "+oa.TargetBranch.String())
		f.Add("State", oa.State.String())
		if oa.Draft {
			f.Add("Draft", "yes")
		}
		if action == "merge" {
			s.Severity = mapping.SeverityGood
		}
		l.Add("Open merge request !"+oa.IID.String(), oa.URL.String())
	case "pipeline":
		s.Title = fmt.Sprintf("[%s] Pipeline #%s %s on %s", project, oa.ID, oa.Status, oa.Ref)
		s.Severity = gitlabStatus(string(oa.Status))
		f.Add("Status", oa.Status.String())
		f.Add("Ref", oa.Ref.String())
		f.Add("Commit", mapping.Short(string(oa.SHA))+" "+mapping.FirstLine(g.Commit.Message.String()))
		f.Add("Duration", mapping.Seconds(oa.Duration))
		f.Add("Triggered by", strings.TrimSpace(oa.Source.String()+" · "+g.User.Name.String()))
		var failed []string
		for _, b := range g.Builds {
			if b.Status == "failed" {
				failed = append(failed, b.Stage.String()+": "+b.Name.String())
			}
		}
		if len(failed) > 0 {
			s.Text = "Failed jobs:\n" + mapping.Bullets(mapping.Listed(failed, len(failed)))
		}
		url := oa.URL.String()
		if url == "" && web != "" && oa.ID != "" {
			url = web + "/-/pipelines/" + oa.ID.String()
		}
		l.Add("Open pipeline #"+oa.ID.String(), url)
	default:
		s.Title = strings.TrimSpace(fmt.Sprintf("[%s] %s", project, strings.ReplaceAll(kind, "_", " ")))
		f.Add("User", g.User.Name.String())
	}
	if project == "" {
		s.Title = strings.TrimPrefix(s.Title, "[] ")
	}
	l.Add("Open "+project, web)
	s.Facts, s.Links = f, l
	return s, nil
}

// gitlabVerb turns a merge request action ("open", "merge") into words.
func gitlabVerb(action string) string {
	switch action {
	case "open":
		return "opened"
	case "close":
		return "closed"
	case "reopen":
		return "reopened"
	case "update":
		return "updated"
	case "merge":
		return "merged"
	}
	return action
}

func gitlabStatus(status string) mapping.Severity {
	switch status {
	case "success":
		return mapping.SeverityGood
	case "failed":
		return mapping.SeverityCritical
	case "canceled", "skipped", "manual":
		return mapping.SeverityWarning
	}
	return mapping.SeverityInfo
}
