package alert

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/sesguard/sesguard/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// kumoConfig starts an in-process kumo emulator and returns an SDK config
// pointed at it.
func kumoConfig(t *testing.T) aws.Config { return testkit.Kumo(t) }

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// diagnosisAlert is a triage alert for a storm of Region-mismatch rejects.
func diagnosisAlert() Alert {
	return Alert{
		Kind:     KindDiagnosis,
		Level:    LevelCritical,
		Title:    "Sender not verified in us-east-1 (it is verified in us-west-2)",
		Rule:     "reject.region-mismatch",
		Identity: "noreply@yourapp.com",
		Region:   "us-east-1",
		Scope:    "account",
		Count:    37,
		Since:    t0.Add(-14 * time.Minute),
		Summary:  "SES rejected the send because noreply@yourapp.com is verified in us-west-2 but the client sends through us-east-1.",
		Evidence: []string{
			`error: "Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: noreply@yourapp.com"`,
			"us-east-1: identity absent; us-west-2: noreply@yourapp.com SUCCESS",
			"<script> & other markup is escaped",
		},
		Fix: []string{
			"Send through the Region where the identity is verified: set AWS_REGION=us-west-2 for the sender, or",
			"aws sesv2 create-email-identity --email-identity noreply@yourapp.com --region us-east-1",
		},
		Time:   t0,
		Source: "sesguard-triage",
	}
}

// rateAlert is a bouncewatch alert for a bounce rate crossing warning.
func rateAlert() Alert {
	return Alert{
		Kind:    KindRate,
		Level:   LevelWarning,
		Title:   "Bounce rate 2.6% (warning at 2%, SES review at 5%)",
		Rule:    "bounce-rate",
		Region:  "us-east-1",
		Scope:   "account",
		Count:   1,
		Summary: "The bounce rate over the last 24 h rose above the 2% warning level.",
		Figures: []Figure{
			Num("rate", 0.026, "2.60%"),
			Num("sample", 4210, "4,210 sends"),
			Num("upper bound (95%)", 0.0311, "3.11%"),
			Num("headroom to 5%", 0.024, "2.40 points (~101 bounces)"),
			{Name: "SES figure", Value: "2.4% (Reputation.BounceRate)"},
		},
		Fix: []string{
			"Find the bouncing addresses: aws sesv2 list-suppressed-destinations --reasons BOUNCE --region us-east-1",
		},
		Time:   t0,
		Source: "sesguard-bouncewatch",
	}
}
