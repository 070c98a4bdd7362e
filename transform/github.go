package transform

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hookrelay/hookrelay/schemas"
)

// GitHub names the event in the X-GitHub-Event header (ingest stores it); a
// body posted without it is recognised by shape.

func isGitHub(p probe) bool {
	return p.header("X-GitHub-Event") != "" || (p.has("repository", "sender") && githubEventOf(p) != "")
}

// githubEventOf names the event from the header, else from the body's shape.
func githubEventOf(p probe) string {
	if e := p.header("X-GitHub-Event"); e != "" {
		return e
	}
	switch {
	case p.has("pusher", "commits"):
		return "push"
	case p.has("pull_request"):
		return "pull_request"
	case p.has("workflow_run"):
		return "workflow_run"
	case p.has("check_run"):
		return "check_run"
	case p.has("release"):
		return "release"
	case p.has("issue") && !p.has("comment"):
		return "issues"
	case p.has("zen", "hook_id"):
		return "ping"
	}
	return ""
}

type githubUser struct {
	Login text `json:"login"`
	Name  text `json:"name"`
}

type githubPayload struct {
	Action     text `json:"action"`
	Repository struct {
		FullName text `json:"full_name"`
		HTMLURL  text `json:"html_url"`
	} `json:"repository"`
	Sender githubUser `json:"sender"`
	// Workflow names a workflow_run's workflow when the run does not.
	Workflow struct {
		Name text `json:"name"`
	} `json:"workflow"`

	// push
	Ref     text       `json:"ref"`
	Compare text       `json:"compare"`
	Forced  bool       `json:"forced"`
	Created bool       `json:"created"`
	Deleted bool       `json:"deleted"`
	Pusher  githubUser `json:"pusher"`
	Commits []struct {
		ID      text `json:"id"`
		Message text `json:"message"`
		URL     text `json:"url"`
		Author  struct {
			Name     text `json:"name"`
			Username text `json:"username"`
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
			Ref text `json:"ref"`
		} `json:"head"`
		Base struct {
			Ref text `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Issue *githubItem `json:"issue"`

	WorkflowRun *struct {
		Name         text       `json:"name"`
		DisplayTitle text       `json:"display_title"`
		RunNumber    text       `json:"run_number"`
		RunAttempt   int        `json:"run_attempt"`
		Event        text       `json:"event"`
		Status       text       `json:"status"`
		Conclusion   text       `json:"conclusion"`
		HeadBranch   text       `json:"head_branch"`
		HeadSHA      text       `json:"head_sha"`
		HTMLURL      text       `json:"html_url"`
		StartedAt    text       `json:"run_started_at"`
		UpdatedAt    text       `json:"updated_at"`
		Actor        githubUser `json:"actor"`
	} `json:"workflow_run"`

	CheckRun *struct {
		Name       text `json:"name"`
		Status     text `json:"status"`
		Conclusion text `json:"conclusion"`
		HTMLURL    text `json:"html_url"`
		DetailsURL text `json:"details_url"`
		HeadSHA    text `json:"head_sha"`
		StartedAt  text `json:"started_at"`
		DoneAt     text `json:"completed_at"`
		App        struct {
			Name text `json:"name"`
		} `json:"app"`
		CheckSuite struct {
			HeadBranch text `json:"head_branch"`
		} `json:"check_suite"`
		Output struct {
			Title   text `json:"title"`
			Summary text `json:"summary"`
		} `json:"output"`
	} `json:"check_run"`

	Release *struct {
		TagName    text       `json:"tag_name"`
		Name       text       `json:"name"`
		HTMLURL    text       `json:"html_url"`
		Body       text       `json:"body"`
		Prerelease bool       `json:"prerelease"`
		Draft      bool       `json:"draft"`
		Author     githubUser `json:"author"`
	} `json:"release"`
}

// githubItem is what issues and pull requests share.
type githubItem struct {
	Number    text                  `json:"number"`
	Title     text                  `json:"title"`
	Body      text                  `json:"body"`
	State     text                  `json:"state"`
	HTMLURL   text                  `json:"html_url"`
	User      githubUser            `json:"user"`
	Labels    []struct{ Name text } `json:"labels"`
	Assignees []githubUser          `json:"assignees"`
	Milestone *struct{ Title text } `json:"milestone"`
}

// maxBodyText bounds an issue's, pull request's or release's description.
const maxBodyText = 600

func mapGitHub(ev schemas.Event) (Summary, error) {
	var g githubPayload
	if err := decode(ev, "github", &g); err != nil {
		return Summary{}, err
	}
	event := githubEventOf(newProbe(ev))
	repo := g.Repository.FullName.String()
	s := Summary{Subtitle: subtitle("GitHub", strings.TrimSpace(event+" "+g.Action.String())), Severity: SeverityInfo}
	var f facts
	var l links
	switch {
	case event == "push":
		branch := strings.TrimPrefix(strings.TrimPrefix(g.Ref.String(), "refs/heads/"), "refs/tags/")
		who := firstText(g.Pusher.Name, g.Sender.Login)
		switch {
		case g.Deleted:
			s.Title = fmt.Sprintf("[%s] %s deleted %s", repo, who, branch)
		case len(g.Commits) == 0 && g.Created:
			s.Title = fmt.Sprintf("[%s] %s created %s", repo, who, branch)
		default:
			s.Title = fmt.Sprintf("[%s] %s pushed %s to %s", repo, who, plural(len(g.Commits), "commit"), branch)
		}
		if g.Forced {
			s.Title += " (force-push)"
			s.Severity = SeverityWarning
		}
		var lines []string
		for i, c := range g.Commits {
			if i == maxListed {
				break
			}
			lines = append(lines, short(string(c.ID))+" "+firstLine(c.Message.String())+" — "+firstText(c.Author.Name, c.Author.Username))
		}
		s.Text = bullets(listed(lines, len(g.Commits)))
		f.add("Repository", repo)
		f.add("Branch", branch)
		l.add("Compare changes", g.Compare.String())
	case event == "pull_request" && g.PullRequest != nil:
		pr := g.PullRequest
		action := g.Action.String()
		if action == "closed" && pr.Merged {
			action, s.Severity = "merged", SeverityGood
		}
		s.Title = fmt.Sprintf("[%s] Pull request #%s %s: %s", repo, pr.Number, action, pr.Title)
		s.Text = cut(pr.Body.String(), maxBodyText)
		f.add("Author", pr.User.Login.String())
		f.add("Branch", pr.Head.Ref.String()+" → "+pr.Base.Ref.String())
		if pr.ChangedFiles > 0 {
			f.add("Changes", fmt.Sprintf("+%d −%d in %s", pr.Additions, pr.Deletions, plural(pr.ChangedFiles, "file")))
		}
		if pr.Draft {
			f.add("Draft", "yes")
		}
		githubItemFacts(&f, pr.githubItem)
		l.add("Open pull request #"+pr.Number.String(), pr.HTMLURL.String())
	case event == "issues" && g.Issue != nil:
		is := g.Issue
		s.Title = fmt.Sprintf("[%s] Issue #%s %s: %s", repo, is.Number, g.Action, is.Title)
		s.Text = cut(is.Body.String(), maxBodyText)
		f.add("Author", is.User.Login.String())
		githubItemFacts(&f, *is)
		if g.Action == "closed" {
			s.Severity = SeverityGood
		}
		l.add("Open issue #"+is.Number.String(), is.HTMLURL.String())
	case event == "workflow_run" && g.WorkflowRun != nil:
		r := g.WorkflowRun
		outcome := firstText(r.Conclusion, r.Status)
		name := firstText(r.Name, g.Workflow.Name)
		s.Title = fmt.Sprintf("[%s] Workflow %s #%s %s on %s", repo, name, r.RunNumber, strings.ReplaceAll(outcome, "_", " "), r.HeadBranch)
		s.Text = r.DisplayTitle.String()
		s.Severity = githubConclusion(string(r.Conclusion))
		f.add("Workflow", name)
		f.add("Result", outcome)
		f.add("Branch", r.HeadBranch.String())
		f.add("Commit", short(string(r.HeadSHA)))
		f.add("Triggered by", strings.TrimSpace(r.Event.String()+" · "+r.Actor.Login.String()))
		if r.Conclusion != "" {
			f.add("Duration", since(string(r.StartedAt), string(r.UpdatedAt)))
		}
		if r.RunAttempt > 1 {
			f.add("Attempt", strconv.Itoa(r.RunAttempt))
		}
		l.add("Open run #"+r.RunNumber.String(), r.HTMLURL.String())
	case event == "check_run" && g.CheckRun != nil:
		c := g.CheckRun
		outcome := firstText(c.Conclusion, c.Status)
		s.Title = fmt.Sprintf("[%s] Check %s %s", repo, c.Name, strings.ReplaceAll(outcome, "_", " "))
		s.Text = strings.TrimSpace(c.Output.Title.String() + "\n" + cut(c.Output.Summary.String(), maxBodyText))
		s.Severity = githubConclusion(string(c.Conclusion))
		f.add("Check", c.Name.String())
		f.add("Result", outcome)
		f.add("App", c.App.Name.String())
		f.add("Branch", c.CheckSuite.HeadBranch.String())
		f.add("Commit", short(string(c.HeadSHA)))
		f.add("Duration", since(string(c.StartedAt), string(c.DoneAt)))
		l.add("Open check", c.HTMLURL.String())
		l.add("Details", c.DetailsURL.String())
	case event == "release" && g.Release != nil:
		r := g.Release
		s.Title = fmt.Sprintf("[%s] Release %s %s", repo, firstText(r.Name, r.TagName), g.Action)
		s.Text = cut(r.Body.String(), maxBodyText)
		f.add("Tag", r.TagName.String())
		f.add("Author", r.Author.Login.String())
		if r.Prerelease {
			f.add("Pre-release", "yes")
		}
		if g.Action == "published" {
			s.Severity = SeverityGood
		}
		l.add("Open release "+r.TagName.String(), r.HTMLURL.String())
	default:
		s.Title = strings.TrimSpace(fmt.Sprintf("[%s] %s %s", repo, event, g.Action))
		f.add("Sender", g.Sender.Login.String())
	}
	if repo == "" {
		s.Title = strings.TrimPrefix(s.Title, "[] ")
	}
	l.add("Open "+repo, g.Repository.HTMLURL.String())
	s.Facts, s.Links = f, l
	return s, nil
}

func githubItemFacts(f *facts, it githubItem) {
	var labels, assignees []string
	for _, lb := range it.Labels {
		labels = append(labels, lb.Name.String())
	}
	for _, a := range it.Assignees {
		assignees = append(assignees, a.Login.String())
	}
	f.add("Labels", strings.Join(labels, ", "))
	f.add("Assignees", strings.Join(assignees, ", "))
	if it.Milestone != nil {
		f.add("Milestone", it.Milestone.Title.String())
	}
}

// githubConclusion colours a workflow run's or check's conclusion.
func githubConclusion(c string) Severity {
	switch c {
	case "success":
		return SeverityGood
	case "failure", "timed_out", "startup_failure":
		return SeverityCritical
	case "cancelled", "action_required", "stale":
		return SeverityWarning
	}
	return SeverityInfo
}
