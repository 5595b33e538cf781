package reputation

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Pace is what was sent and what bounced (or was complained about) over
// the most recent Span of the window.
type Pace struct {
	Sends, Events int64
	Span          time.Duration
}

// Forecast says when, at the recent pace, a trailing-window rate would
// reach the next of the Critical and PauseRisk thresholds.
type Forecast struct {
	Target    Level // Critical or PauseRisk
	Threshold PPM
	// Hours is the time to Threshold at the recent pace's point fraction;
	// Soonest and Latest are the times at the upper and lower ends of the
	// Wilson interval on that fraction. Latest is +Inf when the lower end
	// stays below Threshold (the rate may never get there).
	Hours, Soonest, Latest float64
	// Recent is the recent pace's bounce fraction with its interval.
	Recent, RecentLower, RecentUpper float64
	PaceSends                        int64
	PaceSpan                         time.Duration
}

// Project forecasts the window rate events/sends (over window) forward from
// pace. The model: over the next window, events and sends arrive at pace's
// per-hour rates while the window's current contents leave it evenly (at
// their own average per-hour rates), so after one window the rate is the
// recent fraction. Under that model the window rate at t hours is
//
//	(E + (e - E/W) t) / (S + (s - S/W) t)
//
// and it reaches threshold τ at t = (τS - E) / ((e - τs) - (τS - E)/W),
// which lies within one window exactly when the recent fraction e/s is at
// or above τ. A window whose history was sent at an even pace, followed by
// an even recent pace, is exactly this model.
//
// There is no forecast (ok false) below the sample that gates critical
// alerts (c.MinSends in the window, c.MinSendsWarning() in the recent
// span), when the rate is already at the pause-risk threshold, or when
// the recent fraction does not reach the next threshold.
func Project(events, sends int64, window time.Duration, pace Pace, th Thresholds, c Config) (Forecast, bool) {
	if sends < c.MinSends || pace.Sends < c.MinSendsWarning() || pace.Span <= 0 || window <= 0 {
		return Forecast{}, false
	}
	f := Forecast{Target: Critical, PaceSends: pace.Sends, PaceSpan: pace.Span}
	if Reaches(events, sends, th.Critical) {
		f.Target = PauseRisk
	}
	if Reaches(events, sends, th.PauseRisk) {
		return Forecast{}, false
	}
	f.Threshold = th.For(f.Target)
	f.Recent = float64(min(max(pace.Events, 0), pace.Sends)) / float64(pace.Sends)
	f.RecentLower, f.RecentUpper = Wilson(pace.Events, pace.Sends, c.Z)
	spanH := pace.Span.Hours()
	s := float64(pace.Sends) / spanH
	at := func(frac float64) float64 {
		return HoursToReach(float64(events), float64(sends), window.Hours(), frac*s, s, f.Threshold.Fraction())
	}
	f.Hours = at(f.Recent)
	if math.IsInf(f.Hours, 1) {
		return Forecast{}, false
	}
	f.Soonest, f.Latest = at(f.RecentUpper), at(f.RecentLower)
	return f, true
}

// forecastJSON is a Forecast on the wire: the level by name, the pace's
// span in hours, and an open range's Latest as null.
type forecastJSON struct {
	Target      string   `json:"target"`
	Threshold   PPM      `json:"thresholdPPM"`
	Hours       float64  `json:"hours"`
	Soonest     float64  `json:"soonestHours"`
	Latest      *float64 `json:"latestHours"`
	Recent      float64  `json:"recent"`
	RecentLower float64  `json:"recentLower"`
	RecentUpper float64  `json:"recentUpper"`
	PaceSends   int64    `json:"paceSends"`
	PaceHours   float64  `json:"paceHours"`
	// Text is written for readers of the report; UnmarshalJSON ignores it
	// (it is derived from the rest).
	Text string `json:"text"`
}

// MarshalJSON writes f with its level by name and an open range's Latest
// as null (JSON has no infinity: encoding +Inf fails, and with it a whole
// evaluation report).
func (f Forecast) MarshalJSON() ([]byte, error) {
	var latest *float64
	if !math.IsInf(f.Latest, 1) {
		latest = &f.Latest
	}
	return json.Marshal(forecastJSON{f.Target.String(), f.Threshold, f.Hours, f.Soonest, latest, f.Recent, f.RecentLower, f.RecentUpper, f.PaceSends, f.PaceSpan.Hours(), f.Text()})
}

