package bouncewatch

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// TestMoreBouncesThanSendsAlerts: more hard bounces than eligible sends in
// the window (their sends fell out of it) is the worst case, not a reason
// to stay quiet; the alert must be JSON-encodable, as SNSSink needs.
func TestMoreBouncesThanSendsAlerts(t *testing.T) {
	var bodies [][]byte
	sink := alert.SinkFunc(func(_ context.Context, a alert.Alert) error {
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
		return nil
	})
	rep, _ := evalOnce(t, testConfig(), 600, 700, nil, sink)
	if len(rep.Alerts) != 1 || rep.Alerts[0].Level != alert.LevelPauseRisk {
		t.Fatalf("alerts = %+v, want one pause-risk alert", rep.Alerts)
	}
	if len(bodies) != 1 || strings.Contains(string(bodies[0]), "NaN") {
		t.Fatalf("published %d bodies: %s", len(bodies), bodies)
	}
	if !strings.Contains(rep.Alerts[0].Summary, "700 hard bounces out of 600 eligible sends") {
		t.Fatalf("raw counts not shown: %q", rep.Alerts[0].Summary)
	}
}

// TestNumNotFinite: a figure whose number is NaN or infinite keeps its
// display text and drops the number, so the alert still encodes.
func TestNumNotFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		a := alert.Alert{Kind: alert.KindRate, Level: alert.LevelCritical, Title: "t",
			Figures: []alert.Figure{alert.Num("Bound", v, "n/a"), alert.Num("Rate", 0.5, "50.00%")}}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("Num(%v): marshal: %v", v, err)
		}
		if a.Figures[0].Number != nil || a.Figures[1].Number == nil || !strings.Contains(string(b), `"value":"n/a"`) {
			t.Fatalf("Num(%v): %s", v, b)
		}
	}
}

// TestRateRulesMatchCounter: a bounce's taxonomy rule (as the shipped rule
// set classifies it) is in RateRules exactly when bounceCounter counts it
// toward the rate, so the top rules named in a bounce alert are rules of
// bounces that were counted. The bounce.policy.* rules are the exception:
// they match the DSN text whatever the bounce type, so a Transient policy
// bounce is classified as one too; they stay in RateRules because most
// policy bounces are Permanent (triage's Failures metric has no bounce
// type to tell them apart).
func TestRateRulesMatchCounter(t *testing.T) {
	set := ruleset.Default()
	for _, tc := range []struct{ typ, sub, status, diag string }{
		{"Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown"},
		{"Permanent", "General", "5.0.0", "smtp; 550 5.0.0 rejected"},
		{"Permanent", "NoEmail", "5.1.1", "smtp; 550 5.1.1 mailbox does not exist"},
		{"Permanent", "Suppressed", "5.1.1", "Amazon SES has suppressed sending to this address"},
		{"Permanent", "OnAccountSuppressionList", "5.1.1", "Amazon SES did not send the message to this address"},
		{"Permanent", "General", "5.7.1", "smtp; 554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"},
		{"Permanent", "General", "5.7.26", "smtp; 550 5.7.26 unauthenticated email from example.com is not accepted due to DMARC policy"},
		{"Transient", "MailboxFull", "4.2.2", "smtp; 452 4.2.2 mailbox full"},
		{"Transient", "General", "4.7.26", "smtp; 451 4.7.26 unauthenticated email, DMARC policy"},
		{"Undetermined", "Undetermined", "", ""},
	} {
		ev := fmt.Sprintf(`{"eventType":"Bounce","bounce":{"bounceType":%q,"bounceSubType":%q,"bouncedRecipients":[{"emailAddress":"user@example.net","status":%q,"diagnosticCode":%q}],"timestamp":"2026-01-05T10:00:00.000Z","feedbackId":"f"},"mail":{"timestamp":"2026-01-05T10:00:00.000Z","messageId":"m","source":"noreply@example.com","destination":["user@example.net"]}}`,
			tc.typ, tc.sub, tc.status, tc.diag)
		ds := set.ClassifyBytes([]byte(ev), nil, "test")
		if len(ds) != 1 || !strings.HasPrefix(ds[0].Rule, "bounce.") {
			t.Fatalf("%s/%s: diagnoses %+v", tc.typ, tc.sub, ds)
		}
		rule, counted := ds[0].Rule, bounceCounter(tc.typ, tc.sub) == cHardBounces
		if !counted && strings.HasPrefix(rule, "bounce.policy.") {
			continue
		}
		if slices.Contains(RateRules, rule) != counted {
			t.Errorf("%s/%s classifies as %s: in RateRules %v, counted toward the rate %v",
				tc.typ, tc.sub, rule, slices.Contains(RateRules, rule), counted)
		}
	}
}
