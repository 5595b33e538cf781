package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/report"
	"github.com/sesguard/sesguard/internal/reputation"
	"github.com/sesguard/sesguard/internal/scenario"
)

// localSummary is `sesguard local --summary-json`: what a run did, in a
// form two runs can be compared by (the same seed with one and with N
// execution environments must agree on alerts, alertsByKey,
// failuresCounted and suppressions, and lose nothing).
type localSummary struct {
	// Events is the number of events the scenario published.
	Events int `json:"events"`
	// Alerts is the number of alerts on the alerts topic.
	Alerts int `json:"alerts"`
	// AlertsByKey counts the alerts per key (alertKey).
	AlertsByKey map[string]int `json:"alertsByKey"`
	// FailuresCounted is the sum of triage's Failures metric.
	FailuresCounted int `json:"failuresCounted"`
	// Counted is what bouncewatch counted for the account (its Sends,
	// HardBounces and Complaints metrics): a duplicate delivery counted
	// twice shows here.
	Counted map[string]int `json:"counted"`
	// Suppressions is the number of PutSuppressedDestination calls (not of
	// distinct addresses: a duplicate suppression shows).
	Suppressions int `json:"suppressions"`
	// Lost is the number of events a function never processed: published
	// to a source's topic, neither processed nor filtered out by the
	// subscription's policy (dead-lettered, discarded or still queued).
	Lost int `json:"lost"`
	// Environments is the execution environments per function.
	Environments map[string]int `json:"environments"`
	// Redelivered is the number of messages delivered a second time, per
	// function.
	Redelivered map[string]int `json:"redelivered"`
	// Pauses are auto-pause's decisions that were carried out or, in
	// dry-run, announced (issue 13).
	Pauses []summaryPause `json:"pauses"`
	// Forecasts: the first forecast of the critical threshold made before
	// a scope's bounce rate reached critical, and the time it actually
	// took (nil: no scope reached critical after a forecast).
	Forecasts *summaryForecast `json:"forecasts"`
}

type summaryPause struct {
	ConfigurationSet string    `json:"configurationSet"`
	Outcome          string    `json:"outcome"`
	SimulatedTime    time.Time `json:"simulatedTime"`
	Rates            pauseRate `json:"rates"`
}

type pauseRate struct {
	Kind   string  `json:"kind"`
	Rate   float64 `json:"rate"`
	Lower  float64 `json:"lower"`
	Events int64   `json:"events"`
	Sends  int64   `json:"sends"`
	// AccountBounceRate is the account's bounce rate in the same
	// evaluation (SES reviews an account at 5%).
	AccountBounceRate float64 `json:"accountBounceRate"`
}

type summaryForecast struct {
	Scope string `json:"scope"`
	// ForecastAt is the simulated time of the first forecast; Hours its
	// time to critical, Soonest and Latest its range (Latest null: open,
	// the low end of the interval never gets there); Text as alerts say it.
	ForecastAt time.Time `json:"forecastAt"`
	Hours      float64   `json:"hours"`
	Soonest    float64   `json:"soonestHours"`
	Latest     *float64  `json:"latestHours"`
	Text       string    `json:"text"`
	phrase     string    // Text's own words, for the story
	// CriticalAt is the first evaluation at critical; ActualHours the time
	// from the forecast to it; Ratio Hours/ActualHours (the bar:
	// within a factor of 2).
	CriticalAt  time.Time `json:"criticalAt"`
	ActualHours float64   `json:"actualHours"`
	Ratio       float64   `json:"ratio"`
}

// String is the forecast in the story (after "Forecast: ").
func (f *summaryForecast) String() string {
	return fmt.Sprintf("at %s for %s, %s; critical came at %s, %s later (forecast/actual %.2f)",
		f.ForecastAt.Format("15:04"), f.Scope, f.phrase, f.CriticalAt.Format("15:04"),
		reputation.FormatHours(f.ActualHours), f.Ratio)
}

// alertKey is what alertsByKey counts by: kind and level, then what makes
// the alert's subject (a diagnosis's rule, identity and Region, which is
// triage's storm key; a rate alert's rule and scope).
func alertKey(a alert.Alert) string {
	k := string(a.Kind) + "/" + string(a.Level) + " " + a.Rule
	if a.Kind == alert.KindDiagnosis {
		return k + " " + a.Identity + " " + a.Region
	}
	return k + " " + a.Scope
}

