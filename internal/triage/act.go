package triage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// ErrFactsUnavailable fails a record whose suppression decision needs
// account facts that could not be looked up (GetAccount throttled): the
// record is retried, and counted in metrics.FactsUnavailable.
var ErrFactsUnavailable = errors.New("account suppression settings unavailable (GetAccount failed); retrying")

// simulatorDomain is SES's mailbox simulator: its results are requested,
// and its addresses must never be suppressed.
const simulatorDomain = "@simulator.amazonses.com"

// suppress puts a hard-bouncing or complaining recipient on the account's
// suppression list in the failure's Region, when the rules ask for it
// (Diagnosis.Suppress) and the mode allows. It reports whether a call
// succeeded; its error is transient (the record should be retried).
func (h *Handler) suppress(ctx context.Context, d ruleset.Diagnosis, region string, fx *ruleset.Facts) (bool, error) {
	if d.Suppress == "" || h.cfg.SuppressMode == SuppressOff || h.d.Suppressors == nil {
		return false, nil
	}
	addr := d.Identity
	if !strings.Contains(addr, "@") || strings.HasSuffix(strings.ToLower(addr), simulatorDomain) {
		return false, nil
	}
	if d.Region != "" {
		region = d.Region
	}
	if region == "" {
		h.d.Log.WarnContext(ctx, "suppression skipped: Region unknown", "rule", d.Rule, "recipient", facts.Masked(addr))
		return false, nil
	}
	var rf *ruleset.RegionFacts
	if fx != nil {
		rf = fx.Regions[region]
	}
	if h.cfg.SuppressMode == SuppressAuto {
		if facts.AccountLookupFailed(rf) {
			// The decision needs the account's settings and the look-up
			// may succeed later: retry the record, never skip silently.
			if err := h.d.Metrics.Add(metrics.FactsUnavailable, 1, region); err != nil {
				h.d.Log.ErrorContext(ctx, "count facts unavailable", "err", err)
			}
			return false, fmt.Errorf("suppress %s in %s: %w", facts.MaskAddress(addr), region, ErrFactsUnavailable)
		}
		if rf == nil || rf.SuppressedReasons == nil {
			h.d.Log.InfoContext(ctx, "suppression skipped: account suppression settings unknown", "rule", d.Rule,
				"recipient", facts.Masked(addr), "region", region, "reason", d.Suppress)
			return false, nil
		}
		if slices.Contains(rf.SuppressedReasons, d.Suppress) {
			return false, nil // SES puts it on the list itself
		}
	}
	if rf != nil && rf.ProductionAccess != nil && !*rf.ProductionAccess {
		// SES refuses PutSuppressedDestination in the sandbox.
		h.d.Log.InfoContext(ctx, "suppression skipped: account in the sandbox", "region", region, "recipient", facts.Masked(addr))
		return false, nil
	}

	key := SuppressionKey{Region: region, Reason: d.Suppress, Address: addr}
	claimed, err := h.d.Suppressed.Claim(ctx, key)
	if err != nil {
		// The call is idempotent: a duplicate costs one request.
		h.d.Log.WarnContext(ctx, "suppression memory unavailable; calling anyway", "region", region, "recipient", facts.Masked(addr), "err", err)
		claimed = true
	}
	if !claimed {
		return false, nil
	}
	_, err = h.d.Suppressors(region).PutSuppressedDestination(ctx, &sesv2.PutSuppressedDestinationInput{
		EmailAddress: aws.String(addr),
		Reason:       types.SuppressionListReason(d.Suppress),
	})
	if serr := h.d.Suppressed.Settle(ctx, key, err == nil); serr != nil {
		h.d.Log.WarnContext(ctx, "suppression memory not settled", "region", region, "recipient", facts.Masked(addr), "err", serr)
	}
	if err != nil {
		if !alert.Temporary(err) {
			// A refusal (validation, access denied) will not change on
			// retry; the alert still carries the fix.
			h.d.Log.WarnContext(ctx, "suppression refused", "region", region, "recipient", facts.Masked(addr), "reason", d.Suppress, "err", err)
			return false, nil
		}
		return false, fmt.Errorf("put %s on the %s suppression list (%s): %w", facts.MaskAddress(addr), region, d.Suppress, err)
	}
	h.d.Log.InfoContext(ctx, "suppressed", "region", region, "recipient", facts.Masked(addr), "reason", d.Suppress, "rule", d.Rule)
	return true, nil
}

