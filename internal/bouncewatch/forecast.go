package bouncewatch

import (
	"math"
	"time"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/reputation"
)

// maxPaceSpan bounds the recent span the forecast's pace is measured over
// (the current, partial bucket comes on top: one to two hours with a 24h
// window's hourly buckets). Bounces arrive in a burst in the hour after a
// bad send; over three hours that burst is diluted: in the stale-list
// story (TestStaleListForecast, seed 1) a 3h span forecast 2.8 h for a
// rise that took 0.5 h, one hour 41 min.
const maxPaceSpan = time.Hour

// counterPeriodFor is the period the window's counters are read with:
// five minutes, or an hour for windows of three hours and more (fewer
// datapoints per GetMetricData call).
func counterPeriodFor(window time.Duration) time.Duration {
	if window >= 3*time.Hour {
		return time.Hour
	}
	return 5 * time.Minute
}

// recentPace sums sr's eligible sends and hard bounces over the newest
// buckets of the window: whole periods covering about a quarter of the
// window (at most maxPaceSpan), plus the current, partial bucket, which is
// why Span runs to now from the start of the oldest bucket counted.
func recentPace(sr *ScopeReport, window time.Duration, now time.Time) reputation.Pace {
	period := counterPeriodFor(window)
	k := max(1, min(window/4, maxPaceSpan)/period)
	cutoff := now.Truncate(period).Add(-time.Duration(k) * period)
	count := func(c counter) int64 {
		s := &sr.series[c]
		var n float64
		for i, t := range s.ts {
			if !t.Before(cutoff) {
				n += s.vals[i]
			}
		}
		return int64(math.Round(n))
	}
	return reputation.Pace{
		Sends:  count(cSends) - count(cSuppressedBounces),
		Events: count(cHardBounces),
		Span:   now.Sub(cutoff),
	}
}

// forecast fills in each scope's bounce forecast (reputation.Project). It
// forecasts nothing while the account's rate and SES's own disagree beyond
// the divergence margin: then events are likely missing and every count
// is suspect. Like assess, it calls nothing and reads no clock.
func forecast(cfg Config, rep *Report) {
	if rep.Scopes[0].Diverging {
		return
	}
	for _, sr := range rep.Scopes {
		pace := recentPace(sr, cfg.Window, rep.Time)
		if f, ok := reputation.Project(sr.Bounce.Events, sr.Bounce.Sends, cfg.Window, pace, cfg.Rates.Bounce, cfg.Rates); ok {
			sr.Forecast = &f
		}
	}
}

// forecastFigure is the forecast as an alert figure (its number: hours).
func forecastFigure(f *reputation.Forecast) alert.Figure {
	return alert.Num("Forecast", f.Hours, f.Text()+" (recent "+reputation.FormatRate(f.Recent)+" of "+group(f.PaceSends)+" sends in the last "+windowText(f.PaceSpan)+")")
}
