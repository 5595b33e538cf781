package bouncewatch

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/reputation"
)

var alertLevels = map[reputation.Level]alert.Level{
	reputation.OK:        alert.LevelOK,
	reputation.Warning:   alert.LevelWarning,
	reputation.Critical:  alert.LevelCritical,
	reputation.PauseRisk: alert.LevelPauseRisk,
}

// rateAlert builds the alert for a level change of one scope's bounce or
// complaint rate.
func (h *Handler) rateAlert(rep *Report, sr *ScopeReport, kind string) alert.Alert {
	a, prev, th := sr.Bounce, sr.PrevBounce, h.cfg.Rates.Bounce
	what, events, sesName, ses := "Bounce", "hard bounces", metrics.SESBounceRate, rep.SESBounceRate
	if kind == metrics.KindComplaint {
		a, prev, th = sr.Complaint, sr.PrevComplaint, h.cfg.Rates.Complaint
		what, events, sesName, ses = "Complaint", "complaints", metrics.SESComplaintRate, rep.SESComplaintRate
	}
	where := scopeText(sr.Scope)
	var title string
	switch {
	case a.Level > prev:
		title = fmt.Sprintf("%s rate %s is %s (>= %s) for %s", what, reputation.FormatRate(a.Rate), a.Level, th.For(a.Level), where)
	case a.Level == reputation.OK:
		title = fmt.Sprintf("%s rate recovered to ok: %s (< %s) for %s", what, reputation.FormatRateBelow(a.Rate, th.Warning), th.Warning, where)
	default:
		title = fmt.Sprintf("%s rate recovered to %s: %s (< %s) for %s", what, a.Level, reputation.FormatRateBelow(a.Rate, th.For(a.Level+1)), th.For(a.Level+1), where)
	}
	out := alert.Alert{
		Kind:   alert.KindRate,
		Level:  alertLevels[a.Level],
		Title:  title,
		Rule:   kind + "-rate",
		Region: h.cfg.Region,
		Scope:  sr.Scope.String(),
		Count:  1,
		Summary: fmt.Sprintf("%s %s out of %s eligible sends in the last %s (was %s).",
			group(a.Events), events, group(a.Sends), windowText(h.cfg.Window), prev),
		Time:   rep.Time,
		Source: Source,
	}
	conf := h.cfg.Rates.ConfidencePercent()
	out.Figures = []alert.Figure{
		alert.Num("Rate", a.Rate, reputation.FormatRate(a.Rate)),
		alert.Num("Sample", float64(a.Sends), group(a.Sends)+" sends"),
		alert.Num("Bound", a.Lower, fmt.Sprintf("%s (%g%% lower bound; upper %s)", reputation.FormatRate(a.Lower), conf, reputation.FormatRate(a.Upper))),
	}
	if a.Headroom >= 0 {
		out.Figures = append(out.Figures, alert.Num("Headroom", float64(a.Headroom),
			fmt.Sprintf("%s more %s at this volume reach %s", group(a.Headroom), events, th.Critical)))
	}
	if kind == metrics.KindBounce && sr.Forecast != nil {
		out.Figures = append(out.Figures, forecastFigure(sr.Forecast))
	}
	if ses != nil && sr.Scope.Type == metrics.ScopeAccount {
		out.Figures = append(out.Figures, alert.Num("SES "+sesName, *ses, reputation.FormatRate(*ses)))
	} else if sr.Scope.Type == metrics.ScopeAccount {
		out.Figures = append(out.Figures, alert.Figure{Name: "SES " + sesName, Value: "not available"})
	}
	c := counterFor(kind)
	if top, n := h.topContributor(rep, c); n > 0 && sr.Scope.Type == metrics.ScopeAccount {
		out.Figures = append(out.Figures, alert.Num("Top scope", float64(n), fmt.Sprintf("%s (%s of %s %s)", top, group(n), group(sr.Counts[c]), events)))
	}
	if kind == metrics.KindBounce {
		out.Figures = append(out.Figures, alert.Figure{Name: "Not counted", Value: fmt.Sprintf("%s soft, %s on the account suppression list, %s mailbox simulator",
			group(sr.Counts[cSoftBounces]), group(sr.Counts[cSuppressedBounces]), group(sr.Counts[cSimulator]))})
	}

	if a.Note != "" {
		out.Evidence = append(out.Evidence, "Not announced higher: "+a.Note+".")
	}
	if a.Held {
		out.Evidence = append(out.Evidence, fmt.Sprintf("Level held from the previous run while the rate stays at or above %s.", th.For(a.Level)))
	}
	if kind == metrics.KindBounce && sr.Scope.Type == metrics.ScopeAccount {
		for _, r := range topRules(sr.ruleCounts, 3) {
			out.Evidence = append(out.Evidence, fmt.Sprintf("Top bounce rule %s: %s in the window", r.rule, group(int64(r.n))))
		}
	}
	if acct := rep.Account; acct != nil && sr.Scope.Type == metrics.ScopeAccount {
		out.Evidence = append(out.Evidence, fmt.Sprintf("SES account: enforcement status %s, sending enabled %t.", acct.EnforcementStatus, acct.SendingEnabled))
	}
	if a.Level > prev && a.Level >= reputation.Warning {
		out.Fix = fixFor(kind, h.cfg.Region)
	}
	return out
}

