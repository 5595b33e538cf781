package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/scenario"
)

// TestLocalEndToEnd replays the short scenario through the real bootstraps
// on kumo and checks what came out: the alerts and their order, the
// metrics read back from the emulated CloudWatch, the suppression calls,
// and that every published event was processed (or dead-lettered).
func TestLocalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Log("-short: the end-to-end test still runs; it takes a few seconds")
	}
	// The bootstraps and the emulator first, with no deadline: on a cold
	// build cache they take minutes, and local finds them built.
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localstack.Build(t.Context(), root, bootstrapPackages); err != nil {
		t.Fatal(err)
	}
	// Each replay gets its own deadline, generous for a loaded 2-core
	// machine (the short scenario takes seconds idle, a minute or two at a
	// load of 15); it only ends a replay that would never finish.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	reportPath := filepath.Join(dir, "report.html")
	var out bytes.Buffer
	logPath := filepath.Join(dir, "functions.log")
	lr, err := local(ctx, localFlags{short: true, seed: 1, reportPath: reportPath, logPath: logPath}, &out)
	if err != nil {
		logs, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
		t.Fatalf("local: %v\n%s\nlast function log lines:\n%s", err, out.String(), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	for _, c := range lr.checks {
		if !c.OK {
			t.Errorf("check failed: %s", c.Text)
		}
	}
	checkCompactOutput(t, out.String())

	// Alerts: the story's alerts, first occurrences in this order.
	want := []string{
		"diagnosis/critical reject.sandbox-recipient-unverified",
		"diagnosis/critical reject.region-mismatch",
		"diagnosis/warning bounce.hard.no-such-user",
		"diagnosis/critical reject.envelope-sender-rewritten",
		"rate/warning bounce-rate @domain:news.yourapp.com",
		"rate/critical bounce-rate @domain:news.yourapp.com",
		"diagnosis/warning complaint.abuse",
		"rate/warning bounce-rate @domain:news.yourapp.com",
	}
	var got []string
	seen := map[string]bool{}
	for _, a := range lr.res.Alerts {
		key := string(a.Alert.Kind) + "/" + string(a.Alert.Level) + " " + a.Alert.Rule
		if a.Alert.Kind == "rate" {
			key += " @" + a.Alert.Scope
			if !strings.HasPrefix(a.Alert.Scope, "domain:news") {
				continue
			}
			// A rate alert repeats the same key on the way back down.
			got = append(got, key)
			continue
		}
		if !seen[key] {
			seen[key] = true
			got = append(got, key)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts in order:\n got %q\nwant %q", got, want)
	}
	// Content: the storm is one alert plus one summary counting the rest.
	for _, a := range lr.res.Alerts {
		if a.Alert.Rule == "reject.region-mismatch" {
			if a.Alert.Identity != scenario.SenderApp || a.Alert.Region != scenario.MismatchRegion {
				t.Errorf("region-mismatch alert names %s in %s", a.Alert.Identity, a.Alert.Region)
			}
		}
		if a.Alert.Kind == "rate" && a.Alert.Level == "critical" && !strings.Contains(a.Alert.Title, "news.yourapp.com") {
			t.Errorf("unexpected critical rate alert: %s", a.Alert.Title)
		}
	}

	// Metrics read back from kumo's CloudWatch.
	sc := scenario.Default(scenario.Options{Seed: 1, Short: true})
	var sends, hard int
	for _, e := range sc.Events {
		b := e.Body()
		if strings.Contains(b, `"eventType":"Send"`) && strings.Contains(b, `"source":"`+scenario.SenderNews+`"`) {
			sends++
		}
		if strings.Contains(b, `"eventType":"Bounce"`) && strings.Contains(b, `"source":"`+scenario.SenderNews+`"`) {
			hard++
		}
	}
	metric := func(name metrics.Name, dims string) float64 {
		for _, m := range lr.res.Metrics {
			if m.Name == string(name) && strings.Join(m.Dimensions, " ") == dims {
				return m.Sum
			}
		}
		t.Errorf("metric %s %s not found", name, dims)
		return -1
	}
	if v := metric(metrics.Sends, "ScopeType=domain Scope=news.yourapp.com"); int(v) != sends {
		t.Errorf("Sends for news.yourapp.com = %v, want %d", v, sends)
	}
	if v := metric(metrics.HardBounces, "ScopeType=domain Scope=news.yourapp.com"); int(v) != hard {
		t.Errorf("HardBounces for news.yourapp.com = %v, want %d", v, hard)
	}
	if v := metric(metrics.Failures, "Rule=reject.region-mismatch Region=eu-west-1"); int(v) != sc.Expect.StormSize {
		t.Errorf("Failures reject.region-mismatch = %v, want %d", v, sc.Expect.StormSize)
	}

	// Suppression: every hard-bounced or complaining address, once, in us-east-1.
	sup := lr.stack.SES.Suppressions()
	if len(sup) == 0 {
		t.Fatal("no PutSuppressedDestination calls")
	}
	for _, s := range sup {
		if s.Region != scenario.SendingRegion || (s.Reason != "BOUNCE" && s.Reason != "COMPLAINT") {
			t.Errorf("suppression %+v: want Region %s, reason BOUNCE or COMPLAINT", s, scenario.SendingRegion)
		}
	}

	// Nothing lost.
	total := 0
	for _, n := range lr.res.Published {
		total += n
	}
	if total != len(sc.Events) {
		t.Errorf("published %d of %d events", total, len(sc.Events))
	}
	for name, n := range lr.res.Undelivered {
		if n != 0 {
			t.Errorf("%s: %d messages never processed", name, n)
		}
	}
	// The same seed gives the same alerts (their wall-clock times aside).
	t.Run("same seed, same alerts", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		logPath := filepath.Join(dir, "again.log")
		again, err := local(ctx, localFlags{short: true, seed: 1, reportPath: filepath.Join(dir, "again.html"), logPath: logPath}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		// The second run holds the same invariants (nothing lost, every
		// alert on the topic also posted to Slack, ...) as the first.
		for _, c := range again.checks {
			if !c.OK {
				t.Errorf("second run: check failed: %s", c.Text)
			}
		}
		if a, b := alertTrace(lr.res.Alerts), alertTrace(again.res.Alerts); a != b {
			t.Errorf("two runs with seed 1 differ:\n%s\n---\n%s", a, b)
		}
		if t.Failed() {
			logs, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(logs)), "\n")
			t.Logf("second run: last function log lines:\n%s", strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
	// Several execution environments per function, with duplicate
	// deliveries, tell the same story as one (issue 10): the shared state
	// decides what happens once.
	t.Run("environments", func(t *testing.T) {
		var mout bytes.Buffer
		multi, err := local(ctx, localFlags{short: true, seed: 1, environments: 3, redeliver: -1, logPath: filepath.Join(dir, "multi.log")}, &mout)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range multi.checks {
			if !c.OK {
				t.Errorf("check failed with 3 environments: %s", c.Text)
			}
		}
		one, three := summarize(lr), summarize(multi)
		t.Logf("1 environment: %d alerts, %d failures counted, %d suppressions, bouncewatch counted %v; 3 environments: %d alerts, %d, %d, %v (redelivered %v)",
			one.Alerts, one.FailuresCounted, one.Suppressions, one.Counted, three.Alerts, three.FailuresCounted, three.Suppressions, three.Counted, three.Redelivered)
		if three.Environments["triage"] != 3 || three.Environments["bouncewatch"] != 3 {
			t.Errorf("environments %v, want 3 each", three.Environments)
		}
		if three.Redelivered["bouncewatch"] == 0 {
			t.Errorf("no message redelivered (%v): the duplicates were not exercised", three.Redelivered)
		}
		if one.Lost != 0 || three.Lost != 0 {
			t.Errorf("lost %d with 1 environment, %d with 3; want 0", one.Lost, three.Lost)
		}
		if one.Alerts != three.Alerts || one.FailuresCounted != three.FailuresCounted || one.Suppressions != three.Suppressions {
			t.Errorf("1 vs 3 environments: alerts %d vs %d, failures counted %d vs %d, suppressions %d vs %d",
				one.Alerts, three.Alerts, one.FailuresCounted, three.FailuresCounted, one.Suppressions, three.Suppressions)
		}
		// bouncewatch counts each event once: the duplicates delivered to
		// other environments are claimed there already.
		if !maps.Equal(one.Counted, three.Counted) {
			t.Errorf("bouncewatch counted %v with 1 environment, %v with 3", one.Counted, three.Counted)
		}
		for _, k := range slices.Sorted(maps.Keys(mergeKeys(one.AlertsByKey, three.AlertsByKey))) {
			if one.AlertsByKey[k] != three.AlertsByKey[k] {
				t.Errorf("alerts %s: %d with 1 environment, %d with 3", k, one.AlertsByKey[k], three.AlertsByKey[k])
			}
		}
		if t.Failed() {
			t.Logf("output with 3 environments:\n%s", mout.String())
		}
	})
	// Issue 13: the full story (the short one's account crosses 5% with
	// the newsletter alone) with auto-pause on, which pauses the
	// newsletter's set and holds its later sends back (so it replays
	// faster than the default day).
	t.Run("auto-pause", func(t *testing.T) {
		var aout bytes.Buffer
		// Two environments: the pause is decided once in the state table.
		ap, err := local(ctx, localFlags{seed: 1, autoPause: "on", environments: 2, redeliver: -1, logPath: filepath.Join(dir, "autopause.log")}, &aout)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ap.checks {
			if !c.OK {
				t.Errorf("check failed: %s", c.Text)
			}
		}
		sum := summarize(ap)
		if len(sum.Pauses) != 1 || sum.Pauses[0].ConfigurationSet != scenario.ConfigurationSetNews || sum.Pauses[0].Outcome != "paused" ||
			sum.Pauses[0].Rates.AccountBounceRate >= 0.05 || sum.Pauses[0].Rates.Sends == 0 {
			t.Errorf("summary pauses %+v, want one of %s with the account below 5%%", sum.Pauses, scenario.ConfigurationSetNews)
		}
		// The bar: the first forecast before critical within a
		// factor of 2 of the time critical actually took.
		if f := sum.Forecasts; f == nil || f.Ratio < 0.5 || f.Ratio > 2 || !f.ForecastAt.Before(f.CriticalAt) {
			t.Errorf("summary forecasts %+v, want the first forecast before critical within a factor of 2 of the actual time", f)
		}
		if t.Failed() {
			t.Logf("output with auto-pause on:\n%s", aout.String())
		}
	})
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}

	t.Run("browser", func(t *testing.T) { checkReportInBrowser(t, reportPath) })
}

func mergeKeys(a, b map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// checkReportInBrowser loads report.html in headless Chromium and checks
// the charts rendered (the SVG elements are in the DOM Chromium built) and
// that the page logged no console errors.
func checkReportInBrowser(t *testing.T, path string) {
	bin := "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("chromium"); err == nil {
			bin = p
		} else {
			t.Skip("Chromium is not installed (.ci/run installs Debian's chromium at /usr/bin/chromium); report.html not checked in a browser")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := stdout.String()
	for _, want := range []string{`id="bounce-svg"`, `id="complaint-svg"`, `class="series"`, `class="threshold threshold-critical"`,
		`class="alert-marker level-critical"`, `id="diagnoses"`, `reject.region-mismatch`,
		// The short story's newsletter domain is forecast an hour before
		// it turns critical: drawn past that evaluation (issue 13).
		`class="forecast-line"`, `class="forecast-band"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	// Each series is a polyline with a point per evaluation: at least two,
	// every one a pair of numbers.
	series := regexp.MustCompile(`<polyline class="series"[^>]*points="([^"]*)"`).FindAllStringSubmatch(dom, -1)
	if len(series) == 0 {
		t.Error("rendered DOM has no series polyline")
	}
	for _, m := range series {
		pts := strings.Fields(m[1])
		if len(pts) < 2 {
			t.Errorf("a series has %d points, want at least 2: %q", len(pts), m[1])
		}
		for _, p := range pts {
			x, y, ok := strings.Cut(p, ",")
			if _, err := strconv.ParseFloat(x, 64); err != nil || !ok {
				t.Errorf("series point %q is not x,y", p)
				break
			}
			if _, err := strconv.ParseFloat(y, 64); err != nil {
				t.Errorf("series point %q is not x,y", p)
				break
			}
		}
	}
	// No external assets: nothing for the browser to fetch (a failed fetch
	// would not reach the console log).
	if m := regexp.MustCompile(`(?:src|href)="(?:https?:)?//[^"]*"`).FindString(dom); m != "" {
		t.Errorf("report.html references an external asset: %s", m)
	}
	// The page has no script, so anything on its console (Chromium logs
	// console.error and uncaught exceptions alike as INFO:CONSOLE) is a
	// fault.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console output: %s", line)
		}
	}
}

// alertTrace is what two replays of one seed must agree on: each alert's
// simulated time, kind, level, rule, identity, Region, scope and count,
// sorted: records of one SQS batch are processed concurrently, so alerts
// of one batch may come in any order.
func alertTrace(as []localstack.FiredAlert) string {
	lines := make([]string, len(as))
	for i, a := range as {
		lines[i] = fmt.Sprintf("%s %s/%s %s %s %s %s ×%d\n", a.Sim.Format("01-02 15:04"), a.Alert.Kind, a.Alert.Level, a.Alert.Rule,
			a.Alert.Identity, a.Alert.Region, a.Alert.Scope, a.Alert.Count)
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

// checkCompactOutput: the default (piped) output of `sesguard local` is a
// story a person reads: at most 120 lines of at most 100 columns, each
// stage on a line with the time elapsed, one line per alert.
func checkCompactOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 120 {
		t.Errorf("output has %d lines, want at most 120", len(lines))
	}
	for i, l := range lines {
		if n := len([]rune(l)); n > outputWidth {
			t.Errorf("line %d has %d columns, want at most %d: %q", i+1, n, outputWidth, l)
		}
	}
	stage := regexp.MustCompile(`^\[ *\d+\.\ds\] `)
	var stages []string
	for _, l := range lines {
		if stage.MatchString(l) {
			stages = append(stages, stage.ReplaceAllString(l, ""))
		}
	}
	for _, want := range []string{"building the bootstraps", "starting the stack", "stack up:", "replaying", "replay done", "total wall time"} {
		if !slices.ContainsFunc(stages, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("no stage line %q in the output; stage lines: %q", want, stages)
		}
	}
	if strings.Contains(out, "│") {
		t.Error("alerts printed in full without --verbose")
	}
}

// TestStagesProgress: a stage that runs longer than the progress interval
// prints progress lines while it runs when the output is not a terminal.
// The stage waits for two progress lines instead of for a time.
func TestStagesProgress(t *testing.T) {
	pw := &progressWriter{seen: make(chan string, 16)}
	st := &stages{out: &lockedWriter{w: pw}, began: time.Now(), every: time.Millisecond}
	err := st.during(func() string { return "42 events" }, func() error {
		for range 2 {
			if l := <-pw.seen; !strings.Contains(l, "… 42 events") {
				return fmt.Errorf("progress line %q", l)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A terminal gets no progress lines (it redraws one line instead).
	var b bytes.Buffer
	live := &stages{out: &b, began: time.Now(), live: true, every: time.Millisecond}
	_ = live.during(func() string { return "x" }, func() error { return nil })
	if b.Len() != 0 {
		t.Errorf("terminal output got %q", b.String())
	}
}

type progressWriter struct{ seen chan string }

func (p *progressWriter) Write(b []byte) (int, error) {
	select {
	case p.seen <- string(b):
	default:
	}
	return len(b), nil
}
