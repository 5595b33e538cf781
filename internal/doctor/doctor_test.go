package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/sesguard/sesguard/internal/stack"
)

var update = flag.Bool("update", false, "rewrite testdata golden files and docs/doctor.md's checks table")

var fixedNow = func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }

func opts() Options {
	return Options{Regions: []string{region}, Stack: "sesguard", Now: fixedNow, StackRegions: []string{"us-east-1", "us-west-2"}}
}

func run(w *world, o Options) *Report {
	return Run(context.Background(), w.clients, o)
}

func statuses(r *Report, id string) []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Check == id {
			out = append(out, x)
		}
	}
	return out
}

func TestHealthyPassesEveryCheck(t *testing.T) {
	r := run(healthy(), opts())
	if r.Failed() {
		var b bytes.Buffer
		WriteText(&b, r)
		t.Fatalf("healthy world fails:\n%s", b.String())
	}
	for _, c := range Checks {
		rs := statuses(r, c.ID)
		if !slices.ContainsFunc(rs, func(x Result) bool { return x.Status == Pass }) {
			t.Errorf("%s: no pass on the healthy world: %+v", c.ID, rs)
		}
		for _, x := range rs {
			if x.Status == Warn {
				t.Errorf("%s: warns on the healthy world: %s: %s", c.ID, x.Subject, x.Summary)
			}
		}
	}
}

// mutation mis-wires the healthy world; want is the status the check must
// give (on subject, when not empty).
type mutation struct {
	name    string
	check   string
	subject string
	want    Status
	mutate  func(w *world, o *Options)
}

func ident(w *world, n string) *sesv2.GetEmailIdentityOutput { return w.identities[region][n] }

