package transform

import (
	"fmt"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// GitLab names the event in X-Gitlab-Event ("Push Hook") and in the body's
// object_kind ("push", "merge_request", "pipeline").

func isGitLab(p probe) bool {
	return p.header("X-Gitlab-Event") != "" || p.str("object_kind") != ""
}

type gitlabPayload struct {
	ObjectKind text `json:"object_kind"`
	Project    struct {
		PathWithNamespace text `json:"path_with_namespace"`
		WebURL            text `json:"web_url"`
	} `json:"project"`
	User struct {
		Name     text `json:"name"`
		Username text `json:"username"`
	} `json:"user"`

	// push, tag_push
	Ref               text `json:"ref"`
	Before            text `json:"before"`
	After             text `json:"after"`
	UserName          text `json:"user_name"`
	TotalCommitsCount int  `json:"total_commits_count"`
	Commits           []struct {
		ID      text `json:"id"`
		Title   text `json:"title"`
		Message text `json:"message"`
		URL     text `json:"url"`
		Author  struct {
			Name text `json:"name"`
		} `json:"author"`
	} `json:"commits"`

	// merge_request, pipeline
	ObjectAttributes struct {
		ID           text `json:"id"`
		IID          text `json:"iid"`
		Title        text `json:"title"`
		Description  text `json:"description"`
		State        text `json:"state"`
		Action       text `json:"action"`
		URL          text `json:"url"`
		SourceBranch text `json:"source_branch"`
		TargetBranch text `json:"target_branch"`
		Draft        bool `json:"draft"`
		Ref          text `json:"ref"`
		SHA          text `json:"sha"`
		Status       text `json:"status"`
		Source       text `json:"source"`
		Duration     text `json:"duration"` // seconds
	} `json:"object_attributes"`
	Builds []struct {
		Name   text `json:"name"`
		Stage  text `json:"stage"`
		Status text `json:"status"`
	} `json:"builds"`
	Commit struct {
		Message text `json:"message"`
	} `json:"commit"`
}

func mapGitLab(ev schemas.Event) (Summary, error) {
	var g gitlabPayload
	if err := decode(ev, "gitlab", &g); err != nil {
		return Summary{}, err
	}
	kind := firstText(g.ObjectKind, text(strings.ToLower(strings.TrimSuffix(header(ev, "X-Gitlab-Event"), " Hook"))))
	project := g.Project.PathWithNamespace.String()
	web := strings.TrimSuffix(g.Project.WebURL.String(), "/")
	oa := g.ObjectAttributes
	s := Summary{Subtitle: subtitle("GitLab", strings.TrimSpace(kind+" "+oa.Action.String())), Severity: SeverityInfo}
	var f facts
	var l links
	switch kind {
	case "push", "tag_push":
		ref := strings.TrimPrefix(strings.TrimPrefix(g.Ref.String(), "refs/heads/"), "refs/tags/")
		n := max(g.TotalCommitsCount, len(g.Commits))
		s.Title = fmt.Sprintf("[%s] %s pushed %s to %s", project, firstText(g.UserName, g.User.Name), plural(n, "commit"), ref)
		if strings.Trim(g.After.String(), "0") == "" {
			s.Title = fmt.Sprintf("[%s] %s deleted %s", project, firstText(g.UserName, g.User.Name), ref)
		}
		var lines []string
		for i, c := range g.Commits {
			if i == maxListed {
				break
			}
			lines = append(lines, short(string(c.ID))+" "+firstText(c.Title, text(firstLine(c.Message.String())))+" — "+c.Author.Name.String())
		}
		s.Text = bullets(listed(lines, n))
		f.add("Project", project)
		f.add("Branch", ref)
		if web != "" && strings.Trim(g.Before.String(), "0") != "" && strings.Trim(g.After.String(), "0") != "" {
			l.add("Compare changes", web+"/-/compare/"+g.Before.String()+"..."+g.After.String())
		}
	case "merge_request":
		action := firstText(oa.Action, oa.State)
		s.Title = fmt.Sprintf("[%s] Merge request !%s %s: %s", project, oa.IID, gitlabVerb(action), oa.Title)
		s.Text = cut(oa.Description.String(), maxBodyText)
		f.add("Author", g.User.Name.String())
		f.add("Branch", oa.SourceBranch.String()+" → "+oa.TargetBranch.String())
		f.add("State", oa.State.String())
		if oa.Draft {
			f.add("Draft", "yes")
		}
		if action == "merge" {
			s.Severity = SeverityGood
		}
		l.add("Open merge request !"+oa.IID.String(), oa.URL.String())
	case "pipeline":
		s.Title = fmt.Sprintf("[%s] Pipeline #%s %s on %s", project, oa.ID, oa.Status, oa.Ref)
		s.Severity = gitlabStatus(string(oa.Status))
		f.add("Status", oa.Status.String())
		f.add("Ref", oa.Ref.String())
		f.add("Commit", short(string(oa.SHA))+" "+firstLine(g.Commit.Message.String()))
		f.add("Duration", seconds(oa.Duration))
		f.add("Triggered by", strings.TrimSpace(oa.Source.String()+" · "+g.User.Name.String()))
		var failed []string
		for _, b := range g.Builds {
			if b.Status == "failed" {
				failed = append(failed, b.Stage.String()+": "+b.Name.String())
			}
		}
		if len(failed) > 0 {
			s.Text = "Failed jobs:\n" + bullets(listed(failed, len(failed)))
		}
		url := oa.URL.String()
		if url == "" && web != "" && oa.ID != "" {
			url = web + "/-/pipelines/" + oa.ID.String()
		}
		l.add("Open pipeline #"+oa.ID.String(), url)
	default:
		s.Title = strings.TrimSpace(fmt.Sprintf("[%s] %s", project, strings.ReplaceAll(kind, "_", " ")))
		f.add("User", g.User.Name.String())
	}
	if project == "" {
		s.Title = strings.TrimPrefix(s.Title, "[] ")
	}
	l.add("Open "+project, web)
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

func gitlabStatus(status string) Severity {
	switch status {
	case "success":
		return SeverityGood
	case "failed":
		return SeverityCritical
	case "canceled", "skipped", "manual":
		return SeverityWarning
	}
	return SeverityInfo
}
