package github

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hookrelay/hookrelay/internal/vendors/mapping"
	"github.com/hookrelay/hookrelay/schemas"
)

// GitHub names the event in the X-GitHub-Event header (ingest stores it); a
// body posted without it is recognised by shape.

// Detect reports whether an event is this vendor's, for mapping auto.
func Detect(p mapping.Probe) bool {
	return p.Header("X-GitHub-Event") != "" || (p.Has("repository", "sender") && githubEventOf(p) != "")
}

// githubEventOf names the event from the header, else from the body's shape.
func githubEventOf(p mapping.Probe) string {
	if e := p.Header("X-GitHub-Event"); e != "" {
		return e
	}
	switch {
	case p.Has("pusher", "commits"):
		return "push"
	case p.Has("pull_request"):
		return "pull_request"
	case p.Has("workflow_run"):
		return "workflow_run"
	case p.Has("check_run"):
		return "check_run"
	case p.Has("release"):
		return "release"
	case p.Has("issue") && !p.Has("comment"):
		return "issues"
	case p.Has("zen", "hook_id"):
		return "ping"
	}
	return ""
}

type githubUser struct {
	Login mapping.Text `json:"login"`
	Name  mapping.Text `json:"name"`
}

type githubPayload struct {
	Action     mapping.Text `json:"action"`
	Repository struct {
		FullName mapping.Text `json:"full_name"`
		HTMLURL  mapping.Text `json:"html_url"`
	} `json:"repository"`
	Sender githubUser `json:"sender"`
	// Workflow names a workflow_run's workflow when the run does not.
	Workflow struct {
		Name mapping.Text `json:"name"`
	} `json:"workflow"`

	// push
	Ref     mapping.Text `json:"ref"`
	Compare mapping.Text `json:"compare"`
	Forced  bool         `json:"forced"`
	Created bool         `json:"created"`
	Deleted bool         `json:"deleted"`
	Pusher  githubUser   `json:"pusher"`
	Commits []struct {
		ID      mapping.Text `json:"id"`
		Message mapping.Text `json:"message"`
		URL     mapping.Text `json:"url"`
		Author  struct {
			Name     mapping.Text `json:"name"`
			Username mapping.Text `json:"username"`
		} `json:"author"`
	} `json:"commits"`

	PullRequest *struct {
		githubItem
		Merged       bool `json:"merged"`
		Draft        bool `json:"draft"`
		Additions    int  `json:"additions"`
		Deletions    int  `json:"deletions"`
		ChangedFiles int  `json:"changed_files"`
		Head         struct {
			Ref mapping.Text `json:"ref"`
		} `json:"head"`
		Base struct {
			Ref mapping.Text `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Issue *githubItem `json:"issue"`

	WorkflowRun *struct {
		Name         mapping.Text `json:"name"`
		DisplayTitle mapping.Text `json:"display_title"`
		RunNumber    mapping.Text `json:"run_number"`
		RunAttempt   int          `json:"run_attempt"`
		Event        mapping.Text `json:"event"`
		Status       mapping.Text `json:"status"`
		Conclusion   mapping.Text `json:"conclusion"`
		HeadBranch   mapping.Text `json:"head_branch"`
		HeadSHA      mapping.Text `json:"head_sha"`
		HTMLURL      mapping.Text `json:"html_url"`
		StartedAt    mapping.Text `json:"run_started_at"`
		UpdatedAt    mapping.Text `json:"updated_at"`
		Actor        githubUser   `json:"actor"`
	} `json:"workflow_run"`

	CheckRun *struct {
		Name       mapping.Text `json:"name"`
		Status     mapping.Text `json:"status"`
		Conclusion mapping.Text `json:"conclusion"`
		HTMLURL    mapping.Text `json:"html_url"`
		DetailsURL mapping.Text `json:"details_url"`
		HeadSHA    mapping.Text `json:"head_sha"`
		StartedAt  mapping.Text `json:"started_at"`
		DoneAt     mapping.Text `json:"completed_at"`
		App        struct {
			Name mapping.Text `json:"name"`
		} `json:"app"`
		CheckSuite struct {
			HeadBranch mapping.Text `json:"head_branch"`
		} `json:"check_suite"`
		Output struct {
			Title   mapping.Text `json:"title"`
			Summary mapping.Text `json:"summary"`
		} `json:"output"`
	} `json:"check_run"`

	Release *struct {
		TagName    mapping.Text `json:"tag_name"`
		Name       mapping.Text `json:"name"`
		HTMLURL    mapping.Text `json:"html_url"`
		Body       mapping.Text `json:"body"`
		Prerelease bool         `json:"prerelease"`
		Draft      bool         `json:"draft"`
		Author     githubUser   `json:"author"`
	} `json:"release"`
}

// githubItem is what issues and pull requests share.
type githubItem struct {
	Number    mapping.Text                  `json:"number"`
	Title     mapping.Text                  `json:"title"`
	Body      mapping.Text                  `json:"body"`
	State     mapping.Text                  `json:"state"`
	HTMLURL   mapping.Text                  `json:"html_url"`
	User      githubUser                    `json:"user"`
	Labels    []struct{ Name mapping.Text } `json:"labels"`
	Assignees []githubUser                  `json:"assignees"`
	Milestone *struct{ Title mapping.Text } `json:"milestone"`
}

// Map maps an event to a mapping.Summary.
func Map(ev schemas.Event) (mapping.Summary, error) {
	var g githubPayload
	if err := mapping.Decode(ev, "github", &g); err != nil {
		return mapping.Summary{}, err
	}
	event := githubEventOf(mapping.NewProbe(ev))
	repo := g.Repository.FullName.String()
	s := mapping.Summary{Subtitle: mapping.Subtitle("GitHub", strings.TrimSpace(event+" "+g.Action.String())), Severity: mapping.SeverityInfo}
	var f mapping.Facts
	var l mapping.Links
	switch {
	case event == "push":
		// A push names a branch (refs/heads/…) or a tag (refs/tags/…); the
		// card says which.
		refKind, branch, label := "", strings.TrimPrefix(g.Ref.String(), "refs/heads/"), "Branch"
		if tag, ok := strings.CutPrefix(g.Ref.String(), "refs/tags/"); ok {
			refKind, branch, label = "tag ", tag, "Tag"
		}
		who := mapping.FirstText(g.Pusher.Name, g.Sender.Login)
		switch {
		case g.Deleted:
			s.Title = fmt.Sprintf("[%s] %s deleted %s%s", repo, who, refKind, branch)
		case len(g.Commits) == 0 && g.Created:
			s.Title = fmt.Sprintf("[%s] %s created %s%s", repo, who, refKind, branch)
		default:
			s.Title = fmt.Sprintf("[%s] %s pushed %s to %s%s", repo, who, mapping.Plural(len(g.Commits), "commit"), refKind, branch)
		}
		if g.Forced {
			s.Title += " (force-push)"
			s.Severity = mapping.SeverityWarning
		}
		var lines []string
		for i, c := range g.Commits {
			if i == mapping.MaxListed {
				break
			}
			lines = append(lines, mapping.Short(string(c.ID))+" "+mapping.FirstLine(c.Message.String())+" — "+mapping.FirstText(c.Author.Name, c.Author.Username))
		}
		s.Text = mapping.Bullets(mapping.Listed(lines, len(g.Commits)))
		f.Add("Repository", repo)
		f.Add(label, branch)
		l.Add("Compare changes", g.Compare.String())
	case event == "pull_request" && g.PullRequest != nil:
		pr := g.PullRequest
		action := g.Action.String()
		if action == "closed" && pr.Merged {
			action, s.Severity = "merged", mapping.SeverityGood
		}
		s.Title = fmt.Sprintf("[%s] Pull request #%s %s: %s", repo, pr.Number, action, pr.Title)
		s.Text = mapping.Cut(pr.Body.String(), mapping.MaxBodyText)
		f.Add("Author", pr.User.Login.String())
		f.Add("Branch", pr.Head.Ref.String()+" → "+pr.Base.Ref.String())
		if pr.ChangedFiles > 0 {
			f.Add("Changes", fmt.Sprintf("+%d −%d in %s", pr.Additions, pr.Deletions, mapping.Plural(pr.ChangedFiles, "file")))
		}
		if pr.Draft {
			f.Add("Draft", "yes")
		}
		githubItemFacts(&f, pr.githubItem)
		l.Add("Open pull request #"+pr.Number.String(), pr.HTMLURL.String())
	case event == "issues" && g.Issue != nil:
		is := g.Issue
		s.Title = fmt.Sprintf("[%s] Issue #%s %s: %s", repo, is.Number, g.Action, is.Title)
		s.Text = mapping.Cut(is.Body.String(), mapping.MaxBodyText)
		f.Add("Author", is.User.Login.String())
		githubItemFacts(&f, *is)
		if g.Action == "closed" {
			s.Severity = mapping.SeverityGood
		}
		l.Add("Open issue #"+is.Number.String(), is.HTMLURL.String())
	case event == "workflow_run" && g.WorkflowRun != nil:
		r := g.WorkflowRun
		outcome := mapping.FirstText(r.Conclusion, r.Status)
		name := mapping.FirstText(r.Name, g.Workflow.Name)
		s.Title = fmt.Sprintf("[%s] Workflow %s #%s %s on %s", repo, name, r.RunNumber, strings.ReplaceAll(outcome, "_", " "), r.HeadBranch)
		s.Text = r.DisplayTitle.String()
		s.Severity = githubConclusion(string(r.Conclusion))
		f.Add("Workflow", name)
		f.Add("Result", outcome)
		f.Add("Branch", r.HeadBranch.String())
		f.Add("Commit", mapping.Short(string(r.HeadSHA)))
		f.Add("Triggered by", strings.TrimSpace(r.Event.String()+" · "+r.Actor.Login.String()))
		if r.Conclusion != "" {
			f.Add("Duration", mapping.Since(string(r.StartedAt), string(r.UpdatedAt)))
		}
		if r.RunAttempt > 1 {
			f.Add("Attempt", strconv.Itoa(r.RunAttempt))
		}
		l.Add("Open run #"+r.RunNumber.String(), r.HTMLURL.String())
	case event == "check_run" && g.CheckRun != nil:
		c := g.CheckRun
		outcome := mapping.FirstText(c.Conclusion, c.Status)
		s.Title = fmt.Sprintf("[%s] Check %s %s", repo, c.Name, strings.ReplaceAll(outcome, "_", " "))
		s.Text = strings.TrimSpace(c.Output.Title.String() + "\n" + mapping.Cut(c.Output.Summary.String(), mapping.MaxBodyText))
		s.Severity = githubConclusion(string(c.Conclusion))
		f.Add("Check", c.Name.String())
		f.Add("Result", outcome)
		f.Add("App", c.App.Name.String())
		f.Add("Branch", c.CheckSuite.HeadBranch.String())
		f.Add("Commit", mapping.Short(string(c.HeadSHA)))
		f.Add("Duration", mapping.Since(string(c.StartedAt), string(c.DoneAt)))
		l.Add("Open check", c.HTMLURL.String())
		l.Add("Details", c.DetailsURL.String())
	case event == "release" && g.Release != nil:
		r := g.Release
		s.Title = fmt.Sprintf("[%s] Release %s %s", repo, mapping.FirstText(r.Name, r.TagName), g.Action)
		s.Text = mapping.Cut(r.Body.String(), mapping.MaxBodyText)
		f.Add("Tag", r.TagName.String())
		f.Add("Author", r.Author.Login.String())
		if r.Prerelease {
			f.Add("Pre-release", "yes")
		}
		if g.Action == "published" {
			s.Severity = mapping.SeverityGood
		}
		l.Add("Open release "+r.TagName.String(), r.HTMLURL.String())
	default:
		s.Title = strings.TrimSpace(fmt.Sprintf("[%s] %s %s", repo, event, g.Action))
		f.Add("Sender", g.Sender.Login.String())
	}
	if repo == "" {
		s.Title = strings.TrimPrefix(s.Title, "[] ")
	}
	l.Add("Open "+repo, g.Repository.HTMLURL.String())
	s.Facts, s.Links = f, l
	return s, nil
}

func githubItemFacts(f *mapping.Facts, it githubItem) {
	var labels, assignees []string
	for _, lb := range it.Labels {
		labels = append(labels, lb.Name.String())
	}
	for _, a := range it.Assignees {
		assignees = append(assignees, a.Login.String())
	}
	f.Add("Labels", strings.Join(labels, ", "))
	f.Add("Assignees", strings.Join(assignees, ", "))
	if it.Milestone != nil {
		f.Add("Milestone", it.Milestone.Title.String())
	}
}

// githubConclusion colours a workflow run's or check's conclusion.
func githubConclusion(c string) mapping.Severity {
	switch c {
	case "success":
		return mapping.SeverityGood
	case "failure", "timed_out", "startup_failure":
		return mapping.SeverityCritical
	case "cancelled", "action_required", "stale":
		return mapping.SeverityWarning
	}
	return mapping.SeverityInfo
}