var mutations = []mutation{
	{"sandbox", "doctor.account.production-access", "account", Fail, func(w *world, _ *Options) { w.account[region].ProductionAccessEnabled = false }},
	{"paused", "doctor.account.sending", "account", Fail, func(w *world, _ *Options) { w.account[region].SendingEnabled = false }},
	{"probation", "doctor.account.enforcement", "account", Warn, func(w *world, _ *Options) { w.account[region].EnforcementStatus = aws.String("PROBATION") }},
	{"shutdown", "doctor.account.enforcement", "account", Fail, func(w *world, _ *Options) { w.account[region].EnforcementStatus = aws.String("SHUTDOWN") }},
	{"account denied", "doctor.account.sending", "account", Skipped, func(w *world, _ *Options) { w.denied["ses:GetAccount"] = true }},
	{"pending domain", "doctor.identity.verified", "example.com", Fail, func(w *world, _ *Options) {
		ident(w, "example.com").VerificationStatus = sesv2types.VerificationStatusPending
		ident(w, "example.com").VerifiedForSendingStatus = false
	}},
	{"identity in another Region", "doctor.identity.verified", "other@example.org", Fail, func(w *world, o *Options) {
		o.Identities = []string{"other@example.org"}
	}},
	{"dkim failed", "doctor.identity.dkim", "example.com", Fail, func(w *world, _ *Options) {
		ident(w, "example.com").DkimAttributes = &sesv2types.DkimAttributes{Status: sesv2types.DkimStatusFailed, SigningEnabled: true}
	}},
	{"dkim off", "doctor.identity.dkim", "example.com", Fail, func(w *world, _ *Options) {
		ident(w, "example.com").DkimAttributes = &sesv2types.DkimAttributes{Status: sesv2types.DkimStatusSuccess}
	}},
	{"no mail from", "doctor.identity.mail-from", "example.com", Warn, func(w *world, _ *Options) { ident(w, "example.com").MailFromAttributes = nil }},
	{"mail from failed, reject", "doctor.identity.mail-from", "example.com", Fail, func(w *world, _ *Options) {
		ident(w, "example.com").MailFromAttributes = &sesv2types.MailFromAttributes{MailFromDomain: aws.String("mail.example.com"),
			MailFromDomainStatus: sesv2types.MailFromDomainStatusFailed, BehaviorOnMxFailure: sesv2types.BehaviorOnMxFailureRejectMessage}
	}},
	{"no default configuration set", "doctor.identity.configuration-set", "example.com", Warn, func(w *world, _ *Options) {
		ident(w, "example.com").ConfigurationSetName = nil
	}},
	{"default configuration set missing", "doctor.configset.exists", "gone", Fail, func(w *world, _ *Options) {
		ident(w, "example.com").ConfigurationSetName = aws.String("gone")
	}},
	{"address overrides domain", "doctor.identity.address-override", "noreply@example.com", Fail, func(w *world, _ *Options) {
		ident(w, "noreply@example.com").ConfigurationSetName = nil
	}},
	{"address overrides domain topics", "doctor.identity.address-override", "noreply@example.com", Fail, func(w *world, _ *Options) {
		w.notif[region]["example.com"] = sestypes.IdentityNotificationAttributes{BounceTopic: aws.String(failARN), ComplaintTopic: aws.String(failARN)}
		w.topics[failARN]["Policy"] = permissive
		w.subs[failARN] = []snstypes.Subscription{{SubscriptionArn: aws.String(failARN + ":3"), Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:x")}}
		w.subAttrs[failARN+":3"] = map[string]string{}
		w.fnPolicy["arn:aws:lambda:us-east-1:123456789012:function:x"] = permissiveFn
	}},
	{"forwarding duplicate", "doctor.identity.feedback-forwarding", "example.com", Warn, func(w *world, _ *Options) {
		w.notif[region]["example.com"] = sestypes.IdentityNotificationAttributes{ForwardingEnabled: true}
	}},
	{"forwarding off, nothing else", "doctor.identity.feedback-forwarding", "other.example", Fail, func(w *world, o *Options) {
		w.identities[region]["other.example"] = &sesv2.GetEmailIdentityOutput{IdentityType: sesv2types.IdentityTypeDomain, VerificationStatus: sesv2types.VerificationStatusSuccess,
			VerifiedForSendingStatus: true, DkimAttributes: ident(w, "example.com").DkimAttributes, MailFromAttributes: &sesv2types.MailFromAttributes{MailFromDomain: aws.String("mail.other.example"), MailFromDomainStatus: sesv2types.MailFromDomainStatusSuccess}}
		w.notif[region]["other.example"] = sestypes.IdentityNotificationAttributes{}
		w.dns["_dmarc.other.example"] = []string{"v=DMARC1; p=none"}
		w.dns["mail.other.example"] = []string{"v=spf1 include:amazonses.com -all"}
		o.Stack, o.Identities = "", []string{"other.example"}
	}},
	{"notifications and events on one topic", "doctor.identity.duplicate-feedback", "example.com", Fail, func(w *world, _ *Options) {
		for _, n := range []string{"example.com", "noreply@example.com"} {
			w.notif[region][n] = sestypes.IdentityNotificationAttributes{BounceTopic: aws.String(topicARN), ComplaintTopic: aws.String(topicARN)}
		}
		w.topics[topicARN]["Policy"] = permissive
	}},
	{"no dmarc", "doctor.dns.dmarc", "example.com", Warn, func(w *world, _ *Options) { delete(w.dns, "_dmarc.example.com") }},
	{"dns unreachable", "doctor.dns.dmarc", "example.com", Skipped, func(w *world, _ *Options) {
		w.dnsErr = &net.DNSError{Err: "i/o timeout", Name: "_dmarc.example.com", IsTimeout: true}
	}},
	{"no spf record", "doctor.dns.spf", "mail.example.com", Fail, func(w *world, _ *Options) {
		w.dnsErr = &net.DNSError{Err: "no such host", Name: "mail.example.com", IsNotFound: true}
		w.dns["_dmarc.example.com"] = nil
	}},
	{"spf without amazonses", "doctor.dns.spf", "mail.example.com", Fail, func(w *world, _ *Options) { w.dns["mail.example.com"] = []string{"v=spf1 -all"} }},
	{"configuration set missing", "doctor.configset.exists", "sesguard", Fail, func(w *world, _ *Options) { delete(w.configSets[region], "sesguard") }},
	{"configuration set paused", "doctor.configset.sending", "sesguard", Fail, func(w *world, _ *Options) {
		w.configSets[region]["sesguard"].SendingOptions.SendingEnabled = false
	}},
	{"no event destination", "doctor.configset.destination", "sesguard", Fail, func(w *world, _ *Options) { delete(w.dests[region], "sesguard") }},
	{"destination disabled", "doctor.configset.destination", "sesguard", Fail, func(w *world, _ *Options) { w.dests[region]["sesguard"][0].Enabled = false }},
	{"destination without bounce", "doctor.configset.event-types", "sesguard", Fail, func(w *world, _ *Options) {
		w.dests[region]["sesguard"][0].MatchingEventTypes = []sesv2types.EventType{"SEND", "COMPLAINT", "DELIVERY"}
	}},
	{"destination without send", "doctor.configset.event-types", "sesguard", Warn, func(w *world, _ *Options) {
		w.dests[region]["sesguard"][0].MatchingEventTypes = []sesv2types.EventType{"BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY", "RENDERING_FAILURE"}
	}},
	{"topic in another Region", "doctor.configset.topic-region", "sesguard", Fail, func(w *world, _ *Options) {
		other := strings.Replace(topicARN, "us-east-1", "eu-west-1", 1)
		w.dests[region]["sesguard"][0].SnsDestination.TopicArn = aws.String(other)
		w.topics[other] = w.topics[topicARN]
	}},
	{"topic missing", "doctor.topic.exists", topicARN, Fail, func(w *world, _ *Options) { delete(w.topics, topicARN) }},
	{"topic policy without SES", "doctor.topic.policy", topicARN, Fail, func(w *world, _ *Options) { w.topics[topicARN]["Policy"] = "" }},
	{"topic policy for another set", "doctor.topic.policy", topicARN, Fail, func(w *world, _ *Options) {
		w.topics[topicARN]["Policy"] = SESTopicPolicy(topicARN, acct, region, "other")
	}},
	{"identity topic without SES", "doctor.topic.policy", failARN, Fail, func(w *world, _ *Options) {
		for _, n := range []string{"example.com", "noreply@example.com"} {
			w.notif[region][n] = sestypes.IdentityNotificationAttributes{BounceTopic: aws.String(failARN), ComplaintTopic: aws.String(failARN)}
		}
		w.subs[failARN] = []snstypes.Subscription{{SubscriptionArn: aws.String(failARN + ":3"), Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:x")}}
		w.subAttrs[failARN+":3"] = map[string]string{}
		w.fnPolicy["arn:aws:lambda:us-east-1:123456789012:function:x"] = permissiveFn
	}},
	{"aws managed key alias", "doctor.topic.encryption", topicARN, Fail, func(w *world, _ *Options) { w.topics[topicARN]["KmsMasterKeyId"] = "alias/aws/sns" }},
	{"aws managed key by ID", "doctor.topic.encryption", topicARN, Fail, func(w *world, _ *Options) {
		w.topics[topicARN]["KmsMasterKeyId"] = "k-1"
		w.keys["k-1"] = &kmstypes.KeyMetadata{KeyId: aws.String("k-1"), Arn: aws.String("arn:aws:kms:us-east-1:123456789012:key/k-1"), KeyManager: kmstypes.KeyManagerTypeAws, KeyState: kmstypes.KeyStateEnabled}
	}},
	{"customer key disabled", "doctor.topic.encryption", topicARN, Fail, func(w *world, _ *Options) {
		w.topics[topicARN]["KmsMasterKeyId"] = "k-2"
		w.keys["k-2"] = &kmstypes.KeyMetadata{KeyId: aws.String("k-2"), KeyManager: kmstypes.KeyManagerTypeCustomer, KeyState: kmstypes.KeyStateDisabled}
	}},
	{"no subscribers", "doctor.topic.subscribers", topicARN, Fail, func(w *world, _ *Options) { delete(w.subs, topicARN) }},
	{"failed deliveries", "doctor.topic.deliveries", topicARN, Fail, func(w *world, _ *Options) { w.snsFailed = 12 }},
	{"subscription pending", "doctor.subscription.confirmed", subQueue, Fail, func(w *world, _ *Options) { w.subAttrs[subQueue]["PendingConfirmation"] = "true" }},
	{"subscription pending, no ARN yet", "doctor.subscription.confirmed", topicARN + " -> https https://hooks.example.com/ses", Fail, func(w *world, _ *Options) {
		w.subs[topicARN] = append(w.subs[topicARN], snstypes.Subscription{SubscriptionArn: aws.String("PendingConfirmation"), Protocol: aws.String("https"),
			Endpoint: aws.String("https://hooks.example.com/ses"), TopicArn: aws.String(topicARN)})
	}},
	{"raw delivery to bouncewatch", "doctor.subscription.raw-delivery", subQueue, Fail, func(w *world, _ *Options) { w.subAttrs[subQueue]["RawMessageDelivery"] = "true" }},
	{"queue policy missing", "doctor.subscription.queue-policy", subQueue, Fail, func(w *world, _ *Options) { delete(w.queues[queueURL1], "Policy") }},
	{"queue policy for another topic", "doctor.subscription.queue-policy", subQueue, Fail, func(w *world, _ *Options) {
		w.queues[queueURL1]["Policy"] = SNSQueuePolicy(queueARN1, failARN)
	}},
	{"no permission for SNS", "doctor.subscription.lambda-permission", subTriage, Fail, func(w *world, _ *Options) { w.fnPolicy = map[string]string{} }},
	{"permission for another topic", "doctor.subscription.lambda-permission", subTriage, Fail, func(w *world, _ *Options) {
		for k, v := range w.fnPolicy {
			w.fnPolicy[k] = strings.ReplaceAll(v, topicARN, failARN)
		}
	}},
	{"queue with aws managed key", "doctor.subscription.queue-encryption", subQueue, Fail, func(w *world, _ *Options) {
		w.queues[queueURL1]["KmsMasterKeyId"] = "alias/aws/sqs"
	}},
	{"stack in another Region", "doctor.stack.region", "sesguard", Fail, func(w *world, _ *Options) {
		w.stacks["us-west-2"] = w.stacks[region]
		delete(w.stacks, region)
	}},
	{"stack rolled back", "doctor.stack.status", "sesguard", Fail, func(w *world, _ *Options) { w.stacks[region].StackStatus = "UPDATE_ROLLBACK_COMPLETE" }},
	{"configuration set publishes elsewhere", "doctor.stack.destination", "sesguard", Fail, func(w *world, _ *Options) {
		w.dests[region]["sesguard"][0].SnsDestination.TopicArn = aws.String(failARN)
		w.subs[failARN] = []snstypes.Subscription{{SubscriptionArn: aws.String(failARN + ":3"), Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:x")}}
		w.subAttrs[failARN+":3"] = map[string]string{}
		w.fnPolicy["arn:aws:lambda:us-east-1:123456789012:function:x"] = permissiveFn
		w.topics[failARN]["Policy"] = SESTopicPolicy(failARN, acct, region, "sesguard")
	}},
	{"event source disabled", "doctor.stack.event-source", bwFn, Fail, func(w *world, _ *Options) { w.esms[bwFn][0].State = aws.String("Disabled") }},
	{"event source missing", "doctor.stack.event-source", bwFn, Fail, func(w *world, _ *Options) { delete(w.esms, bwFn) }},
	{"triage not subscribed", "doctor.stack.subscriptions", "sesguard", Fail, func(w *world, _ *Options) { w.subs[topicARN] = w.subs[topicARN][1:] }},
	{"dead letters", "doctor.stack.dead-letter", tdlqURL, Warn, func(w *world, _ *Options) { w.queues[tdlqURL]["ApproximateNumberOfMessages"] = "3" }},
	{"alarm", "doctor.stack.alarms", "sesguard", Fail, func(w *world, _ *Options) { w.alarms[0].StateValue = cwtypes.StateValueAlarm }},
	{"half the traffic bypasses", "doctor.stack.coverage", "sesguard", Warn, func(w *world, _ *Options) { w.ourSends = 500 }},
	{"no traffic through the set", "doctor.stack.coverage", "sesguard", Fail, func(w *world, _ *Options) { w.ourSends = 0 }},
}

func TestChecks(t *testing.T) {
	covered := map[string]bool{}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			w, o := healthy(), opts()
			m.mutate(w, &o)
			r := run(w, o)
			rs := statuses(r, m.check)
			i := slices.IndexFunc(rs, func(x Result) bool { return m.subject == "" || x.Subject == m.subject })
			if i < 0 {
				t.Fatalf("%s: no result for %q: %+v", m.check, m.subject, rs)
			}
			got := rs[i]
			if got.Status != m.want {
				t.Fatalf("%s on %s = %s (%s), want %s", m.check, got.Subject, got.Status, got.Summary, m.want)
			}
			if m.want == Fail || m.want == Warn {
				if len(got.Evidence) == 0 || len(got.Fix) == 0 {
					t.Errorf("%s: a %s needs evidence and a fix: %+v", m.check, m.want, got)
				}
				for _, f := range got.Fix {
					if !strings.Contains(f, "`") && !strings.HasPrefix(f, "DNS:") && !strings.HasPrefix(f, "If SES") {
						t.Errorf("%s: fix without a command in backticks: %s", m.check, f)
					}
				}
			}
			if m.want == Skipped && !strings.Contains(got.Summary, "may not call") && !strings.Contains(got.Summary, "failed: ") {
				t.Errorf("%s: skipped without saying why: %q", m.check, got.Summary)
			}
			// One root cause, one failure: nothing else fails except
			// where a mutation cannot help breaking two things.
			for _, x := range r.Results {
				if x.Status == Fail && x.Check != m.check && !alsoFails[m.name+"|"+x.Check] {
					t.Errorf("also failed: %s on %s: %s", x.Check, x.Subject, x.Summary)
				}
			}
		})
		covered[m.check] = true
	}
	for _, c := range Checks {
		if !covered[c.ID] {
			t.Errorf("%s has no failing fixture in mutations", c.ID)
		}
	}
}

// alsoFails lists the second failures a mutation rightly causes.
var alsoFails = map[string]bool{
	// No configuration set publishes BOUNCE: the set's check fails, and
	// the identities with nothing else.
	"forwarding off, nothing else|doctor.configset.event-types": true,
}

// permissiveFn lets SNS invoke function x for any topic of the account.
const permissiveFn = `{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"*","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"}}}]}`

// permissive lets SES publish for anything of the account.
const permissive = `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ses.amazonaws.com"},"Action":"sns:Publish","Resource":"*","Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"}}}]}`

func TestIAMActionsAreTheCallsMade(t *testing.T) {
	used := map[string]bool{}
	worlds := []func(*world, *Options){func(*world, *Options) {}}
	for _, m := range mutations {
		worlds = append(worlds, m.mutate)
	}
	worlds = append(worlds, func(w *world, o *Options) { // lists configuration sets
		o.Stack, o.ConfigurationSet = "", ""
		for _, id := range w.identities[region] {
			id.ConfigurationSetName = nil
		}
	})
	for _, mut := range worlds {
		w, o := healthy(), opts()
		mut(w, &o)
		run(w, o)
		for _, a := range w.actions() {
			used[a] = true
		}
	}
	var got []string
	for a := range used {
		got = append(got, a)
	}
	slices.Sort(got)
	if want := IAMActions(); !slices.Equal(got, want) {
		t.Errorf("calls made %v\nIAMActions %v", got, want)
	}
	for _, a := range got {
		if !regexp.MustCompile(`^[a-z0-9]+:(Get|List|Describe)[A-Za-z]+$`).MatchString(a) {
			t.Errorf("%s is not a read-only action", a)
		}
	}
	var doc PolicyDocument
	if err := json.Unmarshal([]byte(ReadOnlyPolicy()), &doc); err != nil {
		t.Fatal(err)
	}
	if acts := strs(doc.Statement[0].Action); !slices.Equal(acts, IAMActions()) {
		t.Errorf("policy actions %v", acts)
	}
}

func TestCheckIDs(t *testing.T) {
	re := regexp.MustCompile(`^doctor\.[a-z]+\.[a-z][a-z-]*$`)
	seen := map[string]bool{}
	for _, c := range Checks {
		if !re.MatchString(c.ID) || seen[c.ID] {
			t.Errorf("bad or duplicate ID %q", c.ID)
		}
		seen[c.ID] = true
		if c.Title == "" {
			t.Errorf("%s has no title", c.ID)
		}
	}
	if len(Checks) < 20 {
		t.Errorf("%d checks, want at least 20", len(Checks))
	}
}

func TestAccessDeniedIsSkippedNotGuessed(t *testing.T) {
	w := healthy()
	w.denied["sns:GetTopicAttributes"] = true
	r := run(w, opts())
	for _, x := range statuses(r, "doctor.topic.exists") {
		if x.Status != Skipped || !strings.Contains(x.Summary, "sns:GetTopicAttributes") {
			t.Errorf("got %+v", x)
		}
	}
	for _, x := range statuses(r, "doctor.topic.policy") {
		if x.Status != Skipped {
			t.Errorf("policy not skipped: %+v", x)
		}
	}
	if r.Failed() {
		t.Error("a call the caller may not make is not a failure")
	}
}

func TestConcurrentRegions(t *testing.T) {
	w := healthy()
	o := opts()
	o.Regions = []string{"us-east-1", "eu-west-1"}
	r := run(w, o)
	var regions []string
	for _, x := range r.Results {
		if len(regions) == 0 || regions[len(regions)-1] != x.Region {
			regions = append(regions, x.Region)
		}
	}
	if !slices.Equal(regions, o.Regions) {
		t.Errorf("results grouped by %v, want %v", regions, o.Regions)
	}
	// eu-west-1 has no identity and no stack: nothing sends there.
	if st := statuses(r, "doctor.stack.region"); st[1].Status != Skipped || !strings.Contains(st[1].Summary, "no verified identity") {
		t.Errorf("eu-west-1 stack region: %+v", st[1])
	}
	if r.Failed() {
		t.Error("a Region that does not send fails")
	}
}

func TestTextGolden(t *testing.T) {
	w := healthy()
	w.dests[region]["sesguard"][0].MatchingEventTypes = []sesv2types.EventType{"SEND", "COMPLAINT"}
	w.subAttrs[subQueue]["PendingConfirmation"] = "true"
	delete(w.dns, "_dmarc.example.com")
	w.esms[bwFn] = []lambdatypes.EventSourceMappingConfiguration{}
	var b bytes.Buffer
	WriteText(&b, run(w, opts()))
	golden(t, "testdata/text.golden", b.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update and review):\n%s", path, got)
	}
}

const docsPath = "../../docs/doctor.md"

func TestDocsListTheChecks(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- checks:begin -->\n", "<!-- checks:end -->"
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q markers", docsPath, begin, end)
	}
	want := ChecksMarkdown()
	if got := string(doc[i+len(begin) : j]); got != want {
		if *update {
			out := append(append(append([]byte{}, doc[:i+len(begin)]...), want...), doc[j:]...)
			if err := os.WriteFile(docsPath, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's checks table differs from Checks (go test ./internal/doctor -run Docs -update):\n%s", docsPath, want)
	}
}

// TestJSONContract checks --json output against the example in
// docs/doctor.md: the same keys at every level, the documented status
// values, and one JSON document.
func TestJSONContract(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- json-contract -->\n```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("%s: no json-contract block", docsPath)
	}
	var example map[string]any
	if err := json.Unmarshal(m[1], &example); err != nil {
		t.Fatalf("documented example: %v", err)
	}
	w := healthy()
	w.account[region].ProductionAccessEnabled = false
	var b bytes.Buffer
	if err := WriteJSON(&b, run(w, opts())); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&b)
	var got map[string]any
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if dec.More() {
		t.Error("more than one JSON document")
	}
	sameKeys(t, "report", example, got)
	sameKeys(t, "counts", example["counts"].(map[string]any), got["counts"].(map[string]any))
	exRes := example["results"].([]any)[0].(map[string]any)
	for i, r := range got["results"].([]any) {
		rm := r.(map[string]any)
		sameKeys(t, "results["+rm["check"].(string)+"]", exRes, rm)
		if !slices.Contains(AllStatuses, Status(rm["status"].(string))) {
			t.Errorf("result %d: status %v", i, rm["status"])
		}
	}
	if got["version"].(float64) != ReportVersion || example["version"].(float64) != ReportVersion {
		t.Errorf("version: output %v, docs %v, code %d", got["version"], example["version"], ReportVersion)
	}
}

func sameKeys(t *testing.T, where string, want, got map[string]any) {
	t.Helper()
	var wk, gk []string
	for k := range want {
		wk = append(wk, k)
	}
	for k := range got {
		gk = append(gk, k)
	}
	slices.Sort(wk)
	slices.Sort(gk)
	if !slices.Equal(wk, gk) {
		t.Errorf("%s: keys %v, documented %v", where, gk, wk)
	}
}

func TestAllows(t *testing.T) {
	pol := SESTopicPolicy(topicARN, acct, region, "sesguard")
	ctx := func(set string) map[string]string {
		return map[string]string{"aws:sourcearn": "arn:aws:ses:us-east-1:123456789012:configuration-set/" + set, "aws:sourceaccount": acct}
	}
	if ok, why, _ := allows(pol, "ses.amazonaws.com", "sns:Publish", topicARN, ctx("sesguard")); !ok {
		t.Errorf("own policy refused: %s", why)
	}
	if ok, _, _ := allows(pol, "ses.amazonaws.com", "sns:Publish", topicARN, ctx("other")); ok {
		t.Error("another set allowed")
	}
	wild := `{"Statement":{"Effect":"Allow","Principal":{"Service":["ses.amazonaws.com"]},"Action":["SNS:*"],"Resource":"*","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:ses:*:123456789012:*"}}}}`
	if ok, why, _ := allows(wild, "ses.amazonaws.com", "sns:Publish", topicARN, ctx("x")); !ok {
		t.Errorf("wildcard policy refused: %s", why)
	}
	deny := `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:Publish","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"sns:*","Resource":"*"}]}`
	if ok, _, _ := allows(deny, "ses.amazonaws.com", "sns:Publish", topicARN, ctx("x")); ok {
		t.Error("deny ignored")
	}
	if _, _, err := allows("{", "ses.amazonaws.com", "sns:Publish", topicARN, ctx("x")); err == nil {
		t.Error("bad JSON accepted")
	}
}

// TestDocsShowThePolicy keeps the policy in docs/doctor.md and the README's
// Doctor section equal to --print-policy's.
func TestDocsShowThePolicy(t *testing.T) {
	for _, p := range []string{docsPath, "../../README.md"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if p == "../../README.md" && !strings.Contains(string(b), fmt.Sprintf(" %d checks, ", len(Checks))) {
			t.Errorf("README does not say %d checks", len(Checks))
		}
		if !strings.Contains(string(b), "```json\n"+ReadOnlyPolicy()+"\n```") {
			t.Errorf("%s does not show the policy of sesguard doctor --print-policy:\n%s", p, ReadOnlyPolicy())
		}
	}
}

// TestStackOutputsExist keeps the stack output and parameter names doctor
// reads equal to template.yaml's.
func TestStackOutputsExist(t *testing.T) {
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := stack.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{OutSesEventsTopic, OutSendFailuresTopic, OutConfigurationSet, OutTriageFunction, OutBouncewatchFunc, OutTriageDLQ, OutBouncewatchDLQ} {
		if _, ok := tmpl.Outputs[k]; !ok {
			t.Errorf("template.yaml has no output %s", k)
		}
	}
	if _, ok := tmpl.Parameters[ParamMetricsNamespace]; !ok {
		t.Errorf("template.yaml has no parameter %s", ParamMetricsNamespace)
	}
}