func summarize(lr *localResult) *localSummary {
	res := lr.res
	s := &localSummary{AlertsByKey: map[string]int{}, Environments: map[string]int{}, Redelivered: map[string]int{},
		Pauses: []summaryPause{}}
	for _, n := range res.Published {
		s.Events += n
	}
	s.Alerts = len(res.Alerts)
	for _, a := range res.Alerts {
		s.AlertsByKey[alertKey(a.Alert)]++
	}
	for _, n := range diagnosesByRule(res) {
		s.FailuresCounted += n
	}
	s.Counted = map[string]int{}
	for _, m := range res.Metrics {
		switch metrics.Name(m.Name) {
		case metrics.Sends, metrics.HardBounces, metrics.Complaints:
			if slices.Contains(m.Dimensions, string(metrics.DimScopeType)+"="+metrics.ScopeAccount) {
				s.Counted[m.Name] += int(m.Sum)
			}
		}
	}
	s.Suppressions = len(lr.stack.SES.Suppressions())
	for _, src := range lr.stack.Sources {
		st := res.Sources[src.Name()]
		s.Lost += max(0, publishedTo(src, res)-st.Processed-st.Filtered)
		s.Redelivered[shortFunction(src.Function.LogicalID)] += st.Redelivered
	}
	for id, fn := range lr.stack.Functions {
		s.Environments[shortFunction(id)] = fn.EnvironmentCount()
	}
	for _, ev := range res.Evaluations {
		acct := 0.0
		for _, sc := range ev.Report.Scopes {
			if sc.Scope.Type == metrics.ScopeAccount {
				acct = ratio(sc.Counts.Get(metrics.HardBounces), sc.Counts.Eligible())
			}
		}
		for _, p := range ev.Report.Pauses {
			if p.Skipped != "" || p.Outcome != "paused" && p.Outcome != "would-pause" {
				continue
			}
			s.Pauses = append(s.Pauses, summaryPause{ConfigurationSet: p.ConfigurationSet, Outcome: p.Outcome, SimulatedTime: ev.Sim,
				Rates: pauseRate{Kind: p.Kind, Rate: p.Rate, Lower: p.Lower, Events: p.Events, Sends: p.Sends, AccountBounceRate: acct}})
		}
	}
	s.Forecasts = firstForecast(res.Evaluations)
	return s
}

// firstForecast finds the first scope whose bounce level reached critical
// and the first forecast of the critical threshold for it before then.
func firstForecast(evs []localstack.Evaluation) *summaryForecast {
	type seen struct {
		at time.Time
		f  *reputation.Forecast
	}
	first := map[string]seen{}
	for _, ev := range evs {
		for _, sc := range ev.Report.Scopes {
			key := sc.Scope.String()
			lvl, _ := reputation.ParseLevel(sc.BounceLevel)
			if lvl >= reputation.Critical {
				f, ok := first[key]
				if !ok {
					continue
				}
				out := &summaryForecast{Scope: key, ForecastAt: f.at, Hours: f.f.Hours, Soonest: f.f.Soonest, Text: f.f.Text(), phrase: f.f.Phrase(),
					CriticalAt: ev.Sim, ActualHours: ev.Sim.Sub(f.at).Hours()}
				if out.ActualHours > 0 {
					out.Ratio = out.Hours / out.ActualHours
				}
				if !math.IsInf(f.f.Latest, 1) {
					out.Latest = &f.f.Latest
				}
				return out
			}
			if _, ok := first[key]; !ok && sc.Forecast != nil && sc.Forecast.Target == reputation.Critical {
				first[key] = seen{ev.Sim, sc.Forecast}
			}
		}
	}
	return nil
}

func shortFunction(id string) string {
	switch id {
	case "TriageFunction":
		return "triage"
	case "BouncewatchFunction":
		return "bouncewatch"
	}
	return id
}