// UnmarshalJSON reads what MarshalJSON writes (a null Latest is +Inf), so
// that an evaluation report read back (sesguard local reads bouncewatch's
// responses) keeps its forecasts instead of failing to decode.
func (f *Forecast) UnmarshalJSON(b []byte) error {
	var in forecastJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("forecast: %w", err)
	}
	target, err := ParseLevel(in.Target)
	if err != nil {
		return fmt.Errorf("forecast: target: %w", err)
	}
	latest := math.Inf(1)
	if in.Latest != nil {
		latest = *in.Latest
	}
	*f = Forecast{Target: target, Threshold: in.Threshold, Hours: in.Hours, Soonest: in.Soonest, Latest: latest,
		Recent: in.Recent, RecentLower: in.RecentLower, RecentUpper: in.RecentUpper, PaceSends: in.PaceSends,
		PaceSpan: time.Duration(in.PaceHours * float64(time.Hour))}
	return nil
}

// HoursToReach is the model of Project in numbers: the window (W hours)
// holds E events out of S sends, new events and sends arrive at e and s per
// hour; it returns the hours until E/S reaches tau, 0 if it already has,
// and +Inf if it does not within one window (e < tau*s).
func HoursToReach(E, S, W, e, s, tau float64) float64 {
	gap := tau*S - E // events short of the threshold now
	if gap <= 0 {
		return 0
	}
	climb := e - tau*s // events per hour above the threshold's share of new sends
	if climb < 0 {
		return math.Inf(1)
	}
	den := climb + gap/W
	return gap / den
}

// SESBounce are SES's own bounce-rate figures (reputationdashboardmessages.md:
// "If your bounce rate is 5% or greater, we automatically place your
// account under review. If your bounce rate is 10% or greater, we might
// pause…"; faqs-enforcement.md: "maintain a bounce rate below 2%").
// sesguard's thresholds default to them but are configurable; the
// forecast quotes SES's.
var SESBounce = Thresholds{Warning: 20_000, Critical: 50_000, PauseRisk: 100_000}

// SESWords is what SES says it may do at the level's SES threshold:
// "SES may review at 5%", "SES may pause at 10%".
func SESWords(l Level) string {
	switch l {
	case Critical:
		return "SES may review at " + SESBounce.Critical.String()
	case PauseRisk:
		return "SES may pause at " + SESBounce.PauseRisk.String()
	}
	return ""
}

// Text is the forecast in one line: "at this pace: 5% in about 3 h
// (2–5 h); SES may review at 5%" (Phrase, then what SES says of the
// threshold).
func (f Forecast) Text() string {
	return "at this pace: " + f.Phrase() + "; " + SESWords(f.Target)
}

// Phrase is the forecast's own words: "5% in about 3 h (2–5 h)". When the
// low end of the interval on the recent fraction stays below the
// threshold, the range is open: "(2 h or later)". A threshold other than
// SES's is named as sesguard's.
func (f Forecast) Phrase() string {
	rng := FormatHours(f.Soonest) + "–" + FormatHours(f.Latest)
	if math.IsInf(f.Latest, 1) {
		rng = FormatHours(f.Soonest) + " or later"
	}
	what := f.Threshold.String()
	if f.Threshold != SESBounce.For(f.Target) {
		what += " (sesguard's " + f.Target.String() + " threshold)"
	}
	return fmt.Sprintf("%s in about %s (%s)", what, FormatHours(f.Hours), rng)
}

// FormatHours formats a duration in hours for a person: "40 min", "1.5 h",
// "3 h".
func FormatHours(h float64) string {
	switch {
	case math.IsInf(h, 1):
		return "never"
	case h < 1:
		return strconv.Itoa(int(math.Max(1, math.Round(h*60)))) + " min"
	case h < 10:
		return strconv.FormatFloat(math.Round(h*10)/10, 'f', -1, 64) + " h"
	}
	return strconv.FormatFloat(math.Round(h), 'f', 0, 64) + " h"
}
