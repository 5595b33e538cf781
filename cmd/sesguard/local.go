package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/bouncewatch"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/report"
	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/scenario"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// localAlertWindow is triage's storm window on the local stack: longer than
// any replay, so that each storm is its first alert at once and one alert
// with the count from the flush-all that ends the replay. A window on the
// wall clock (the simulated day passes in seconds) would close at moments
// that depend on the machine's speed, and the same seed would not give the
// same alerts.
const localAlertWindow = 24 * time.Hour

var bootstrapPackages = map[string]string{
	"TriageFunction":      "./functions/triage",
	"BouncewatchFunction": "./functions/bouncewatch",
}

type localFlags struct {
	scenarioFile, reportPath, logPath, binDir string
	seed                                      int64
	short                                     bool
	// verbose prints every alert in full, the metrics and every check.
	verbose bool
	// progressEvery is the progress interval in non-terminal output;
	// DefaultProgressEvery when zero.
	progressEvery time.Duration
	// environments is the number of execution environments per function
	// (0: one); redeliver the share of messages delivered twice (negative:
	// defaultRedeliver with more than one environment, else none).
	environments int
	redeliver    float64
	summaryPath  string
	// autoPause is bouncewatch's AUTO_PAUSE ("" or off: the default story).
	// Set, the story has the newsletter in a configuration set of its own
	// and SES's enforcement status changes late in the day.
	autoPause string
}

// enforcementInjection is when, in the auto-pause story, the local SES
// starts answering GetAccount with SES's account under review: an
// enforcement-status change bouncewatch must announce once.
const (
	enforcementAt     = 20 * time.Hour
	enforcementStatus = "PROBATION"
)

// defaultRedeliver is the share of messages the local stack delivers a
// second time, to another environment, when it runs several: SNS and SQS
// deliver at least once, and a duplicate must not count twice. 2% is the
// share issue 10 measured with.
const defaultRedeliver = 0.02

// maxEnvironments bounds --environments: each environment is two
// processes per function.
const maxEnvironments = 64

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("local", stderr)
	var f localFlags
	fs.StringVar(&f.scenarioFile, "scenario", "", "replay this JSON-lines file of events instead of the default story")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the generated default scenario")
	fs.BoolVar(&f.short, "short", false, "a short version of the default scenario")
	fs.StringVar(&f.reportPath, "report", "report.html", "where to write the HTML report (empty: none)")
	fs.StringVar(&f.logPath, "logs", "", "file for the functions' JSON logs (default: a temporary file)")
	fs.BoolVar(&f.verbose, "verbose", false, "print every alert in full, the metrics read back and every check")
	fs.StringVar(&f.binDir, "bin", "", "directory with prebuilt <LogicalId>/bootstrap binaries (default: build them)")
	fs.IntVar(&f.environments, "environments", 1, "execution environments per function (each its own emulator and bootstrap; invocations round robin)")
	fs.Float64Var(&f.redeliver, "redeliver", -1, fmt.Sprintf("share of messages delivered twice, to another environment (default %g with --environments > 1, else 0)", defaultRedeliver))
	fs.StringVar(&f.summaryPath, "summary-json", "", "write a machine-readable summary of the run to this file")
	fs.StringVar(&f.autoPause, "auto-pause", "", "off, dry-run or on: replay the story with the newsletter in its own configuration set and bouncewatch's AUTO_PAUSE set to this")
	miswire := fs.String("miswire", "", "apply this mis-wiring (list: name them; all: each in turn) and run sesguard doctor against the stack (miswire.go)")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if *miswire != "" {
		return runMiswire(ctx, *miswire, stdout, stderr)
	}
	if f.environments < 1 || f.environments > maxEnvironments {
		fmt.Fprintf(stderr, "sesguard local: --environments %d: want 1 to %d\n", f.environments, maxEnvironments)
		return exitUsage
	}
	if f.autoPause != "" && !slices.Contains(bouncewatch.AutoPauseModes, bouncewatch.AutoPause(f.autoPause)) {
		fmt.Fprintf(stderr, "sesguard local: --auto-pause %q: want off, dry-run or on\n", f.autoPause)
		return exitUsage
	}
	if f.redeliver > 1 {
		fmt.Fprintf(stderr, "sesguard local: --redeliver %g: want a share from 0 to 1\n", f.redeliver)
		return exitUsage
	}
	res, err := local(ctx, f, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "sesguard local:", err)
		return exitInvalid
	}
	if f.summaryPath != "" {
		if err := writeSummary(f.summaryPath, res); err != nil {
			fmt.Fprintln(stderr, "sesguard local:", err)
			return exitInvalid
		}
	}
	if !res.ok {
		return exitInvalid
	}
	return exitOK
}