// alertLevel maps a severity to an alert level; info diagnoses are not
// announced.
func alertLevel(s ruleset.Severity) (alert.Level, bool) {
	switch s {
	case ruleset.SeverityCritical:
		return alert.LevelCritical, true
	case ruleset.SeverityWarning:
		return alert.LevelWarning, true
	}
	return "", false
}

// alert offers a diagnosis's alert (toAlert) to the alert sink. It
// reports whether it offered one; its error is transient.
func (h *Handler) alert(ctx context.Context, a alert.Alert, rule string) (bool, error) {
	if h.d.Alerts == nil {
		return false, nil
	}
	a.Time = h.d.Now()
	if err := h.d.Alerts.Send(ctx, a); err != nil {
		// An alert the alerts topic (the first sink) took is announced:
		// retrying it for a failing Slack would send it to the topic twice.
		if alert.Delivered(err) || !alert.Temporary(err) {
			h.d.Log.WarnContext(ctx, "alert not delivered to every sink; not retried", "rule", rule, "region", a.Region, "err", err)
			return true, nil
		}
		return true, fmt.Errorf("send %s alert for %s in %s: %w", a.Level, rule, a.Region, err)
	}
	return true, nil
}

// ScopeRecipientDomain is the alert Scope of a bounce, complaint or delay:
// such alerts are grouped by the recipient's domain, not per address, so a
// list with a thousand dead addresses at one provider is one alert with a
// count, not a thousand.
const ScopeRecipientDomain = "recipient-domain"

// toAlert turns a diagnosis into an alert; ok is false for severities that
// are not announced.
func toAlert(d ruleset.Diagnosis, region string) (a alert.Alert, ok bool) {
	lvl, ok := alertLevel(d.Severity)
	if !ok {
		return a, false
	}
	if d.Region != "" {
		region = d.Region
	}
	a = alert.Alert{
		Kind:     alert.KindDiagnosis,
		Level:    lvl,
		Rule:     d.Rule,
		Identity: d.Identity,
		Region:   region,
		Scope:    "account",
		Count:    1,
		Summary:  d.Summary,
		Evidence: slices.Clone(d.Evidence),
		Fix:      slices.Clone(d.Fix),
		Source:   Source,
	}
	who := d.Identity
	switch d.Kind {
	case ruleset.KindBounce, ruleset.KindComplaint, ruleset.KindDelay:
		if at := strings.LastIndexByte(d.Identity, '@'); at >= 0 {
			a.Identity = strings.ToLower(d.Identity[at+1:])
			a.Scope = ScopeRecipientDomain
			a.Evidence = append([]string{"recipient: " + d.Identity}, a.Evidence...)
			who = "recipients at " + a.Identity
		}
	}
	if d.Error != "" {
		a.Evidence = append(a.Evidence, "error: "+d.Error)
	}
	a.Figures = append(a.Figures, alert.Num("confidence", d.Confidence, fmt.Sprintf("%.2f", d.Confidence)))
	facts := "unknown"
	if d.FactsKnown {
		facts = "gathered"
	}
	a.Figures = append(a.Figures, alert.Figure{Name: "account facts", Value: facts})
	if len(d.Alternatives) > 0 {
		var alts []string
		for _, x := range d.Alternatives {
			alts = append(alts, fmt.Sprintf("%s (%.2f)", x.Rule, x.Confidence))
		}
		a.Figures = append(a.Figures, alert.Figure{Name: "alternatives", Value: strings.Join(alts, ", ")})
	}
	a.Title = d.Rule
	if who != "" {
		a.Title += ": " + who
	}
	if region != "" {
		a.Title += " (" + region + ")"
	}
	return a, true
}
