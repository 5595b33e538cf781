package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/localstack"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
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
	// time to critical, Soonest and Latest its range (Latest -1: open).
	ForecastAt             time.Time `json:"forecastAt"`
	Hours, Soonest, Latest float64
	// CriticalAt is the first evaluation at critical; ActualHours the time
	// from the forecast to it; Ratio Hours/ActualHours.
	CriticalAt  time.Time `json:"criticalAt"`
	ActualHours float64   `json:"actualHours"`
	Ratio       float64   `json:"ratio"`
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
	s.Suppressions = len(lr.stack.SES.Suppressions())
	for _, src := range lr.stack.Sources {
		st := res.Sources[src.Name()]
		s.Lost += max(0, res.Published[src.Queue.Topic]-st.Processed-st.Filtered)
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
				out := &summaryForecast{Scope: key, ForecastAt: f.at, Hours: f.f.Hours, Soonest: f.f.Soonest, Latest: f.f.Latest,
					CriticalAt: ev.Sim, ActualHours: ev.Sim.Sub(f.at).Hours()}
				if out.ActualHours > 0 {
					out.Ratio = out.Hours / out.ActualHours
				}
				if out.Latest > 1e300 {
					out.Latest = -1
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