type localResult struct {
	ok     bool
	checks []report.Check
	res    *localstack.Result
	sc     *scenario.Scenario
	stack  *localstack.Stack
}

func moduleRoot() (string, error) {
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
			return "", errors.New("not inside the sesguard module (no go.mod above the working directory)")
		}
		dir = parent
	}
}

func local(ctx context.Context, f localFlags, w io.Writer) (*localResult, error) {
	began := time.Now()
	// Progress lines come from another goroutine.
	out := &lockedWriter{w: w}
	if f.progressEvery == 0 {
		f.progressEvery = DefaultProgressEvery
	}
	st := &stages{out: out, began: began, live: isTerminal(w), every: f.progressEvery}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	var sc *scenario.Scenario
	if f.scenarioFile != "" {
		fh, err := os.Open(f.scenarioFile)
		if err != nil {
			return nil, err
		}
		sc, err = scenario.ReadJSONLines(fh, f.scenarioFile)
		fh.Close()
		if err != nil {
			return nil, err
		}
	} else {
		sc = scenario.Default(scenario.Options{Seed: f.seed, Short: f.short, NewsletterConfigurationSet: f.autoPause != ""})
	}
	// The day the replay runs as (Replay would move it too; here the dates
	// printed and the injections are the replayed ones).
	dated := sc.Start
	moved := localstack.MoveToRecent(sc, time.Now())

	bins := map[string]string{}
	if f.binDir != "" {
		for id := range bootstrapPackages {
			bins[id] = filepath.Join(f.binDir, id, "bootstrap")
		}
		st.line("building the Lambda Runtime Interface Emulator")
		if err := st.during(func() string { return "still building" }, func() (err error) {
			bins[localstack.RIE], err = localstack.BuildRIE(ctx, root)
			return err
		}); err != nil {
			return nil, err
		}
	} else {
		st.line("building the bootstraps (linux, the Makefile's flags) and the Runtime Interface Emulator")
		if err := st.during(func() string { return "still building (the first time compiles the AWS SDK)" }, func() (err error) {
			bins, err = localstack.Build(ctx, root, bootstrapPackages)
			return err
		}); err != nil {
			return nil, err
		}
	}
	logPath := f.logPath
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), "sesguard-local-functions.log")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	logs := &lockedWriter{w: logFile}

	var watch []string
	for _, cs := range sc.ConfigurationSets {
		watch = append(watch, "configuration-set:"+cs)
	}
	if len(watch) == 0 {
		watch = []string{"configuration-set:" + scenario.ConfigurationSet}
	}
	for _, d := range sc.WatchDomains {
		watch = append(watch, "domain:"+d)
	}
	params := map[string]string{}
	if f.autoPause != "" {
		params["AutoPause"] = f.autoPause
	}
	envs := max(1, f.environments)
	redeliver := f.redeliver
	if redeliver < 0 {
		redeliver = 0
		if envs > 1 {
			redeliver = defaultRedeliver
		}
	}
	st.line("starting the stack from template.yaml (kumo, topics, queues, both functions)")
	var stack *localstack.Stack
	err = st.during(func() string { return "still starting" }, func() (err error) {
		stack, err = localstack.Up(ctx, localstack.Options{
			Template: tmpl, Bootstraps: bins, RIE: bins[localstack.RIE], Region: sc.Region, Facts: sc.Facts, Logs: logs,
			Environments: envs, Redeliver: redeliver, Seed: sc.Seed, Params: params,
			Env: map[string]map[string]string{
				"TriageFunction":      {"ALERT_WINDOW": localAlertWindow.String()},
				"BouncewatchFunction": {"WATCH_SCOPES": strings.Join(watch, ",")},
			},
		})
		return err
	})
	if stack != nil {
		defer stack.Close()
	}
	if err != nil {
		return nil, err
	}
	stack.SES.SetConfigurationSets(sc.Region, sc.ConfigurationSets...)
	var inject []localstack.Injection
	if f.autoPause != "" {
		inject = append(inject, localstack.Injection{At: sc.Start.Add(enforcementAt), Note: "SES enforcement status " + enforcementStatus + " (local SES)",
			Do: func(s *localstack.Stack) { s.SES.SetEnforcementStatus(sc.Region, enforcementStatus) }})
		fmt.Fprintf(out, "         auto-pause %s: the newsletter sends through %s; at %s SES's status becomes %s\n",
			f.autoPause, scenario.ConfigurationSetNews, sc.Start.Add(enforcementAt).Format("15:04"), enforcementStatus)
	}
	var fnNames []string
	for id := range stack.Functions {
		fnNames = append(fnNames, id)
	}
	sort.Strings(fnNames)
	st.line("stack up: kumo at %s; %d topics, %d queues, %d event sources", stack.Kumo.URL, len(stack.Topics), len(stack.Queues), len(stack.Sources))
	fmt.Fprintf(out, "         functions %s\n", strings.Join(fnNames, ", "))
	if envs > 1 || redeliver > 0 {
		fmt.Fprintf(out, "         %d execution environments per function; %g%% of messages delivered twice\n", envs, 100*redeliver)
	}
	fmt.Fprintf(out, "         function logs: %s\n", logPath)
	if f.verbose {
		wrapTo(out, "         local overrides: ", fmt.Sprintf("triage ALERT_WINDOW=%s; bouncewatch WATCH_SCOPES=%s", localAlertWindow, strings.Join(watch, ",")), outputWidth)
		if len(stack.Skipped) > 0 {
			wrapTo(out, "         not emulated: ", strings.Join(stack.Skipped, "; "), outputWidth)
		}
	} else if len(stack.Skipped) > 0 {
		fmt.Fprintf(out, "         %d template resources not emulated (--verbose lists them)\n", len(stack.Skipped))
	}
	st.line("replaying %q (seed %d): %d events, %s to %s UTC", clip(sc.Name, 30), sc.Seed, len(sc.Events),
		sc.Start.Format("01-02 15:04"), sc.End.Format("01-02 15:04"))
	if moved != 0 {
		// CloudWatch takes datum timestamps from two weeks back only.
		fmt.Fprintf(out, "         dated %s, replayed %d days later (CloudWatch takes stamps 2 weeks back)\n",
			dated.Format("2006-01-02"), moved)
	}

	var (
		progMu sync.Mutex
		prog   localstack.Progress
	)
	status := func() string {
		progMu.Lock()
		defer progMu.Unlock()
		return fmt.Sprintf("simulated %s: %d/%d events published, %d evaluations, %d alerts",
			prog.Sim.Format("15:04"), prog.Published, prog.Total, prog.Evaluations, prog.Alert)
	}
	var res *localstack.Result
	err = st.during(status, func() (err error) {
		res, err = stack.Replay(ctx, sc, localstack.ReplayOptions{FlushAlerts: true, Inject: inject, Progress: func(p localstack.Progress) {
			progMu.Lock()
			prog = p
			progMu.Unlock()
			if st.live {
				fmt.Fprintf(out, "\r  %s  %6d/%d events published  %3d evaluations  %3d alerts ", p.Sim.Format("15:04"), p.Published, p.Total, p.Evaluations, p.Alert)
			}
		}})
		return err
	})
	if st.live {
		fmt.Fprintln(out)
	}
	if err != nil {
		return nil, err
	}
	st.line("replay done: %d events in %s", len(sc.Events), res.Wall.Round(time.Millisecond))
	if envs > 1 || redeliver > 0 {
		for _, id := range fnNames {
			fn := stack.Functions[id]
			redelivered := 0
			for _, src := range stack.Sources {
				if src.Function == fn {
					redelivered += res.Sources[src.Name()].Redelivered
				}
			}
			per := fn.InvokesPerEnvironment()
			parts := make([]string, len(per))
			for i, n := range per {
				parts[i] = strconv.Itoa(n)
			}
			fmt.Fprintln(out, clip(fmt.Sprintf("         %s: %d redelivered; invocations per environment %s", id, redelivered, strings.Join(parts, " ")), outputWidth))
		}
	}
	fmt.Fprintln(out)

	lr := &localResult{res: res, sc: sc, stack: stack}
	printStory(out, lr, f.verbose)
	if f.autoPause == "on" && sc.Expect != nil && len(res.HeldEvents) > 0 {
		sc.Expect = pausedExpect(sc, res.HeldEvents)
	}
	lr.checks = verify(sc, stack, res)
	if fc := firstForecast(res.Evaluations); fc != nil {
		wrapTo(out, "Forecast: ", fc.String(), outputWidth)
		if f.autoPause == "" {
			fmt.Fprintln(out)
		}
	}
	if f.autoPause != "" {
		lr.checks = append(lr.checks, verifyAutoPause(f.autoPause, sc, stack, res)...)
		for _, p := range res.Paused {
			fmt.Fprintf(out, "Paused: %s at simulated %s; %d of its events held back (not sent) after it\n", p.ConfigurationSet, p.Sim.Format("15:04"), res.Held[p.ConfigurationSet])
		}
		for _, inj := range res.Injected {
			fmt.Fprintf(out, "Injected: %s\n", inj)
		}
		fmt.Fprintln(out)
	}
	lr.ok = true
	failed := 0
	for _, c := range lr.checks {
		if !c.OK {
			lr.ok = false
			failed++
		}
	}
	fmt.Fprintf(out, "Checks: %d of %d ok\n", len(lr.checks)-failed, len(lr.checks))
	for _, c := range lr.checks {
		if c.OK && !f.verbose {
			continue
		}
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		wrapTo(out, "  "+mark+" ", c.Text, outputWidth)
	}
	if f.reportPath != "" {
		if err := writeReport(f.reportPath, lr); err != nil {
			return lr, err
		}
		fmt.Fprintf(out, "\nreport: %s\n", f.reportPath)
		fmt.Fprintln(out, "        (rates against the thresholds over time, alert markers, the diagnoses)")
	}
	if !f.verbose {
		fmt.Fprintln(out, "sesguard local --verbose prints every alert in full, the metrics and every check.")
	}
	st.line("total wall time %s", time.Since(began).Round(100*time.Millisecond))
	return lr, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// diagnosesByRule reads triage's Failures metric: diagnoses per rule.
