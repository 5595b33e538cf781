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
	// Unexpanded template text and a quoted display name with a comma.
	{"554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: {{ site_name }} <noreply@yourapp.example>, \"Doe, Jane\" <jane@yourapp.example>", "reject.", "noreply@yourapp.example"},
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

// sdkTexts are SES errors as real applications logged them, wrapped by
// their SDK or mail library (sources: the public issues named), each with
// the family and failing identity it must get.
var sdkTexts = []struct {
	text, want, identity, source string
}{
	{"operation error SES: SendEmail,\nhttps response error StatusCode: 400,\nRequestID: d4727599-e6f4-494a-bf40-6880993c65a5,\napi error InvalidParameterValue: Missing domain", "reject.invalid-address", "", "github.com/brave/accounts/issues/35 (Go SDK v2)"},
	{`Response: Error executing "SendEmail" on "https://email.us-west-2.amazonaws.com"; AWS HTTP error: Client error: ` + "`POST https://email.us-west-2.amazonaws.com` resulted in a `400 Bad Request`" + ` response: <ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"> <Error> <Type>Sender</Type> <Code>MessageReje (truncated...) MessageRejected (client): Email address is not verified. The following identities failed the check in region US-WEST-2: Sendportal <nagaraj@datafindsolution.com> - <ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"> <Error> <Type>Sender</Type> <Code>MessageRejected</Code> <Message>Email address is not verified. The following identities failed the check in region US-WEST-2: Sendportal &lt;nagaraj@datafindsolution.com&gt;</Message> </Error> <RequestId>158e381e-f178-4a80-903b-e21d6e67669c</RequestId> </ErrorResponse>`, "reject.", "nagaraj@datafindsolution.com", "github.com/mettle/sendportal/issues/94 (PHP SDK)"},
	{`<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>MessageRejected</Code><Message>Email address is not verified. The following identities failed the check in region US-WEST-2: Sendportal &lt;nagaraj@datafindsolution.com&gt;</Message></Error></ErrorResponse>`, "reject.", "nagaraj@datafindsolution.com", "github.com/mettle/sendportal/issues/94 (the Query API's XML alone)"},
	{"Error message: Email address is not verified. (Service: AmazonSimpleEmailService; Status Code: 400; Error Code: MessageRejected; Request ID: af9cb97a-9ca8-11e4-a873-1b1b632bd12d)", "reject.", "", "github.com/django-ses/django-ses/issues/66 (Java SDK v1)"},
	{"The mail could not be sent to the recipients because of the mail server failure. (Sending Mail using Account 2 (2012-08-21T12:25:18). Exception Message: Cannot send mails to mail server. (Transaction failed. The server response was: Message rejected: Email address is not verified.).\n )", "reject.", "", "github.com/django-ses/django-ses/issues/42 (.NET System.Net.Mail via SQL Server Database Mail)"},
	{"message: 'Email address is not verified. The following identities failed the check in region US-EAST-1: <some@email.com>',\ncode: 'MessageRejected',\nstatusCode: 400", "reject.", "some@email.com", "github.com/freeCodeCamp/mail-for-good/issues/113 (Node.js SDK v2)"},
	{`{ "errorMessage": "Error in sendVerificationEmail: MessageRejected: Email address is not verified. The following identities failed the check in region US-WEST-2: tanzeelrana@cmail.carleotn.ca, tanzeelrana@cmail.carleton.ca" }`, "reject.", "tanzeelrana@cmail.carleotn.ca", "github.com/danilop/LambdAuth/issues/64 (a Lambda's JSON error)"},
	{"PHP Warning:  SimpleEmailService::sendEmail(): Sender - MessageRejected: Email address is not verified. The following identities failed the check in region US-E     AST-1: example@example.com\nRequest Id: 831409ab-8b58-xxxx-a8ad-111a7885df63", "reject.", "example@example.com", "github.com/daniel-zahariev/php-aws-ses/issues/35 (PHP, the Region wrapped by the logger)"},
	{"BotoServerError: 400 Bad Request\n<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>MessageRejected</Code>\n    <Message>Email address is not verified.</Message>\n  </Error>\n  <RequestId>9360bdd6-c549-11e0-82fb-b9b4121fdb69</RequestId>\n</ErrorResponse>", "reject.", "", "github.com/boto/boto/issues/300 (Python boto)"},
	{"F, [2016-03-25T21:48:10.979285 #17857] FATAL -- :\nNet::SMTPFatalError (554 Message rejected: Email address is not verified.\n):\n  app/controllers/contacts_controller.rb:22:in `maybe_send_email'", "reject.", "", "github.com/thewca/worldcubeassociation.org/issues/433 (Ruby on Rails log)"},
	{"MessageRejected: MessageRejected\n    at deserializeAws_querySendTemplatedEmailCommandError (/home/user/project/node_modules/@aws-sdk/client-ses/dist/cjs/protocols/Aws_query.js:3534:41)\n    at processTicksAndRejections (internal/process/task_queues.js:97:5) {\n  '$fault': 'client',", "unknown", "", "github.com/aws/aws-sdk-js-v3/issues/2238 (Node.js SDK v3 lost the message: nothing to diagnose)"},
}

func TestSDKTexts(t *testing.T) {
	set := ruleset.Default()
	for _, c := range sdkTexts {
		d := set.ClassifyBytes([]byte(c.text), nil, "t")[0]
		if !(d.Rule == c.want || strings.HasSuffix(c.want, ".") && strings.HasPrefix(d.Rule, c.want)) {
			t.Errorf("%s: rule %s (%.2f), want %s; evidence %q", c.source, d.Rule, d.Confidence, c.want, d.Evidence)
		}
		if c.identity != "" && d.Identity != c.identity {
			t.Errorf("%s: identity %q, want %q", c.source, d.Identity, c.identity)
		}
	}
}