func fixFor(kind, region string) []string {
	if kind == metrics.KindComplaint {
		return []string{
			"Stop sending to complainers; check they are suppressed:",
			"aws sesv2 list-suppressed-destinations --reasons COMPLAINT --region " + region,
			"Review recent campaigns and list sources; make unsubscribing one click.",
		}
	}
	return []string{
		"Stop sending to addresses that hard-bounced; check they are suppressed:",
		"aws sesv2 list-suppressed-destinations --reasons BOUNCE --region " + region,
		"Find where the bad addresses come from (top rules and scope above); validate addresses at signup.",
	}
}

// divergenceAlert says our event-derived bounce rate and SES's own figure
// disagree (or agree again): events are going missing, or stopped doing so.
func (h *Handler) divergenceAlert(rep *Report, sr *ScopeReport) alert.Alert {
	ours := reputation.FormatRate(sr.Bounce.Rate)
	out := alert.Alert{
		Kind:   alert.KindDivergence,
		Rule:   "bounce-rate",
		Region: h.cfg.Region,
		Scope:  sr.Scope.String(),
		Count:  1,
		Time:   rep.Time,
		Source: Source,
	}
	ses := "not available"
	if rep.SESBounceRate != nil {
		ses = reputation.FormatRate(*rep.SESBounceRate)
		out.Figures = append(out.Figures, alert.Num("SES "+metrics.SESBounceRate, *rep.SESBounceRate, ses))
	}
	out.Figures = append([]alert.Figure{
		alert.Num("Rate", sr.Bounce.Rate, ours),
		alert.Num("Sample", float64(sr.Bounce.Sends), group(sr.Bounce.Sends)+" sends"),
	}, out.Figures...)
	out.Figures = append(out.Figures, alert.Figure{Name: "Margin", Value: h.cfg.DivergenceMargin.String() + " points"})
	if sr.Diverging {
		out.Level = alert.LevelWarning
		out.Title = fmt.Sprintf("Bounce events may be missing: our rate %s, SES says %s", ours, ses)
		out.Summary = fmt.Sprintf("Our bounce rate from SES events and SES's %s differ by more than %s points over %s eligible sends in the last %s.",
			metrics.SESBounceRate, h.cfg.DivergenceMargin, group(sr.Bounce.Sends), windowText(h.cfg.Window))
		out.Evidence = []string{"SES averages over a 'representative volume', not a fixed window; a lasting gap usually means events do not reach bouncewatch."}
		out.Fix = []string{
			"Check the configuration set's event destination publishes SEND, BOUNCE, COMPLAINT and DELIVERY to the SesEvents topic:",
			"aws sesv2 get-configuration-set-event-destinations --configuration-set-name <name> --region " + h.cfg.Region,
			"Check that every sender uses the configuration set (a default configuration set on the identity helps).",
		}
	} else {
		out.Level = alert.LevelOK
		out.Title = fmt.Sprintf("Bounce rates agree again: our rate %s, SES says %s", ours, ses)
		out.Summary = fmt.Sprintf("The gap is back within %s points (or there is too little volume or no SES figure to compare).", h.cfg.DivergenceMargin)
	}
	return out
}

func counterFor(kind string) counter {
	if kind == metrics.KindComplaint {
		return cComplaints
	}
	return cHardBounces
}

// topContributor returns the non-account scope with the largest count c.
func (h *Handler) topContributor(rep *Report, c counter) (string, int64) {
	var best *ScopeReport
	for _, sr := range rep.Scopes[1:] {
		if sr.Counts[c] > 0 && (best == nil || sr.Counts[c] > best.Counts[c]) {
			best = sr
		}
	}
	if best == nil {
		return "", 0
	}
	return best.Scope.String(), best.Counts[c]
}

type ruleCount struct {
	rule string
	n    float64
}

func topRules(counts map[string]float64, k int) []ruleCount {
	var rs []ruleCount
	for r, n := range counts {
		if n > 0 {
			rs = append(rs, ruleCount{r, n})
		}
	}
	slices.SortFunc(rs, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.rule, b.rule))
	})
	return rs[:min(k, len(rs))]
}

func scopeText(s Scope) string {
	if s.Type == metrics.ScopeAccount {
		return "the account in " + s.Name
	}
	return s.String()
}

// group formats n with thousands separators: 12,345.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func windowText(d interface{ Hours() float64 }) string {
	h := d.Hours()
	if h == math.Trunc(h) {
		return strconv.FormatFloat(h, 'f', 0, 64) + "h"
	}
	return strconv.FormatFloat(h*60, 'f', 0, 64) + "m"
}