func diagnosesByRule(res *localstack.Result) map[string]int {
	out := map[string]int{}
	for _, m := range res.Metrics {
		if m.Name != string(metrics.Failures) {
			continue
		}
		for _, d := range m.Dimensions {
			if r, ok := strings.CutPrefix(d, string(metrics.DimRule)+"="); ok {
				out[r] += int(m.Sum)
			}
		}
	}
	return out
}

func printStory(out io.Writer, lr *localResult, verbose bool) {
	res := lr.res
	diag := diagnosesByRule(res)
	rules := make([]string, 0, len(diag))
	for r := range diag {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		return diag[rules[i]] > diag[rules[j]] || diag[rules[i]] == diag[rules[j]] && rules[i] < rules[j]
	})
	set := ruleset.Default()
	fmt.Fprintln(out, "Diagnoses by rule (triage's Failures metric)")
	for _, r := range rules {
		sev, _, _ := set.RuleSummary(r)
		fmt.Fprintf(out, "  %6d  %-40s %s\n", diag[r], r, sev)
	}
	fmt.Fprintf(out, "\nAlerts in the order they fired (%d on the alerts topic; the Slack webhook received %d posts)\n", len(res.Alerts), res.SlackPosts)
	if verbose {
		for _, a := range res.Alerts {
			fmt.Fprintf(out, "\n  ── simulated %s ──\n", a.Sim.Format("15:04"))
			for _, line := range strings.Split(strings.TrimRight(alert.RenderText(a.Alert), "\n"), "\n") {
				fmt.Fprintf(out, "  │ %s\n", line)
			}
		}
		fmt.Fprintf(out, "\nMetrics published (namespace %s)\n", lr.stack.Namespace())
		for _, m := range res.Metrics {
			def, _ := metrics.Lookup(metrics.Name(m.Name))
			val := fmt.Sprintf("sum %g", m.Sum)
			if def.Agg == metrics.Distribution {
				val = fmt.Sprintf("latest %.4g", m.Last)
			}
			fmt.Fprintln(out, clip(fmt.Sprintf("  %-18s %-52s %4d points  %s", m.Name, strings.Join(m.Dimensions, " "), m.Points, val), outputWidth))
		}
	} else {
		for _, l := range alertLines(res.Alerts) {
			fmt.Fprintln(out, clip(l, outputWidth))
		}
	}
	fmt.Fprintln(out, "\nFinal rates (last evaluation; headroom = more hard bounces before the 5% critical threshold)")
	if n := len(res.Evaluations); n > 0 {
		rc := reputation.DefaultConfig()
		fmt.Fprintf(out, "  %-28s %7s %6s %8s %6s %10s %-14s %8s\n", "scope", "sends", "hard", "bounce", "compl.", "complaint", "level", "headroom")
		for _, s := range res.Evaluations[n-1].Report.Scopes {
			elig := s.Counts.Eligible()
			hard, compl := s.Counts.Get(metrics.HardBounces), s.Counts.Get(metrics.Complaints)
			br, cr := ratio(hard, elig), ratio(compl, elig)
			// A rate at level ok is below its warning threshold; show it so.
			bounce, complaint := reputation.FormatRate(br), reputation.FormatRate(cr)
			if s.BounceLevel == reputation.OK.String() {
				bounce = reputation.FormatRateBelow(br, rc.Bounce.Warning)
			}
			if s.ComplaintLevel == reputation.OK.String() {
				complaint = reputation.FormatRateBelow(cr, rc.Complaint.Warning)
			}
			headroom := "-" // no sends, no rate
			if h := reputation.Headroom(hard, elig, rc.Bounce.Critical); h >= 0 {
				headroom = strconv.FormatInt(h, 10)
			}
			fmt.Fprintf(out, "  %-28s %7d %6d %8s %6d %10s %-14s %8s\n", clip(s.Scope.String()+" "+scopeName(s.Scope.Type, s.Scope.Name), 28), elig, hard,
				bounce, compl, complaint, s.BounceLevel+"/"+s.ComplaintLevel, headroom)
		}
	}
	fmt.Fprintln(out)
}

