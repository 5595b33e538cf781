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
	d := ruleset.Default().ClassifyBytes([]byte("Message rejected:"), nil, "t")[0]
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
	{`{"time":"2024-05-14T09:12:02Z","level":"ERROR","msg":"deliver: 550 5.1.1 \u003cbob@example.org\u003e: Recipient address rejected: User unknown in virtual mailbox table","queue":"mail"}`, "bounce.hard.no-such-user", "bob@example.org", "shape of Go's log/slog JSON handler (escaped angle brackets)"},
	{`{"@t":"2024-05-14T09:12:02Z","@mt":"Send failed","@x":"Amazon.SimpleEmailV2.Model.MessageRejectedException: Email address is not verified. The following identities failed the check in region EU-WEST-1: ops@yourapp.example\n   at Amazon.Runtime.Internal.HttpErrorResponseExceptionHandler.HandleExceptionStream"}`, "reject.", "ops@yourapp.example", "shape of Serilog's compact JSON (CLEF: @t, @mt, @x) with a .NET SDK exception"},
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

// receiverTexts are receivers' replies as their postmaster pages document
// them (source per row): each must get its bounce rule as plain text.
var receiverTexts = []struct{ text, want, source string }{
	{"550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser", "bounce.hard.no-such-user", "Gmail SMTP errors, support.google.com/a/answer/3726730"},
	{"552-5.2.2 The email account that you tried to reach is over quota and inactive.", "bounce.soft.mailbox-full", "Gmail SMTP errors, support.google.com/a/answer/3726730"},
	{"550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", "bounce.policy.auth-failure", "Gmail SMTP errors, support.google.com/a/answer/3726730"},
	{"550-5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.", "bounce.soft.content-rejected", "Gmail SMTP errors, support.google.com/a/answer/3726730"},
	{"421-4.7.0 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address.", "bounce.policy.blocklisted", "common receiver wording (Sisimai reason lists)"},
	{"552-5.2.3 Your message exceeded Google's message size limits.", "bounce.soft.message-too-large", "Gmail SMTP errors, support.google.com/a/answer/3726730"},
	{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "bounce.hard.no-such-user", "Exchange Online/Outlook.com NDRs, learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online"},
	{"550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", "bounce.policy.blocklisted", "Exchange Online/Outlook.com NDRs, learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online"},
	{"554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded", "bounce.soft.mailbox-full", "Exchange Online/Outlook.com NDRs, learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online"},
	{"550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.", "bounce.policy.auth-failure", "Exchange Online/Outlook.com NDRs, learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online"},
	{"554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes", "bounce.soft.content-rejected", "Yahoo SMTP error codes, senders.yahooinc.com/smtp-error-codes"},
	{"552 1 Requested mail action aborted, mailbox not found", "bounce.hard.no-such-user", "common receiver wording (Sisimai reason lists)"},
	{"554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com", "bounce.hard.no-such-user", "Yahoo SMTP error codes, senders.yahooinc.com/smtp-error-codes"},
	{"554 delivery error: dd Sorry your message to x@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1.mail.ne1.yahoo.com", "bounce.hard.no-such-user", "Yahoo SMTP error codes, senders.yahooinc.com/smtp-error-codes"},
	{"550 5.1.1 <x@icloud.com>: user does not exist", "bounce.hard.no-such-user", "iCloud Mail, support.apple.com/HT204137"},
	{"552 5.2.2 <x@icloud.com>: user is over quota", "bounce.soft.mailbox-full", "iCloud Mail, support.apple.com/HT204137"},
	{"554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", "bounce.soft.content-rejected", "iCloud Mail, support.apple.com/HT204137"},
	{"550 5.1.1 Not our Customer", "bounce.hard.no-such-user", "Comcast/Spectrum error codes pages"},
	{"554 5.7.1 [P4] Message blocked due to spam content in the message.", "bounce.soft.content-rejected", "common receiver wording (Sisimai reason lists)"},
	{"550 5.1.0 <x@comcast.net> sender rejected. Please see https://www.spectrum.net/support", "bounce.policy.sender-rejected", "Comcast/Spectrum error codes pages"},
	{"550 Rejected by header based Anti-Spoofing policy: x@example.com", "bounce.policy.auth-failure", "Mimecast SMTP error codes (community.mimecast.com)"},
	{"550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550", "bounce.policy.sender-rejected", "Mimecast SMTP error codes (community.mimecast.com)"},
	{"554 Email rejected due to security policies - https://community.mimecast.com", "bounce.soft.content-rejected", "Mimecast SMTP error codes (community.mimecast.com)"},
	{"553 Mail from 192.0.2.1 not allowed - 5.7.1 [ts01] ", "bounce.policy.blocklisted", "Yahoo SMTP error codes, senders.yahooinc.com/smtp-error-codes"},
	{"550 5.7.1 Service unavailable; client [192.0.2.1] blocked using Barracuda Reputation, http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1", "bounce.policy.blocklisted", "Barracuda reputation replies (barracudacentral.org)"},
	{"554 Service unavailable; Client host [192.0.2.1] blocked using b.barracudacentral.org", "bounce.policy.blocklisted", "Barracuda reputation replies (barracudacentral.org)"},
	{"521 5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", "bounce.policy.blocklisted", "Proofpoint ipcheck / dynamic reputation replies"},
	{"550 5.7.1 Message rejected by Proofpoint Dynamic Reputation", "bounce.policy.blocklisted", "Proofpoint ipcheck / dynamic reputation replies"},
	{"554 5.7.1 Requested mail action aborted: Message refused by content filter", "bounce.soft.content-rejected", "common receiver wording (Sisimai reason lists)"},
	{"550 Requested action not taken: mailbox unavailable", "bounce.hard.no-such-user", "common receiver wording (Sisimai reason lists)"},
	{"554-gmx.net (mxgmx117) Nemesis ESMTP Service not available 554-No SMTP service 554-Bad DNS PTR resource record", "bounce.policy.auth-failure", "GMX/1&1 replies (Sisimai rhost tables, help pages)"},
	{"550 Message was not accepted -- invalid mailbox.  Local mailbox x@mail.ru is unavailable: user not found", "bounce.hard.no-such-user", "Mail.ru replies (help.mail.ru)"},
	{"550 spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=abc or report details to abuse@corp.mail.ru.", "bounce.soft.content-rejected", "Mail.ru replies (help.mail.ru)"},
	{"550 5.7.1 No such user!", "bounce.hard.no-such-user", "Yandex replies (yandex.com/support/mail)"},
	{"554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc", "bounce.soft.content-rejected", "Yandex replies (yandex.com/support/mail)"},
	{"552 5.2.2 Mailbox size limit exceeded", "bounce.soft.mailbox-full", "Yandex replies (yandex.com/support/mail)"},
	{"550 Unknown user x@docomo.ne.jp", "bounce.hard.no-such-user", "Japanese carriers (Sisimai rhost/for-nttdocomo.go, for-kddi.go)"},
	{"550 <x@ezweb.ne.jp>: User unknown", "bounce.hard.no-such-user", "Japanese carriers (Sisimai rhost/for-nttdocomo.go, for-kddi.go)"},
	{"550 5.7.1 Rejected: Message contains a blacklisted URL (SURBL)", "bounce.policy.blocklisted", "common receiver wording (Sisimai reason lists)"},
	{"550 5.7.1 Mail rejected: SPF fail - not authorized", "bounce.policy.auth-failure", "common receiver wording (Sisimai reason lists)"},
	{"550 5.7.1 Message rejected: DKIM signature verification failed", "bounce.policy.auth-failure", "common receiver wording (Sisimai reason lists)"},
	{"552 5.3.4 Error: message file too big", "bounce.soft.message-too-large", "common receiver wording (Sisimai reason lists)"},
	{"550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]", "bounce.policy.auth-failure", "common receiver wording (Sisimai reason lists)"},
	{"550 5.1.1 Benutzer unbekannt", "bounce.hard.no-such-user", "common receiver wording (Sisimai reason lists)"},
	{"552 5.2.2 Postfach voll", "bounce.soft.mailbox-full", "common receiver wording (Sisimai reason lists)"},
	{"550 5.1.1 Utilisateur inconnu", "bounce.hard.no-such-user", "common receiver wording (Sisimai reason lists)"},
	{"552 5.2.2 Boite aux lettres pleine", "bounce.soft.mailbox-full", "common receiver wording (Sisimai reason lists)"},
	{"550 5.1.1 Usuario desconocido", "bounce.hard.no-such-user", "common receiver wording (Sisimai reason lists)"},
	{"550 5.1.1 Usuário desconhecido", "bounce.hard.no-such-user", "localised wording of the same codes (RFC 3463 x.1.1 / x.2.2), phrase-list regression"},
	{"550 5.1.1 Пользователь не найден", "bounce.hard.no-such-user", "localised wording of the same codes (RFC 3463 x.1.1 / x.2.2), phrase-list regression"},
	{"550 5.1.1 用户不存在", "bounce.hard.no-such-user", "localised wording of the same codes (RFC 3463 x.1.1 / x.2.2), phrase-list regression"},
	{"550 5.1.1 宛先不明", "bounce.hard.no-such-user", "localised wording of the same codes (RFC 3463 x.1.1 / x.2.2), phrase-list regression"},
}

func TestReceiverTexts(t *testing.T) {
	set := ruleset.Default()
	for _, c := range receiverTexts {
		d := set.ClassifyBytes([]byte(c.text), nil, "t")[0]
		if d.Rule != c.want {
			t.Errorf("%.70q (%s): rule %s (%.2f), want %s; evidence %q", c.text, c.source, d.Rule, d.Confidence, c.want, d.Evidence)
		}
	}
}
