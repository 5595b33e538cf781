package ruleset_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

func TestBadRuleFilesNameFileAndLine(t *testing.T) {
	cases := map[string]string{
		"bad-unknown-key.yaml": `bad-unknown-key.yaml:6: unknown key "phrazes"`,
		"bad-severity.yaml":    `bad-severity.yaml:2: rule "custom.thing": unknown severity "loud"`,
		"bad-regex.yaml":       `bad-regex.yaml:9: rule "custom.broken": pattern "(unclosed"`,
		"bad-fact.yaml":        `bad-fact.yaml:2: rule "custom.thing": unknown fact "moon-phase"`,
		"bad-placeholder.yaml": `unknown placeholder {recipient}`,
		"bad-kind.yaml":        `unknown kind "bouncy"`,
		"bad-id.yaml":          `id must have the form family.name`,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "rules", file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ruleset.New(ruleset.RuleFile{Name: file, Data: data})
			if err == nil {
				t.Fatalf("loaded a bad rules file")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestExtraRulesFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "rules", "good-extra.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := ruleset.New(ruleset.RuleFile{Name: "good-extra.yaml", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	in := bounceJSON("Transient", "General", "someone@acme.example", "421 ACME Mail Shield: come back later")
	if got := set.ClassifyBytes(in, nil, "x")[0].Rule; got != "bounce.policy.acme-greylist" {
		t.Errorf("with extra rules: %s, want bounce.policy.acme-greylist", got)
	}
	if got := ruleset.Default().ClassifyBytes(in, nil, "x")[0].Rule; got == "bounce.policy.acme-greylist" {
		t.Errorf("default set must not know the extra rule")
	}
}

func bounceJSON(typ, sub, addr, diag string) []byte {
	b, _ := json.Marshal(map[string]any{
		"eventType": "Bounce",
		"mail":      map[string]any{"source": "noreply@yourapp.com", "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/yourapp.com", "destination": []string{addr}},
		"bounce": map[string]any{"bounceType": typ, "bounceSubType": sub, "bouncedRecipients": []map[string]string{
			{"emailAddress": addr, "diagnosticCode": diag, "status": ""}}},
	})
	return b
}

func complaintJSON(feedbackType string) []byte {
	c := map[string]any{"complainedRecipients": []map[string]string{{"emailAddress": "reader@example.org"}}}
	if feedbackType != "" {
		c["complaintFeedbackType"] = feedbackType
	}
	b, _ := json.Marshal(map[string]any{"eventType": "Complaint", "mail": map[string]any{"source": "noreply@yourapp.com"}, "complaint": c})
	return b
}

func TestRegionNormalised(t *testing.T) {
	for _, in := range []string{
		"Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: a@b.com",
		`{"error":"Email address is not verified. The following identities failed the check in region us-east-1: a@b.com"}`,
		`{"error":"Email address is not verified. The following identities failed the check in region x: a@b.com","region":"US-East-1"}`,
	} {
		d := ruleset.Default().ClassifyBytes([]byte(in), nil, "x")[0]
		if d.Region != "us-east-1" {
			t.Errorf("%s: region %q, want us-east-1", in, d.Region)
		}
		if !strings.HasPrefix(d.Rule, "reject.") {
			t.Errorf("%s: rule %s, want reject.*", in, d.Rule)
		}
	}
}

func TestIdentitiesAndRoles(t *testing.T) {
	in := `{"error":"554 Message rejected: Email address is not verified. The following identities failed the check in region US-WEST-2: Sales <Sales@Yourapp.com>, Sales@Yourapp.com, bob@customer.org, carol@x.org...",
		"from":"Sales <Sales@Yourapp.com>","to":["bob@customer.org"],"bcc":"carol@x.org","transport":"smtp"}`
	ds := ruleset.Decode([]byte(in), "x")
	if len(ds) != 1 || ds[0].Err != nil {
		t.Fatalf("decode: %+v", ds)
	}
	got := ds[0].Failure.Identities
	want := []ruleset.Identity{{Value: "Sales@Yourapp.com", Role: ruleset.RoleSender}, {Value: "bob@customer.org", Role: ruleset.RoleRecipient}, {Value: "carol@x.org", Role: ruleset.RoleRecipient}}
	if len(got) != len(want) {
		t.Fatalf("identities = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("identity %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	diags := ruleset.Default().ClassifyDecoded(ds[0], nil)
	if len(diags) != 3 {
		t.Fatalf("want one diagnosis per identity, got %d", len(diags))
	}
	if diags[0].Rule == "reject.sandbox-recipient-unverified" {
		t.Errorf("sender identity must not be diagnosed as a sandbox recipient")
	}
	if diags[1].Rule != "reject.sandbox-recipient-unverified" {
		t.Errorf("recipient without facts: %s, want sandbox first", diags[1].Rule)
	}
}

// TestFactsDecide runs one SES text against the account states that tell
// its causes apart.
func TestFactsDecide(t *testing.T) {
	const text = `{"error":"Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: Admin@yourapp.com","from":"Admin@yourapp.com","transport":"smtp"}`
	cases := []struct {
		name, facts, want string
	}{
		{"verified elsewhere", `{"sendingRegion":"us-east-1","regions":{"us-east-1":{"productionAccess":true,"identities":{}},"us-west-2":{"identities":{"Admin@yourapp.com":"SUCCESS"}}}}`, "reject.region-mismatch"},
		{"domain verified elsewhere", `{"regions":{"us-east-1":{"productionAccess":true,"identities":{}},"eu-west-1":{"identities":{"YOURAPP.com":"SUCCESS"}}}}`, "reject.region-mismatch"},
		{"absent", `{"regions":{"us-east-1":{"productionAccess":true,"identities":{}},"us-west-2":{"identities":{}}}}`, "reject.sender-unverified"},
		{"case", `{"regions":{"us-east-1":{"productionAccess":true,"identities":{"admin@yourapp.com":"SUCCESS"}}}}`, "reject.identity-case-mismatch"},
		{"pending", `{"regions":{"us-east-1":{"productionAccess":true,"identities":{"yourapp.com":"PENDING"}}}}`, "reject.verification-pending"},
		{"all fine over smtp", `{"regions":{"us-east-1":{"productionAccess":true,"identities":{"yourapp.com":"SUCCESS"}}}}`, "reject.credentials-mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ruleset.ParseFacts([]byte(c.facts))
			if err != nil {
				t.Fatal(err)
			}
			d := ruleset.Default().ClassifyBytes([]byte(text), f, "x")[0]
			if d.Rule != c.want {
				t.Errorf("rule = %s (%v), want %s; evidence %q", d.Rule, d.Alternatives, c.want, d.Evidence)
			}
			if !d.FactsKnown || d.Confidence < 0.8 {
				t.Errorf("with facts the confidence should be high: %v", d.Confidence)
			}
			for _, fx := range d.Fix {
				if strings.Contains(fx, "<region>") || strings.Contains(fx, "<identity>") {
					t.Errorf("fix not filled in: %q", fx)
				}
			}
		})
	}
}

func TestBatchRecordsIndependent(t *testing.T) {
	good := bounceJSON("Permanent", "General", "gone@example.org", "smtp; 550 5.1.1 user unknown")
	msg, _ := json.Marshal(string(good))
	event := `{"Records":[
	  {"EventSource":"aws:sns","Sns":{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":` + string(msg) + `}},
	  {"EventSource":"aws:sns","Sns":{"Type":"Notification","Message":{"not":"a string"}}},
	  {"EventSource":"aws:sns","Sns":{"Type":"Notification","Message":"{truncated"}}
	]}`
	ds := ruleset.Default().ClassifyBytes([]byte(event), nil, "batch")
	if len(ds) != 3 {
		t.Fatalf("got %d diagnoses, want 3: %+v", len(ds), ds)
	}
	if ds[0].Rule != "bounce.hard.no-such-user" || ds[0].Source != "batch#0" {
		t.Errorf("record 0: %s %s", ds[0].Rule, ds[0].Source)
	}
	if ds[1].Rule != ruleset.RuleInvalid || !strings.Contains(ds[1].Error, `Message"`) {
		t.Errorf("record 1: %s %q, want invalid-input naming field Message", ds[1].Rule, ds[1].Error)
	}
	if ds[2].Rule != ruleset.RuleInvalid {
		t.Errorf("record 2: %s, want invalid-input", ds[2].Rule)
	}
}

func TestHugeInputBounded(t *testing.T) {
	big := make([]byte, ruleset.MaxInputBytes+10)
	for i := range big {
		big[i] = 'a'
	}
	d := ruleset.Default().ClassifyBytes(big, nil, "big")
	if len(d) != 1 || d[0].Rule != ruleset.RuleInvalid || !strings.Contains(d[0].Error, "limit") {
		t.Errorf("huge input: %+v", d)
	}
}

func TestSuppressOnlyForHardBouncesAndComplaints(t *testing.T) {
	set := ruleset.Default()
	cases := []struct {
		in   []byte
		want string
	}{
		{bounceJSON("Permanent", "General", "gone@example.org", "550 5.1.1 user unknown"), "BOUNCE"},
		{bounceJSON("Permanent", "OnAccountSuppressionList", "gone@example.org", ""), ""},
		{bounceJSON("Transient", "MailboxFull", "full@example.org", "452 4.2.2 mailbox full"), ""},
		{bounceJSON("Permanent", "General", "bounce@simulator.amazonses.com", "550 5.1.1 user unknown"), ""},
		{bounceJSON("Permanent", "General", "x@example.org", "550 5.7.1 blocked using zen.spamhaus.org"), ""},
		// SES could not classify it: a phrase alone does not suppress.
		{bounceJSON("Undetermined", "Undetermined", "x@example.org", "550 user unknown"), ""},
		{complaintJSON("abuse"), "COMPLAINT"},
		{complaintJSON(""), "COMPLAINT"},
		{complaintJSON("opt-out"), "COMPLAINT"},
		// The recipient rescued the mail; an auth report is about the sender.
		{complaintJSON("not-spam"), ""},
		{complaintJSON("auth-failure"), ""},
	}
	for _, c := range cases {
		d := set.ClassifyBytes(c.in, nil, "x")[0]
		if d.Suppress != c.want {
			t.Errorf("%s: suppress %q, want %q", d.Rule, d.Suppress, c.want)
		}
	}
}

// A rule ranked by its prior (its facts unknown) is a guess: its summary
// reads as one (the rule's hypothesis), the diagnosis does not claim to
// rest on facts even when a facts file was given, and its commands paste
// (an unknown value inside backquotes is quoted, never a redirection).
func TestUnknownFactsReadAsHypothesis(t *testing.T) {
	const text = `{"error":"Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: Admin@yourapp.com","from":"Admin@yourapp.com"}`
	unquoted := regexp.MustCompile("(^|[ =])<[^<>\"]+>")
	for name, f := range map[string]*ruleset.Facts{"no facts": nil} {
		t.Run(name, func(t *testing.T) {
			d := ruleset.Default().ClassifyBytes([]byte(text), f, "x")[0]
			if !strings.HasPrefix(d.Rule, "reject.") {
				t.Fatalf("rule = %s, want a reject.* rule with facts", d.Rule)
			}
			if !strings.HasPrefix(d.Summary, "If ") || !strings.Contains(d.Summary, "check with `aws sesv2") {
				t.Errorf("summary of a rule ranked by its prior reads as a fact: %q", d.Summary)
			}
			if d.FactsKnown {
				t.Errorf("FactsKnown = true for a diagnosis ranked by its prior")
			}
			for _, fx := range d.Fix {
				for i, part := range strings.Split(fx, "`") {
					if i%2 == 1 && unquoted.MatchString(part) {
						t.Errorf("command with an unquoted placeholder: %q", part)
					}
				}
			}
		})
	}
}

// An IAM refusal names the caller, the action and the account: the fix
// uses them (an assumed-role session as its role) instead of placeholders.
func TestAccessDeniedFillsCaller(t *testing.T) {
	cases := map[string][]string{
		"User: arn:aws:sts::123456789012:assumed-role/app-role/i-0abc is not authorized to perform: ses:SendRawEmail on resource: arn:aws:ses:us-east-1:123456789012:identity/example.com": {
			"--policy-source-arn arn:aws:iam::123456789012:role/app-role --action-names ses:SendRawEmail", "arn:aws:ses:us-east-1:123456789012:identity/example.com"},
		"AccessDenied: User arn:aws:iam::123456789012:user/x is not authorized to perform ses:SendEmail on resource arn:aws:ses:eu-west-1:123456789012:identity/a.com": {
			"--policy-source-arn arn:aws:iam::123456789012:user/x --action-names ses:SendEmail", "arn:aws:ses:eu-west-1:123456789012:configuration-set/*"},
	}
	for text, wants := range cases {
		d := ruleset.Default().ClassifyBytes([]byte(text), nil, "x")[0]
		if d.Rule != "reject.access-denied" {
			t.Fatalf("%q: rule = %s", text, d.Rule)
		}
		fix := strings.Join(d.Fix, "\n")
		for _, w := range wants {
			if !strings.Contains(fix, w) {
				t.Errorf("fix lacks %q:\n%s", w, fix)
			}
		}
		if strings.Contains(fix, "<principal>") || strings.Contains(fix, "<action>") || strings.Contains(fix, "<account>") {
			t.Errorf("fix keeps a placeholder the text fills:\n%s", fix)
		}
	}
}

// A host-name envelope sender is an MTA's artefact: the alternatives never
// advise verifying it (notAlternatives).
func TestArtefactSenderNotToBeVerified(t *testing.T) {
	const text = "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: root@ip-10-0-0-1.ec2.internal"
	d := ruleset.Default().ClassifyBytes([]byte(text), nil, "x")[0]
	if d.Rule != "reject.envelope-sender-rewritten" {
		t.Fatalf("rule = %s", d.Rule)
	}
	for _, a := range d.Alternatives {
		switch a.Rule {
		case "reject.region-mismatch", "reject.sender-unverified", "reject.identity-case-mismatch", "reject.verification-pending":
			t.Errorf("alternative %s would have the artefact address verified", a.Rule)
		}
	}
}