// alertLines is the compact story of the alerts: one line each, and one
// line for alerts that say the same thing about scopes covering the same
// traffic (in the default deployment the account's and the configuration
// set's rates are computed from the same events, so each rate alert comes
// twice: same time, level, rule and figures).
func alertLines(as []localstack.FiredAlert) []string {
	type line struct {
		key    string
		text   string
		scopes []string
	}
	var lines []*line
	for _, a := range as {
		al := a.Alert
		// Same traffic: the same rate over the same sample.
		var figs []string
		for _, f := range al.Figures {
			if strings.EqualFold(f.Name, "rate") || strings.EqualFold(f.Name, "sample") {
				figs = append(figs, f.Name+"="+f.Value)
			}
		}
		key := strings.Join([]string{a.Sim.Format("15:04"), string(al.Kind), string(al.Level), al.Rule, strings.Join(figs, ";")}, "|")
		if al.Kind == alert.KindRate {
			if i := slices.IndexFunc(lines, func(l *line) bool { return l.key == key }); i >= 0 {
				lines[i].scopes = append(lines[i].scopes, al.Scope)
				continue
			}
		}
		// bouncewatch announces once for scopes that saw the same traffic,
		// naming the others in a figure.
		also := []string{al.Scope}
		for _, f := range al.Figures {
			if f.Name == bouncewatch.AlsoCoversFigure {
				also = append(also, strings.Split(strings.TrimSuffix(f.Value, bouncewatch.AlsoCoversWhy), ", ")...)
			}
		}
		title := al.Title
		if al.Count > 1 {
			title += fmt.Sprintf(" (×%d)", al.Count)
		}
		lines = append(lines, &line{key: key, text: fmt.Sprintf("  %s %-8s %s", a.Sim.Format("15:04"), strings.ToUpper(string(al.Level)), title), scopes: also})
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, l.text)
		if len(l.scopes) > 1 {
			out = append(out, fmt.Sprintf("                 also %s: the same events, the same rate", strings.Join(l.scopes[1:], ", ")))
		}
	}
	return out
}