func writeSummary(path string, lr *localResult) error {
	b, err := json.MarshalIndent(summarize(lr), "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
}

// verifyAutoPause checks the auto-pause story (issue 13): exactly one
// decision, about the newsletter's set and none about the healthy one,
// made while the account's bounce rate was still below SES's 5% review
// threshold; with on, the local SES saw exactly that set turned off and
// its sends stopped while the healthy set's went on; with dry-run,
// nothing was turned off; SES's injected enforcement change announced
// once.
func verifyAutoPause(mode string, sc *scenario.Scenario, st *localstack.Stack, res *localstack.Result) []report.Check {
	var cs []report.Check
	add := func(ok bool, format string, a ...any) {
		cs = append(cs, report.Check{OK: ok, Text: fmt.Sprintf(format, a...)})
	}
	want := map[string]string{"on": "paused", "dry-run": "would-pause"}[mode]
	review := reputation.DefaultConfig().Bounce.Critical.Fraction()
	type decision struct {
		set, outcome string
		eval         int
	}
	var ds []decision
	for i, ev := range res.Evaluations {
		for _, p := range ev.Report.Pauses {
			if p.Skipped == "" && (p.Outcome == "paused" || p.Outcome == "would-pause") {
				ds = append(ds, decision{p.ConfigurationSet, p.Outcome, i})
			}
		}
	}
	scope := func(ev localstack.Evaluation, typ, name string) (sends, hard int64) {
		for _, s := range ev.Report.Scopes {
			if s.Scope.Type == typ && (name == "" || s.Scope.Name == name) {
				return s.Counts.Eligible(), s.Counts.Get(metrics.HardBounces)
			}
		}
		return 0, 0
	}
	if want == "" {
		add(len(ds) == 0, "auto-pause off: %d pause decisions", len(ds))
	} else {
		ok := len(ds) == 1 && ds[0].set == scenario.ConfigurationSetNews && ds[0].outcome == want
		add(ok, "auto-pause %s: one decision (%s) about %s, none about %s: got %v", mode, want, scenario.ConfigurationSetNews, scenario.ConfigurationSet, ds)
		if len(ds) > 0 {
			worst := 0.0
			for _, ev := range res.Evaluations[:ds[0].eval+1] {
				s, h := scope(ev, metrics.ScopeAccount, "")
				worst = max(worst, ratio(h, s))
			}
			add(worst < review, "the decision came (simulated %s) before the account's bounce rate reached %s: highest until then %s",
				res.Evaluations[ds[0].eval].Sim.Format("15:04"), reputation.FormatRate(review), reputation.FormatRate(worst))
		}
	}
	changes := st.SES.SendingChanges()
	switch mode {
	case "on":
		ok := len(changes) == 1 && changes[0].ConfigurationSet == scenario.ConfigurationSetNews && !changes[0].SendingEnabled
		add(ok && len(res.Paused) == 1, "the local SES saw one PutConfigurationSetSendingOptions, %s off: %+v", scenario.ConfigurationSetNews, changes)
		if len(ds) == 1 && len(res.Evaluations) > ds[0].eval+1 {
			at, last := res.Evaluations[ds[0].eval], res.Evaluations[len(res.Evaluations)-1]
			ns0, _ := scope(at, metrics.ScopeConfigurationSet, scenario.ConfigurationSetNews)
			ns1, _ := scope(last, metrics.ScopeConfigurationSet, scenario.ConfigurationSetNews)
			hs0, _ := scope(at, metrics.ScopeConfigurationSet, scenario.ConfigurationSet)
			hs1, _ := scope(last, metrics.ScopeConfigurationSet, scenario.ConfigurationSet)
			add(ns1 == ns0 && hs1 > hs0 && res.Held[scenario.ConfigurationSetNews] > 0,
				"after the pause %s sent nothing (sends %d then %d; %d events held back) while %s went on (%d then %d)",
				scenario.ConfigurationSetNews, ns0, ns1, res.Held[scenario.ConfigurationSetNews], scenario.ConfigurationSet, hs0, hs1)
		}
	case "dry-run":
		add(len(changes) == 0 && len(res.Paused) == 0, "dry-run: nothing turned off (%d PutConfigurationSetSendingOptions calls)", len(changes))
	}
	n := 0
	for _, a := range res.Alerts {
		if a.Alert.Kind == alert.KindEnforcement {
			n++
		}
	}
	add(n == 1, "SES's enforcement status change (%s, injected) announced once: %d enforcement alerts", strings.Join(res.Injected, "; "), n)
	return cs
}

// pausedExpect is the story's expectations once a pause held back the
// events at held: the addresses suppressed are those of the events sent,
// and the rate alerts end at the critical one (what followed it was the
// newsletter's clean afternoon diluting the rate, not sent now).
func pausedExpect(sc *scenario.Scenario, held []int) *scenario.Expect {
	e := *sc.Expect
	skip := map[int]bool{}
	for _, i := range held {
		skip[i] = true
	}
	seen := map[string]bool{}
	for i, ev := range sc.Events {
		if !skip[i] {
			for _, a := range scenario.Suppressible(ev) {
				seen[a] = true
			}
		}
	}
	e.Suppressions = len(seen)
	e.Alerts = nil
	for _, a := range sc.Expect.Alerts {
		e.Alerts = append(e.Alerts, a)
		if a.Kind == string(alert.KindRate) && a.Level == "critical" {
			break
		}
	}
	return &e
}

// publishedTo is the number of events published to the topics feeding
// src's queue.
func publishedTo(src *localstack.Source, res *localstack.Result) int {
	if len(src.Queue.Topics) > 1 {
		n := 0
		for _, t := range src.Queue.Topics {
			n += res.Published[t]
		}
		return n
	}
	return res.Published[src.Queue.Topic]
}
