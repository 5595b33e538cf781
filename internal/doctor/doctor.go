// Package doctor finds what is mis-wired in an Amazon SES feedback pipeline
// (configuration sets, event destinations, identity notifications, SNS
// topics and subscriptions, SQS queue policies, KMS keys, DNS) and in
// sesguard's own stack, with read-only calls, and says how to fix it.
//
// Doctor works in two steps. Gather reads everything a Region shows, through
// small interfaces over the SDK clients (concurrently across Regions, each
// call read-only), into a Snapshot; a call that fails is kept with its error,
// never guessed around. Then every Check in Checks, a table in a fixed order,
// turns the Snapshot into Results: pass, warn, fail, or skipped with the
// reason (a call the caller may not make, or a prerequisite that failed
// already, so that one root cause is reported once).
//
// Check IDs (doctor.<area>.<name>) are a public contract, like the rule
// set's: docs/doctor.md lists them (a test keeps it equal to Checks), never
// rename or reuse one.
package doctor

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status is a check's outcome.
type Status string

// Statuses, from best to worst; skipped says why in the Summary.
const (
	Pass    Status = "pass"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Skipped Status = "skipped"
)

// AllStatuses lists every Status.
var AllStatuses = []Status{Pass, Warn, Fail, Skipped}

// Result is one check's verdict on one subject (an identity, a
// configuration set, a topic, a subscription, the stack, or the Region).
type Result struct {
	Check    string   `json:"check"`
	Region   string   `json:"region"`
	Subject  string   `json:"subject"`
	Status   Status   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
	Fix      []string `json:"fix"`
}

// Check is one entry of the table.
type Check struct {
	// ID is the stable doctor.<area>.<name>.
	ID string
	// Title says in one line what it checks (docs and --list-checks).
	Title string
	// Actions are the read-only IAM actions it needs.
	Actions []string
	run     func(e *env) []Result
}

// Options says what to check.
type Options struct {
	// Regions to check (at least one).
	Regions []string
	// Identities to check; empty: every identity of each Region.
	Identities []string
	// ConfigurationSet to check besides the identities' default ones and
	// the stack's; empty: the stack's, else every one of the Region.
	ConfigurationSet string
	// Stack is sesguard's CloudFormation stack name ("": not checked).
	Stack string
	// StackRegions are where else to look for Stack when a checked
	// Region lacks it (default OtherRegions).
	StackRegions []string
	// Now is the clock (the coverage window ends there).
	Now func() time.Time
	// MaxIdentities caps how many identities a Region lists (default 100).
	MaxIdentities int

	stackWhere *sync.Map // Region → whether Stack is there, shared by a Run's Regions
}

// OtherRegions are the Regions doctor looks in for a stack missing from the
// checked ones, and the Regions of --all-regions: Regions where SES sends.
var OtherRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
	"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2", "sa-east-1", "me-south-1", "af-south-1",
}

// Report is a whole run: the JSON document of --json.
type Report struct {
	Version int            `json:"version"`
	Regions []string       `json:"regions"`
	Counts  map[Status]int `json:"counts"`
	Results []Result       `json:"results"`
}

// Failed reports whether any result failed.
func (r *Report) Failed() bool { return r.Counts[Fail] > 0 }

// ReportVersion is the JSON contract's version (docs/doctor.md).
const ReportVersion = 1

// Run gathers every Region concurrently and runs every check.
func Run(ctx context.Context, cl ClientsFor, o Options) *Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxIdentities == 0 {
		o.MaxIdentities = 100
	}
	if len(o.StackRegions) == 0 {
		o.StackRegions = OtherRegions
	}
	o.stackWhere = &sync.Map{}
	snaps := make([]*Snapshot, len(o.Regions))
	var wg sync.WaitGroup
	for i, r := range o.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i] = Gather(ctx, cl, r, o)
		}()
	}
	wg.Wait()
	rep := &Report{Version: ReportVersion, Regions: append([]string{}, o.Regions...), Counts: map[Status]int{}}
	for _, s := range AllStatuses {
		rep.Counts[s] = 0
	}
	for _, s := range snaps {
		rep.Results = append(rep.Results, Evaluate(s, o)...)
	}
	for _, r := range rep.Results {
		rep.Counts[r.Status]++
	}
	return rep
}

// Evaluate runs every check over one Region's snapshot.
func Evaluate(s *Snapshot, o Options) []Result {
	e := &env{s: s, o: o, status: map[string]Status{}}
	var out []Result
	for _, c := range Checks {
		rs := c.run(e)
		for i := range rs {
			rs[i].Check = c.ID
			rs[i].Region = s.Region
			if rs[i].Evidence == nil {
				rs[i].Evidence = []string{}
			}
			if rs[i].Fix == nil {
				rs[i].Fix = []string{}
			}
			e.record(c.ID, rs[i].Subject, rs[i].Status)
		}
		out = append(out, rs...)
	}
	return out
}

// env is what a check sees: the snapshot and the verdicts so far, so that a
// check can skip when a prerequisite failed.
type env struct {
	s      *Snapshot
	o      Options
	status map[string]Status // check ID + "\x00" + subject
}

func (e *env) record(id, subject string, st Status) { e.status[id+"\x00"+subject] = st }

// failed reports whether check id did not pass on subject (failed or was
// skipped), and a reason to skip for.
func (e *env) failed(id, subject string) (string, bool) {
	st, ok := e.status[id+"\x00"+subject]
	if !ok || st == Pass || st == Warn {
		return "", false
	}
	if st == Fail {
		return "skipped because " + id + " failed for " + subject, true
	}
	return "skipped because " + id + " was skipped for " + subject, true
}

// Lookup returns the check with the given ID.
func Lookup(id string) (Check, bool) {
	for _, c := range Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// IAMActions is every action doctor's read-only checks call, sorted: the
// policy --print-policy prints (a test keeps it equal to the calls made).
func IAMActions() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range Checks {
		for _, a := range c.Actions {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Area is the middle part of a check ID.
func Area(id string) string {
	parts := strings.Split(id, ".")
	if len(parts) != 3 {
		return ""
	}
	return parts[1]
}
