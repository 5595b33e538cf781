package ruleset_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// issueTexts are the texts quoted in issue 11, each with the rule (or,
// with a trailing ".", the family) it must get. A receiving server's DSN
// is never unknown, invalid-input or reject.*.
var issueTexts = []struct {
	text, want, identity string
}{
	{"550 5.1.1 <bob@example.org>... User unknown", "bounce.hard.no-such-user", "bob@example.org"},
	{"452 4.2.2 The email account that you tried to reach is over quota.", "bounce.soft.mailbox-full", ""},
	{"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "bounce.policy.blocklisted", ""},
	{"552 5.2.2 <user@libsisimai.net>: Recipient address rejected: Mailbox full", "bounce.soft.mailbox-full", "user@libsisimai.net"},
	{"552 sorry, mailbox user@example.org is over quota temporarily (#5.1.1)", "bounce.soft.mailbox-full", "user@example.org"},
	// Exchange Online's directory-based edge blocking (learn.microsoft.com,
	// "Fix NDR error 550 5.4.1"): an access-denied DSN is about the
	// recipient, not IAM.
	{"550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [BN8NAM12FT003.eop-nam12.prod.protection.outlook.com]", "bounce.", ""},
	{"Message rejected:", "unknown", ""},
	// CloudWatch wraps the identity list onto the next line.
	{"MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1:\n  root@ip-10-0-1-23.ec2.internal", "reject.envelope-sender-rewritten", "root@ip-10-0-1-23.ec2.internal"},
	// A JSON log line with escapes, display names around the addresses.
	{`{"level":"error","time":"2024-05-14T09:12:02Z","msg":"send failed","error":"operation error SESv2: SendEmail, https response error StatusCode: 400, MessageRejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: \"Shop, Inc.\" \u003cshop@yourapp.example\u003e"}`, "reject.", "shop@yourapp.example"},
	// Python smtplib's repr of the reply.
	{"smtplib.SMTPRecipientsRefused: {'bob@example.org': (550, b'5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table')}", "bounce.hard.no-such-user", "bob@example.org"},
}

func TestIssueTexts(t *testing.T) {
	set := ruleset.Default()
	for _, c := range issueTexts {
		got := set.ClassifyBytes([]byte(c.text), nil, "t")
		d := got[0]
		ok := d.Rule == c.want || strings.HasSuffix(c.want, ".") && strings.HasPrefix(d.Rule, c.want)
		if !ok {
			t.Errorf("%q:\n rule %s (%.2f), want %s; alternatives %v; evidence %q", c.text, d.Rule, d.Confidence, c.want, d.Alternatives, d.Evidence)
		}
		if c.identity != "" && d.Identity != c.identity {
			t.Errorf("%q: identity %q, want %q", c.text, d.Identity, c.identity)
		}
		if strings.HasPrefix(c.want, "bounce.") && d.Kind != ruleset.KindBounce {
			t.Errorf("%q: kind %s, want bounce", c.text, d.Kind)
		}
	}
}

// TestAbstainSays: below the floor the answer is unknown, the JSON says it
// abstained, and the candidates are kept as alternatives.
func TestAbstainSays(t *testing.T) {
	d := ruleset.Default().ClassifyBytes([]byte("554 Message rejected:"), nil, "t")[0]
	if d.Rule != ruleset.RuleUnknown || !d.Abstained || len(d.Alternatives) == 0 {
		t.Fatalf("got %+v, want an abstaining unknown with alternatives", d)
	}
	b, _ := json.Marshal(d)
	if !strings.Contains(string(b), `"abstained":true`) {
		t.Errorf("JSON does not say it abstained: %s", b)
	}
	for _, a := range d.Alternatives {
		if a.Confidence >= ruleset.ConfidenceFloor {
			t.Errorf("alternative %s at %.2f is above the floor %.2f", a.Rule, a.Confidence, ruleset.ConfidenceFloor)
		}
	}
}

// TestTextAndEnvelopeAgree: `sesguard classify` reads a text file as
// plain text, `sesguard diagnose` wraps the same text in a failure
// envelope; both must reach the same rules for every text of the corpus.
func TestTextAndEnvelopeAgree(t *testing.T) {
	set := ruleset.Default()
	texts := []string{}
	for _, c := range loadCorpus(t) {
		if strings.HasSuffix(c.path, ".txt") && c.want[0] != ruleset.RuleInvalid {
			texts = append(texts, string(c.input))
		}
	}
	for _, c := range issueTexts {
		texts = append(texts, c.text)
	}
	for _, text := range texts {
		env, _ := json.Marshal(map[string]any{"error": text})
		a := set.ClassifyBytes([]byte(text), nil, "text")
		b := set.ClassifyBytes(env, nil, "envelope")
		if rulesOf(a) != rulesOf(b) {
			t.Errorf("%.80q: text → %s, envelope → %s", text, rulesOf(a), rulesOf(b))
		}
	}
}

func rulesOf(ds []ruleset.Diagnosis) string {
	var r []string
	for _, d := range ds {
		r = append(r, d.Rule)
	}
	return strings.Join(r, ",")
}

// TestConfidenceFloorCalibrated: the floor lies below every right answer
// of the corpus (it must not turn one into unknown); the lowest right
// answer's score is logged for FORMAT.md.
func TestConfidenceFloorCalibrated(t *testing.T) {
	set := ruleset.Default()
	lowest, which := 1.0, ""
	for _, c := range loadCorpus(t) {
		switch c.want[0] {
		case ruleset.RuleUnknown, ruleset.RuleInvalid, ruleset.RuleNotAFailure:
			continue
		}
		for _, d := range set.ClassifyBytes(c.input, c.facts, c.name) {
			if d.Rule == c.want[0] && d.Confidence < lowest {
				lowest, which = d.Confidence, c.name
			}
		}
	}
	if lowest < ruleset.ConfidenceFloor {
		t.Errorf("right answer %s scores %.2f, under the floor %.2f", which, lowest, ruleset.ConfidenceFloor)
	}
	t.Logf("lowest right answer: %.2f (%s); floor %.2f", lowest, which, ruleset.ConfidenceFloor)
}