func scopeName(typ, name string) string {
	if typ == metrics.ScopeAccount {
		return "(" + name + ")"
	}
	return ""
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// verify checks the run against the scenario's expectations and the
// invariants every run must hold.
func verify(sc *scenario.Scenario, st *localstack.Stack, res *localstack.Result) []report.Check {
	var cs []report.Check
	add := func(ok bool, format string, a ...any) {
		cs = append(cs, report.Check{OK: ok, Text: fmt.Sprintf(format, a...)})
	}

	// Nothing lost: every event a source's topic published was processed,
	// filtered out, or given up on after its retries (dead-lettered, or
	// discarded where the function has no failure destination), and each
	// dead-letter queue holds exactly what its sources gave up on.
	errs := 0
	accounted := map[string]int{}
	for _, src := range st.Sources {
		s := res.Sources[src.Name()]
		want := res.Published[src.Queue.Topic]
		if len(src.Queue.Topics) > 1 {
			want = 0
			for _, t := range src.Queue.Topics {
				want += res.Published[t]
			}
		}
		missing := want - s.Processed - s.Filtered - s.DeadLettered - s.Discarded
		errs += s.FunctionErrors
		for _, q := range src.DeadLetterQueues() {
			accounted[q.LogicalID] += s.DeadLettered
		}
		text := fmt.Sprintf("%s: %d published, %d processed, %d filtered out by the subscription's policy, %d dead-lettered",
			src.Name(), want, s.Processed, s.Filtered, s.DeadLettered)
		if s.Discarded > 0 {
			text += fmt.Sprintf(", %d discarded (no failure destination)", s.Discarded)
		}
		add(missing == 0 && res.Undelivered[src.Name()] == 0, "%s, %d left", text, res.Undelivered[src.Name()])
	}
	add(errs == 0, "function errors: %d", errs)
	dlqs := make([]string, 0, len(res.DLQ))
	for q := range res.DLQ {
		dlqs = append(dlqs, q)
	}
	sort.Strings(dlqs)
	for _, q := range dlqs {
		n := res.DLQ[q]
		add(n == 0 && n == accounted[q], "dead-letter queue %s: %d messages (%d dead-lettered by its sources)", q, n, accounted[q])
	}
	add(res.SlackPosts == len(res.Alerts), "every alert on the topic was also posted to Slack (%d posts, %d alerts)", res.SlackPosts, len(res.Alerts))
	if sc.Expect == nil {
		return cs
	}
	e := sc.Expect
	// Alerts: the first alert matching each expectation, in order.
	pos := 0
	for _, want := range e.Alerts {
		found := -1
		for i := pos; i < len(res.Alerts); i++ {
			if alertMatches(want, res.Alerts[i].Alert) {
				found = i
				break
			}
		}
		if found >= 0 {
			add(true, "alert %s fired (simulated %s)", want, res.Alerts[found].Sim.Format("15:04"))
			pos = found + 1
		} else {
			add(false, "alert %s fired after the previous expected one", want)
		}
	}
	diag := diagnosesByRule(res)
	keys := make([]string, 0, len(e.MinDiagnoses))
	for k := range e.MinDiagnoses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, r := range keys {
		add(diag[r] >= e.MinDiagnoses[r], "diagnoses %s: %d (at least %d)", r, diag[r], e.MinDiagnoses[r])
	}
	if e.StormRule != "" {
		// The first at once, then one alert counting the rest. With
		// several environments the first alert may already count the
		// occurrences that reached the shared window with it (a batch's
		// counts are written with its claims, before any environment
		// opens the window): exactly two alerts, every occurrence counted
		// once between them.
		var counts []int
		for _, a := range res.Alerts {
			if a.Alert.Rule == e.StormRule {
				counts = append(counts, max(a.Alert.Count, 1))
			}
		}
		add(len(counts) == 2 && counts[0]+counts[1] == e.StormSize, "storm of %d × %s announced as the first alert and one counting the rest: counts %v",
			e.StormSize, e.StormRule, counts)
	}
	seen := map[string]bool{}
	for _, s := range st.SES.Suppressions() {
		seen[s.Address] = true
	}
	add(len(seen) == e.Suppressions, "suppressed %d distinct addresses (want %d) with PutSuppressedDestination", len(seen), e.Suppressions)
	return cs
}

func alertMatches(w scenario.AlertExpect, a alert.Alert) bool {
	if w.Kind != "" && string(a.Kind) != w.Kind || w.Level != "" && string(a.Level) != w.Level {
		return false
	}
	if w.Rule != "" && a.Rule != w.Rule {
		return false
	}
	return w.Scope == "" || a.Scope == w.Scope
}

// reportForecasts are the forecasts report.html draws: for each scope,
// its first forecast of the critical threshold made before its bounce
// level reached critical (if it ever did), from the evaluation that made
// it: the early warning, next to what the rate then did. Scopes are named
// as writeReport names its series.
func reportForecasts(evs []localstack.Evaluation) []report.Projection {
	var out []report.Projection
	done := map[string]bool{}
	for _, ev := range evs {
		for _, s := range ev.Report.Scopes {
			key := s.Scope.String()
			if s.Scope.Type == metrics.ScopeAccount {
				key += " " + s.Scope.Name
			}
			if done[key] {
				continue
			}
			if lvl, _ := reputation.ParseLevel(s.BounceLevel); lvl >= reputation.Critical {
				done[key] = true
				continue
			}
			f := s.Forecast
			if f == nil || f.Target != reputation.Critical {
				continue
			}
			done[key] = true
			p := report.Projection{Scope: key, From: ev.Sim, Rate: ratio(s.Counts.Get(metrics.HardBounces), s.Counts.Eligible()),
				Threshold: f.Threshold.Fraction(), Hours: f.Hours, Soonest: f.Soonest, Latest: f.Latest}
			// A scope with the same traffic as one drawn (the newsletter's
			// set and domain) would draw the same line over it.
			if slices.ContainsFunc(out, func(o report.Projection) bool { return o.From == p.From && o.Rate == p.Rate && o.Hours == p.Hours }) {
				continue
			}
			p.Text = f.Phrase() // "5% in about 41 min (27 min–1.2 h)"
			out = append(out, p)
		}
	}
	return out
}

func writeReport(path string, lr *localResult) error {
	rc := reputation.DefaultConfig()
	d := report.Data{
		Title:            "sesguard local: " + lr.sc.Name,
		Subtitle:         fmt.Sprintf("%d events replayed through the real triage and bouncewatch bootstraps on the kumo emulator (seed %d).", len(lr.sc.Events), lr.sc.Seed),
		Start:            lr.sc.Start,
		End:              lr.sc.End,
		BounceWarning:    rc.Bounce.Warning.Fraction(),
		BounceCritical:   rc.Bounce.Critical.Fraction(),
		ComplaintWarning: rc.Complaint.Warning.Fraction(), ComplaintCritical: rc.Complaint.Critical.Fraction(),
		BouncePauseRisk: rc.Bounce.PauseRisk.Fraction(), ComplaintPauseRisk: rc.Complaint.PauseRisk.Fraction(),
		// Below MinSendsWarning bouncewatch announces no level at all.
		MinSends: rc.MinSendsWarning(),
		Checks:   lr.checks,
	}
	byScope := map[string]*report.Series{}
	var order []string
	for _, ev := range lr.res.Evaluations {
		for _, s := range ev.Report.Scopes {
			key := s.Scope.String()
			if s.Scope.Type == metrics.ScopeAccount {
				key += " " + s.Scope.Name
			}
			ser := byScope[key]
			if ser == nil {
				ser = &report.Series{Scope: key}
				byScope[key] = ser
				order = append(order, key)
			}
			elig := s.Counts.Eligible()
			ser.Points = append(ser.Points, report.Point{Sim: ev.Sim, Sends: elig,
				BounceRate: ratio(s.Counts.Get(metrics.HardBounces), elig), ComplaintRate: ratio(s.Counts.Get(metrics.Complaints), elig)})
		}
	}
	for _, k := range order {
		d.Series = append(d.Series, *byScope[k])
	}
	d.Forecasts = reportForecasts(lr.res.Evaluations)
	for _, a := range lr.res.Alerts {
		d.Alerts = append(d.Alerts, report.Marker{Sim: a.Sim, Level: string(a.Alert.Level), Title: a.Alert.Title + " " + a.Alert.Rule, Text: alert.RenderText(a.Alert)})
	}
	diag := diagnosesByRule(lr.res)
	set := ruleset.Default()
	for r, n := range diag {
		sev, _, _ := set.RuleSummary(r)
		d.Diagnoses = append(d.Diagnoses, report.Row{Rule: r, Severity: string(sev), Count: n})
	}
	slices.SortFunc(d.Diagnoses, func(a, b report.Row) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	var buf bytes.Buffer
	if err := report.Write(&buf, d); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
