package doctor

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// Checks is the table, in the order results are printed. Add at the end
// of an area; never rename or reuse an ID.
var Checks = []Check{
	{ID: "doctor.account.production-access", Title: "the account is out of the SES sandbox in the Region", Actions: []string{"ses:GetAccount"}, run: accountCheck(checkProduction)},
	{ID: "doctor.account.sending", Title: "sending is enabled for the account in the Region (not paused)", Actions: []string{"ses:GetAccount"}, run: accountCheck(checkSending)},
	{ID: "doctor.account.enforcement", Title: "the account is not under review (PROBATION) or shut down", Actions: []string{"ses:GetAccount"}, run: accountCheck(checkEnforcement)},

	{ID: "doctor.identity.verified", Title: "each identity exists in the Region and is verified for sending", Actions: []string{"ses:ListEmailIdentities", "ses:GetEmailIdentity"}, run: checkVerified},
	{ID: "doctor.identity.dkim", Title: "Easy DKIM (or BYODKIM) signs for the identity's domain", Actions: []string{"ses:GetEmailIdentity"}, run: checkDKIM},
	{ID: "doctor.identity.mail-from", Title: "a custom MAIL FROM domain is set and verified (SPF that aligns for DMARC)", Actions: []string{"ses:GetEmailIdentity"}, run: checkMailFrom},
	{ID: "doctor.identity.configuration-set", Title: "the identity's default configuration set exists and is the watched one", Actions: []string{"ses:GetEmailIdentity", "ses:GetConfigurationSet"}, run: checkIdentityConfigSet},
	{ID: "doctor.identity.address-override", Title: "a verified address identity does not drop its domain's configuration set or notification topics", Actions: []string{"ses:GetEmailIdentity", "ses:GetIdentityNotificationAttributes"}, run: checkAddressOverride},
	{ID: "doctor.identity.feedback-forwarding", Title: "email feedback forwarding is off when events are published, and bounces reach something", Actions: []string{"ses:GetIdentityNotificationAttributes"}, run: checkForwarding},
	{ID: "doctor.identity.duplicate-feedback", Title: "bounces are not published both as identity notifications (notificationType) and as events (eventType)", Actions: []string{"ses:GetIdentityNotificationAttributes", "ses:GetConfigurationSetEventDestinations"}, run: checkDuplicate},

	{ID: "doctor.dns.dmarc", Title: "the sending domain publishes a DMARC record (_dmarc TXT)", run: checkDMARC},
	{ID: "doctor.dns.spf", Title: "the custom MAIL FROM domain's SPF record includes amazonses.com", run: checkSPF},

	{ID: "doctor.configset.exists", Title: "the configuration set exists in the Region", Actions: []string{"ses:ListConfigurationSets", "ses:GetConfigurationSet"}, run: checkConfigSetExists},
	{ID: "doctor.configset.sending", Title: "sending is enabled for the configuration set (not paused)", Actions: []string{"ses:GetConfigurationSet"}, run: checkConfigSetSending},
	{ID: "doctor.configset.destination", Title: "the configuration set has an enabled event destination", Actions: []string{"ses:GetConfigurationSetEventDestinations"}, run: checkDestination},
	{ID: "doctor.configset.event-types", Title: "the enabled destinations publish BOUNCE and COMPLAINT (and SEND, for the rates)", Actions: []string{"ses:GetConfigurationSetEventDestinations"}, run: checkEventTypes},
	{ID: "doctor.configset.topic-region", Title: "the destination's SNS topic is in the configuration set's Region", Actions: []string{"ses:GetConfigurationSetEventDestinations"}, run: checkTopicRegion},

	{ID: "doctor.topic.exists", Title: "the SNS topic SES publishes to exists and is a standard topic", Actions: []string{"sns:GetTopicAttributes"}, run: checkTopicExists},
	{ID: "doctor.topic.policy", Title: "the topic policy lets ses.amazonaws.com publish for this account and configuration set", Actions: []string{"sns:GetTopicAttributes"}, run: checkTopicPolicy},
	{ID: "doctor.topic.encryption", Title: "the topic is not encrypted with the AWS-managed alias/aws/sns key (SES cannot use it)", Actions: []string{"sns:GetTopicAttributes", "kms:DescribeKey"}, run: checkTopicEncryption},
	{ID: "doctor.topic.subscribers", Title: "the topic has subscribers", Actions: []string{"sns:ListSubscriptionsByTopic"}, run: checkSubscribers},

	{ID: "doctor.topic.deliveries", Title: "SNS delivered what the topic published over the last day (a failing endpoint shows as NumberOfNotificationsFailed)", Actions: []string{"cloudwatch:GetMetricData"}, run: checkDeliveries},

	{ID: "doctor.subscription.confirmed", Title: "the subscription is confirmed (not PendingConfirmation)", Actions: []string{"sns:GetSubscriptionAttributes"}, run: checkConfirmed},
	{ID: "doctor.subscription.raw-delivery", Title: "raw message delivery matches what the consumer decodes (sesguard expects the SNS envelope)", Actions: []string{"sns:GetSubscriptionAttributes", "lambda:ListEventSourceMappings"}, run: checkRawDelivery},
	{ID: "doctor.subscription.queue-policy", Title: "the SQS queue policy lets the topic send to the queue", Actions: []string{"sqs:GetQueueUrl", "sqs:GetQueueAttributes"}, run: checkQueuePolicy},
	{ID: "doctor.subscription.lambda-permission", Title: "the Lambda function's resource policy lets SNS invoke it for the topic", Actions: []string{"lambda:GetPolicy"}, run: checkLambdaPermission},
	{ID: "doctor.subscription.queue-encryption", Title: "the SQS queue is not encrypted with the AWS-managed alias/aws/sqs key (SNS cannot use it)", Actions: []string{"sqs:GetQueueAttributes"}, run: checkQueueEncryption},

	{ID: "doctor.stack.region", Title: "sesguard's stack is deployed in the Region that sends", Actions: []string{"cloudformation:DescribeStacks"}, run: checkStackRegion},
	{ID: "doctor.stack.status", Title: "the stack's last deployment completed", Actions: []string{"cloudformation:DescribeStacks"}, run: checkStackStatus},
	{ID: "doctor.stack.destination", Title: "the stack's configuration set publishes to the stack's SesEventsTopic", Actions: []string{"ses:GetConfigurationSetEventDestinations"}, run: checkStackDestination},
	{ID: "doctor.stack.event-source", Title: "bouncewatch's SQS event source mapping exists and is enabled", Actions: []string{"lambda:ListEventSourceMappings"}, run: checkEventSource},
	{ID: "doctor.stack.subscriptions", Title: "the stack's topics are subscribed by triage and bouncewatch's queue", Actions: []string{"sns:ListSubscriptionsByTopic"}, run: checkStackSubscriptions},
	{ID: "doctor.stack.dead-letter", Title: "the stack's dead-letter queues are empty", Actions: []string{"sqs:GetQueueAttributes"}, run: checkDeadLetter},
	{ID: "doctor.stack.alarms", Title: "none of the stack's alarms is in ALARM", Actions: []string{"cloudwatch:DescribeAlarms"}, run: checkAlarms},
	{ID: "doctor.stack.coverage", Title: "sesguard counted as many sends as SES (AWS/SES Send) over the last day: traffic bypassing the configuration set shows as a ratio", Actions: []string{"cloudwatch:GetMetricData"}, run: checkCoverage},
}

func init() {
	// A check with no subject in a Region says so, so that every check
	// appears in every Region's results.
	for i := range Checks {
		run := Checks[i].run
		Checks[i].run = func(e *env) []Result {
			rs := run(e)
			if len(rs) == 0 {
				rs = []Result{skip("-", "nothing to check: "+nothingToCheck(Area(Checks[i].ID), e))}
			}
			return rs
		}
	}
}

func nothingToCheck(area string, e *env) string {
	switch area {
	case "stack":
		if e.o.Stack == "" {
			return "no --stack given"
		}
		return "stack " + e.o.Stack + " is not in " + e.s.Region
	case "identity", "dns":
		if e.s.IdentityListErr != nil {
			return callWhy("ses:ListEmailIdentities", e.s.IdentityListErr)
		}
		return "no identity in " + e.s.Region + " applies"
	case "configset":
		return "no configuration set named (--configuration-set, --stack, an identity's default) or listed in " + e.s.Region + " applies"
	case "topic", "subscription":
		return "no SNS topic or subscription found that SES publishes to in " + e.s.Region
	}
	return "no subject in " + e.s.Region
}

func res(subject string, st Status, summary string, evidence []string, fix ...string) Result {
	return Result{Subject: subject, Status: st, Summary: summary, Evidence: evidence, Fix: fix}
}

func skip(subject, why string) Result { return Result{Subject: subject, Status: Skipped, Summary: why} }

func callWhy(action string, err error) string {
	if isAccessDenied(err) {
		return "the caller may not call " + action + " (see sesguard doctor --print-policy): " + err.Error()
	}
	return action + " failed: " + err.Error()
}

func callSkip(subject, action string, err error) Result { return skip(subject, callWhy(action, err)) }

// ------------------------------------------------------------- account

func accountCheck(f func(a *sesv2.GetAccountOutput, region string) Result) func(*env) []Result {
	return func(e *env) []Result {
		if e.s.AccountErr != nil {
			return []Result{callSkip("account", "ses:GetAccount", e.s.AccountErr)}
		}
		r := f(e.s.Account, e.s.Region)
		r.Subject = "account"
		return []Result{r}
	}
}

func checkProduction(a *sesv2.GetAccountOutput, region string) Result {
	ev := []string{fmt.Sprintf("GetAccount in %s: ProductionAccessEnabled=%t", region, a.ProductionAccessEnabled)}
	if a.ProductionAccessEnabled {
		return res("", Pass, "production access", ev)
	}
	return res("", Fail, "the account is in the sandbox in "+region+": only verified recipients and the mailbox simulator receive mail, 200 messages a day", ev,
		fmt.Sprintf("Request production access: `aws sesv2 put-account-details --production-access-enabled --mail-type TRANSACTIONAL --website-url https://YOUR.SITE --use-case-description \"how you collect addresses and handle bounces and complaints\" --region %s`", region))
}

func checkSending(a *sesv2.GetAccountOutput, region string) Result {
	ev := []string{fmt.Sprintf("GetAccount in %s: SendingEnabled=%t, EnforcementStatus=%s", region, a.SendingEnabled, aws.ToString(a.EnforcementStatus))}
	if a.SendingEnabled {
		return res("", Pass, "sending enabled", ev)
	}
	return res("", Fail, "sending is paused for the account in "+region+": every send is rejected", ev,
		"If SES paused it (EnforcementStatus not HEALTHY), answer the case in the AWS Support Center first",
		fmt.Sprintf("If you paused it: `aws sesv2 put-account-sending-attributes --sending-enabled --region %s`", region))
}

func checkEnforcement(a *sesv2.GetAccountOutput, region string) Result {
	st := aws.ToString(a.EnforcementStatus)
	ev := []string{fmt.Sprintf("GetAccount in %s: EnforcementStatus=%s", region, st)}
	switch st {
	case "HEALTHY", "":
		return res("", Pass, "no enforcement", ev)
	case "PROBATION":
		return res("", Warn, "the account is under review in "+region+": bring the bounce rate below 5% and complaints below 0.1% before the review ends", ev,
			"See the reputation dashboard and the review's case: `aws sesv2 get-account --region "+region+" --query Details`")
	}
	return res("", Fail, "the account's sending is shut down in "+region+" (EnforcementStatus "+st+")", ev,
		"Open the case in the AWS Support Center; `aws sesv2 get-account --region "+region+" --query Details` shows its state")
}

// ------------------------------------------------------------- identities

func checkVerified(e *env) []Result {
	var out []Result
	for _, id := range e.s.Identities {
		if id.Err != nil {
			if isNotFound(id.Err) {
				fix := fmt.Sprintf("Create and verify it in %s: `aws sesv2 create-email-identity --email-identity %s --region %s`", e.s.Region, id.Name, e.s.Region)
				out = append(out, res(id.Name, Fail, id.Name+" is not an identity in "+e.s.Region+" (identities are per Region)",
					[]string{"GetEmailIdentity: " + id.Err.Error()}, fix))
			} else {
				out = append(out, callSkip(id.Name, "ses:GetEmailIdentity", id.Err))
			}
			continue
		}
		ev := []string{fmt.Sprintf("GetEmailIdentity: VerificationStatus=%s, VerifiedForSendingStatus=%t", id.Out.VerificationStatus, id.Out.VerifiedForSendingStatus)}
		if id.Out.VerificationStatus == sesv2types.VerificationStatusSuccess && id.Out.VerifiedForSendingStatus {
			out = append(out, res(id.Name, Pass, "verified", ev))
			continue
		}
		fix := fmt.Sprintf("Publish the DKIM CNAME records: `aws sesv2 get-email-identity --email-identity %s --region %s --query DkimAttributes.Tokens` (each token T: T._domainkey.%s CNAME T.dkim.amazonses.com)", id.Name, e.s.Region, id.Name)
		if id.IsAddress {
			fix = fmt.Sprintf("Click the link SES mailed to %s, or send it again: `aws sesv2 delete-email-identity --email-identity %s --region %s` then `aws sesv2 create-email-identity --email-identity %s --region %s`", id.Name, id.Name, e.s.Region, id.Name, e.s.Region)
		}
		out = append(out, res(id.Name, Fail, id.Name+" is not verified for sending in "+e.s.Region, ev, fix))
	}
	return out
}

// identities returns the identities whose verified check passed (the
// others' settings do not matter yet), with a skip for the rest.
func (e *env) identities() (ok []*Identity, skipped []Result) {
	return passed(e, e.s.Identities, "doctor.identity.verified", func(id *Identity) string { return id.Name })
}

// passed splits subjects into those the prerequisite check did not fail or
// skip, and a skip result (naming the prerequisite) for each of the rest.
func passed[T any](e *env, subjects []T, prerequisite string, name func(T) string) (ok []T, skipped []Result) {
	for _, s := range subjects {
		if why, bad := e.failed(prerequisite, name(s)); bad {
			skipped = append(skipped, skip(name(s), why))
			continue
		}
		ok = append(ok, s)
	}
	return ok, skipped
}

func checkDKIM(e *env) []Result {
	ids, out := e.identities()
	for _, id := range ids {
		if id.IsAddress {
			if id.Parent != nil {
				out = append(out, skip(id.Name, "DKIM is the domain's: see "+id.Parent.Name))
				continue
			}
			out = append(out, res(id.Name, Warn, "the domain "+id.Domain+" is not an identity in "+e.s.Region+": mail from "+id.Name+" carries only amazonses.com's DKIM signature, which does not align for DMARC",
				[]string{"GetEmailIdentity " + id.Domain + ": not found"},
				fmt.Sprintf("`aws sesv2 create-email-identity --email-identity %s --region %s`, then publish the three DKIM CNAMEs it returns", id.Domain, e.s.Region)))
			continue
		}
		d := id.Out.DkimAttributes
		if d == nil {
			out = append(out, res(id.Name, Fail, "no DKIM attributes for "+id.Name, []string{"GetEmailIdentity: DkimAttributes absent"},
				fmt.Sprintf("`aws sesv2 put-email-identity-dkim-attributes --email-identity %s --signing-enabled --region %s`", id.Name, e.s.Region)))
			continue
		}
		ev := []string{fmt.Sprintf("GetEmailIdentity: DkimAttributes.Status=%s, SigningEnabled=%t", d.Status, d.SigningEnabled)}
		switch {
		case d.Status == sesv2types.DkimStatusSuccess && d.SigningEnabled:
			out = append(out, res(id.Name, Pass, "DKIM signing", ev))
		case !d.SigningEnabled:
			out = append(out, res(id.Name, Fail, "DKIM signing is off for "+id.Name, ev,
				fmt.Sprintf("`aws sesv2 put-email-identity-dkim-attributes --email-identity %s --signing-enabled --region %s`", id.Name, e.s.Region)))
		default:
			out = append(out, res(id.Name, Fail, "DKIM for "+id.Name+" is "+string(d.Status)+": the CNAME records are missing or wrong", ev,
				fmt.Sprintf("Publish each token T of `aws sesv2 get-email-identity --email-identity %s --region %s --query DkimAttributes.Tokens` as T._domainkey.%s CNAME T.dkim.amazonses.com", id.Name, e.s.Region, id.Name)))
		}
	}
	return out
}

func mailFromFix(id *Identity, region string) []string {
	d := "mail." + id.Domain
	return []string{
		fmt.Sprintf("`aws sesv2 put-email-identity-mail-from-attributes --email-identity %s --mail-from-domain %s --behavior-on-mx-failure USE_DEFAULT_VALUE --region %s`", id.Name, d, region),
		fmt.Sprintf("DNS: %s MX 10 feedback-smtp.%s.amazonses.com, and %s TXT \"v=spf1 include:amazonses.com ~all\"", d, region, d),
	}
}

func checkMailFrom(e *env) []Result {
	ids, out := e.identities()
	for _, id := range ids {
		m := id.Out.MailFromAttributes
		if m == nil || aws.ToString(m.MailFromDomain) == "" {
			if id.IsAddress && id.Parent != nil {
				out = append(out, skip(id.Name, "no MAIL FROM of its own: see "+id.Parent.Name))
				continue
			}
			out = append(out, res(id.Name, Warn, "no custom MAIL FROM domain: SPF passes for amazonses.com but does not align with "+id.Domain+" for DMARC",
				[]string{"GetEmailIdentity: MailFromAttributes.MailFromDomain empty"}, mailFromFix(id, e.s.Region)...))
			continue
		}
		ev := []string{fmt.Sprintf("GetEmailIdentity: MailFromDomain=%s, MailFromDomainStatus=%s, BehaviorOnMxFailure=%s", aws.ToString(m.MailFromDomain), m.MailFromDomainStatus, m.BehaviorOnMxFailure)}
		switch m.MailFromDomainStatus {
		case sesv2types.MailFromDomainStatusSuccess:
			out = append(out, res(id.Name, Pass, "MAIL FROM "+aws.ToString(m.MailFromDomain), ev))
		case sesv2types.MailFromDomainStatusPending:
			out = append(out, res(id.Name, Warn, "MAIL FROM "+aws.ToString(m.MailFromDomain)+" is still pending (SES looks for its MX record)", ev, mailFromFix(id, e.s.Region)[1]))
		default:
			if m.BehaviorOnMxFailure == sesv2types.BehaviorOnMxFailureRejectMessage {
				out = append(out, res(id.Name, Fail, "MAIL FROM "+aws.ToString(m.MailFromDomain)+" is "+string(m.MailFromDomainStatus)+" and BehaviorOnMxFailure=REJECT_MESSAGE: SES rejects every send (MailFromDomainNotVerified)", ev, mailFromFix(id, e.s.Region)...))
			} else {
				out = append(out, res(id.Name, Warn, "MAIL FROM "+aws.ToString(m.MailFromDomain)+" is "+string(m.MailFromDomainStatus)+": SES falls back to amazonses.com", ev, mailFromFix(id, e.s.Region)...))
			}
		}
	}
	return out
}

// watched is the configuration set sesguard watches: --configuration-set,
// else the stack's.
func (e *env) watched() string {
	if e.o.ConfigurationSet != "" {
		return e.o.ConfigurationSet
	}
	if st := e.s.Stack; st != nil && st.Found {
		return st.Outputs[OutConfigurationSet]
	}
	return ""
}

func (e *env) configSet(name string) *ConfigSet {
	for _, cs := range e.s.ConfigSets {
		if cs.Name == name {
			return cs
		}
	}
	return nil
}

// effectiveConfigSet is the configuration set an identity's sends use: its
// default, else the watched one (which the application must then pass).
func (e *env) effectiveConfigSet(id *Identity) *ConfigSet {
	if n := aws.ToString(id.Out.ConfigurationSetName); n != "" {
		return e.configSet(n)
	}
	if w := e.watched(); w != "" {
		return e.configSet(w)
	}
	return nil
}

func checkIdentityConfigSet(e *env) []Result {
	ids, out := e.identities()
	w := e.watched()
	for _, id := range ids {
		name := aws.ToString(id.Out.ConfigurationSetName)
		fix := ""
		if w != "" {
			fix = fmt.Sprintf("`aws sesv2 put-email-identity-configuration-set-attributes --email-identity %s --configuration-set-name %s --region %s`", id.Name, w, e.s.Region)
		}
		switch {
		case name == "" && id.IsAddress && id.Parent != nil && aws.ToString(id.Parent.Out.ConfigurationSetName) != "":
			out = append(out, skip(id.Name, "see doctor.identity.address-override"))
		case name == "" && w == "":
			out = append(out, res(id.Name, Warn, "no default configuration set: sends from "+id.Name+" publish no events unless each passes ConfigurationSetName",
				[]string{"GetEmailIdentity: ConfigurationSetName empty"}))
		case name == "":
			out = append(out, res(id.Name, Warn, "no default configuration set: sends from "+id.Name+" reach sesguard only if every SendEmail passes ConfigurationSetName="+w+" (doctor.stack.coverage shows the share that does)",
				[]string{"GetEmailIdentity: ConfigurationSetName empty"}, fix))
		default:
			cs := e.configSet(name)
			ev := []string{"GetEmailIdentity: ConfigurationSetName=" + name}
			switch {
			case cs != nil && cs.Err != nil && isNotFound(cs.Err):
				out = append(out, skip(id.Name, "its default configuration set "+name+" does not exist: see doctor.configset.exists"))
			case cs != nil && cs.Err != nil:
				out = append(out, callSkip(id.Name, "ses:GetConfigurationSet", cs.Err))
			case w != "" && name != w:
				out = append(out, res(id.Name, Warn, "the default configuration set is "+name+", not "+w+" that sesguard watches", ev, fix))
			default:
				out = append(out, res(id.Name, Pass, "default configuration set "+name, ev))
			}
		}
	}
	return out
}

func notifTopics(id *Identity) (bounce, complaint string) {
	if id == nil || id.Notif == nil {
		return "", ""
	}
	return aws.ToString(id.Notif.BounceTopic), aws.ToString(id.Notif.ComplaintTopic)
}

func checkAddressOverride(e *env) []Result {
	ids, _ := e.identities()
	var out []Result
	for _, id := range ids {
		if !id.IsAddress || id.Parent == nil {
			continue
		}
		p := id.Parent
		var lost, ev []string
		var fix []string
		if pc, c := aws.ToString(p.Out.ConfigurationSetName), aws.ToString(id.Out.ConfigurationSetName); pc != "" && c == "" {
			lost = append(lost, "the default configuration set "+pc)
			ev = append(ev, fmt.Sprintf("GetEmailIdentity %s: ConfigurationSetName=%s; %s: none", p.Name, pc, id.Name))
			fix = append(fix, fmt.Sprintf("`aws sesv2 put-email-identity-configuration-set-attributes --email-identity %s --configuration-set-name %s --region %s`", id.Name, pc, e.s.Region))
		}
		if id.NotifErr == nil && p.NotifErr == nil {
			pb, pcm := notifTopics(p)
			b, cm := notifTopics(id)
			for _, x := range []struct{ kind, parent, own string }{{"Bounce", pb, b}, {"Complaint", pcm, cm}} {
				if x.parent != "" && x.own == "" {
					lost = append(lost, x.kind+" notifications to "+x.parent)
					ev = append(ev, fmt.Sprintf("GetIdentityNotificationAttributes %s: %sTopic=%s; %s: none", p.Name, x.kind, x.parent, id.Name))
					fix = append(fix, fmt.Sprintf("`aws ses set-identity-notification-topic --identity %s --notification-type %s --sns-topic %s --region %s`", id.Name, x.kind, x.parent, e.s.Region))
				}
			}
		}
		if len(lost) == 0 {
			out = append(out, res(id.Name, Pass, "keeps what its domain "+p.Name+" sets", nil))
			continue
		}
		out = append(out, res(id.Name, Fail, "the verified address identity "+id.Name+" overrides its domain "+p.Name+": its mail loses "+strings.Join(lost, " and "), ev,
			append(fix, fmt.Sprintf("or, if the address needs no settings of its own, delete it: `aws sesv2 delete-email-identity --email-identity %s --region %s`", id.Name, e.s.Region))...))
	}
	return out
}

// publishesFeedback reports whether cs has an enabled destination with
// BOUNCE and COMPLAINT, and the SNS topics it sends them to.
func publishesFeedback(cs *ConfigSet) (bool, []string) {
	if cs == nil || cs.Err != nil || cs.DestErr != nil {
		return false, nil
	}
	var b, c bool
	var topics []string
	for _, d := range cs.Dests {
		if !d.Enabled {
			continue
		}
		hasB, hasC := slices.Contains(d.MatchingEventTypes, sesv2types.EventTypeBounce), slices.Contains(d.MatchingEventTypes, sesv2types.EventTypeComplaint)
		b, c = b || hasB, c || hasC
		if (hasB || hasC) && d.SnsDestination != nil {
			topics = append(topics, aws.ToString(d.SnsDestination.TopicArn))
		}
	}
	return b && c, topics
}

func checkForwarding(e *env) []Result {
	ids, out := e.identities()
	for _, id := range ids {
		if id.NotifErr != nil {
			out = append(out, callSkip(id.Name, "ses:GetIdentityNotificationAttributes", id.NotifErr))
			continue
		}
		cs := e.effectiveConfigSet(id)
		events, _ := publishesFeedback(cs)
		b, c := notifTopics(id)
		topics := b != "" && c != ""
		ev := []string{fmt.Sprintf("GetIdentityNotificationAttributes: ForwardingEnabled=%t, BounceTopic=%q, ComplaintTopic=%q", id.Notif.ForwardingEnabled, b, c)}
		if cs != nil {
			ev = append(ev, fmt.Sprintf("configuration set %s publishes BOUNCE and COMPLAINT: %t", cs.Name, events))
		}
		off := fmt.Sprintf("`aws sesv2 put-email-identity-feedback-attributes --email-identity %s --no-email-forwarding-enabled --region %s`", id.Name, e.s.Region)
		switch {
		case id.Notif.ForwardingEnabled && (events || topics):
			out = append(out, res(id.Name, Warn, "email feedback forwarding is on as well as SNS feedback: bounces and complaints are also mailed to the Return-Path, and anything processing that mailbox handles them a second time", ev, off))
		case id.Notif.ForwardingEnabled:
			out = append(out, res(id.Name, Warn, "bounces and complaints of "+id.Name+" arrive only as email to the Return-Path: nothing machine-readable consumes them", ev,
				fmt.Sprintf("Send with a configuration set that publishes BOUNCE and COMPLAINT: `aws sesv2 put-email-identity-configuration-set-attributes --email-identity %s --configuration-set-name NAME --region %s`", id.Name, e.s.Region)))
		case !events && !topics && cs != nil:
			out = append(out, skip(id.Name, "configuration set "+cs.Name+" publishes no BOUNCE and COMPLAINT: see doctor.configset.*"))
		case !events && !topics:
			out = append(out, res(id.Name, Fail, "feedback forwarding is off and neither a configuration set destination nor identity topics take bounces and complaints of "+id.Name, ev,
				fmt.Sprintf("`aws sesv2 put-email-identity-configuration-set-attributes --email-identity %s --configuration-set-name NAME --region %s` (a set whose destination publishes BOUNCE and COMPLAINT)", id.Name, e.s.Region)))
		default:
			out = append(out, res(id.Name, Pass, "feedback by SNS only", ev))
		}
	}
	return out
}

func checkDuplicate(e *env) []Result {
	ids, out := e.identities()
	for _, id := range ids {
		if id.NotifErr != nil {
			out = append(out, callSkip(id.Name, "ses:GetIdentityNotificationAttributes", id.NotifErr))
			continue
		}
		b, c := notifTopics(id)
		cs := e.effectiveConfigSet(id)
		events, destTopics := publishesFeedback(cs)
		ev := []string{fmt.Sprintf("GetIdentityNotificationAttributes: BounceTopic=%q, ComplaintTopic=%q", b, c)}
		if b == "" && c == "" || !events {
			out = append(out, res(id.Name, Pass, "one feedback path", ev))
			continue
		}
		ev = append(ev, fmt.Sprintf("configuration set %s publishes BOUNCE and COMPLAINT to %v", cs.Name, destTopics))
		var fix []string
		for _, k := range []struct{ kind, t string }{{"Bounce", b}, {"Complaint", c}} {
			if k.t != "" {
				fix = append(fix, fmt.Sprintf("`aws ses set-identity-notification-topic --identity %s --notification-type %s --region %s` (no --sns-topic: stops the identity notifications)", id.Name, k.kind, e.s.Region))
			}
		}
		if slices.Contains(destTopics, b) || slices.Contains(destTopics, c) {
			out = append(out, res(id.Name, Fail, "each bounce or complaint arrives twice on the same topic, as notificationType and as eventType: every consumer handles it twice and sesguard's counts double", ev, fix...))
		} else {
			out = append(out, res(id.Name, Warn, "bounces and complaints are published twice: as identity notifications (notificationType) and as configuration set events (eventType)", ev, fix...))
		}
	}
	return out
}

// ------------------------------------------------------------- DNS

func checkDMARC(e *env) []Result {
	ids, _ := e.identities()
	var out []Result
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id.Domain] {
			continue
		}
		seen[id.Domain] = true
		t := id.DMARC
		var rec string
		for _, r := range t.Records {
			if strings.HasPrefix(strings.TrimSpace(r), "v=DMARC1") {
				rec = r
			}
		}
		fix := fmt.Sprintf("DNS: _dmarc.%s TXT \"v=DMARC1; p=none; rua=mailto:dmarc@%s\" (then tighten p= once reports are clean)", id.Domain, id.Domain)
		switch {
		case rec != "":
			out = append(out, res(id.Domain, Pass, "DMARC record", []string{t.Name + " TXT " + rec}))
		case t.Err != nil && !isNoSuchHost(t.Err):
			out = append(out, skip(id.Domain, "TXT lookup of "+t.Name+" failed: "+t.Err.Error()))
		default:
			out = append(out, res(id.Domain, Warn, "no DMARC record for "+id.Domain+": Gmail and Yahoo require one from bulk senders", []string{t.Name + ": no v=DMARC1 TXT record"}, fix))
		}
	}
	return out
}

// isNoSuchHost reports whether a TXT lookup found no record (NXDOMAIN or
// no TXT data): a missing record, not a failed lookup.
func isNoSuchHost(err error) bool {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsNotFound
	}
	return strings.Contains(err.Error(), "no such host")
}

func checkSPF(e *env) []Result {
	ids, _ := e.identities()
	var out []Result
	for _, id := range ids {
		t := id.SPF
		if t.Name == "" {
			continue
		}
		var spf string
		for _, r := range t.Records {
			if strings.HasPrefix(strings.TrimSpace(r), "v=spf1") {
				spf = r
			}
		}
		fix := fmt.Sprintf("DNS: %s TXT \"v=spf1 include:amazonses.com ~all\"", t.Name)
		switch {
		case spf != "" && strings.Contains(spf, "include:amazonses.com"):
			out = append(out, res(t.Name, Pass, "SPF includes amazonses.com", []string{t.Name + " TXT " + spf}))
		case spf != "":
			out = append(out, res(t.Name, Fail, "the SPF record of "+t.Name+" does not include amazonses.com: SPF fails for mail SES sends", []string{t.Name + " TXT " + spf}, fix))
		case t.Err != nil && !isNoSuchHost(t.Err):
			out = append(out, skip(t.Name, "TXT lookup of "+t.Name+" failed: "+t.Err.Error()))
		default:
			out = append(out, res(t.Name, Fail, "no SPF record for the MAIL FROM domain "+t.Name, []string{t.Name + ": no v=spf1 TXT record"}, fix))
		}
	}
	return out
}

// ------------------------------------------------------------- configuration sets

func checkConfigSetExists(e *env) []Result {
	var out []Result
	for _, cs := range e.s.ConfigSets {
		ev := []string{"checked because: " + cs.Source}
		switch {
		case cs.Err == nil:
			out = append(out, res(cs.Name, Pass, "exists", ev))
		case isNotFound(cs.Err):
			out = append(out, res(cs.Name, Fail, "configuration set "+cs.Name+" does not exist in "+e.s.Region+": sends naming it fail (ConfigurationSetDoesNotExist)",
				append(ev, "GetConfigurationSet: "+cs.Err.Error()),
				fmt.Sprintf("`aws sesv2 create-configuration-set --configuration-set-name %s --region %s`, or deploy sesguard in %s (it creates one)", cs.Name, e.s.Region, e.s.Region)))
		default:
			out = append(out, callSkip(cs.Name, "ses:GetConfigurationSet", cs.Err))
		}
	}
	return out
}

// configSets returns the sets that exist, with skips for the rest.
func (e *env) configSets() (ok []*ConfigSet, skipped []Result) {
	return passed(e, e.s.ConfigSets, "doctor.configset.exists", func(cs *ConfigSet) string { return cs.Name })
}

func checkConfigSetSending(e *env) []Result {
	sets, out := e.configSets()
	for _, cs := range sets {
		if so := cs.Out.SendingOptions; so != nil && !so.SendingEnabled {
			out = append(out, res(cs.Name, Fail, "sending is paused for configuration set "+cs.Name+": sends with it are rejected",
				[]string{"GetConfigurationSet: SendingOptions.SendingEnabled=false"},
				"If sesguard's bouncewatch paused it, see `sesguard resume`; otherwise: "+fmt.Sprintf("`aws sesv2 put-configuration-set-sending-options --configuration-set-name %s --sending-enabled --region %s`", cs.Name, e.s.Region)))
			continue
		}
		out = append(out, res(cs.Name, Pass, "sending enabled", nil))
	}
	return out
}

func destFix(cs, region, topic string) string {
	if topic == "" {
		topic = "TOPIC_ARN"
	}
	return fmt.Sprintf("`aws sesv2 create-configuration-set-event-destination --configuration-set-name %s --event-destination-name sesguard-sns --event-destination 'Enabled=true,MatchingEventTypes=SEND,REJECT,BOUNCE,COMPLAINT,DELIVERY,DELIVERY_DELAY,RENDERING_FAILURE,SnsDestination={TopicArn=%s}' --region %s`", cs, topic, region)
}

func (e *env) stackTopic() string {
	if st := e.s.Stack; st != nil && st.Found {
		return st.Outputs[OutSesEventsTopic]
	}
	return ""
}

func describeDest(d sesv2types.EventDestination) string {
	target := "other"
	switch {
	case d.SnsDestination != nil:
		target = "SNS " + aws.ToString(d.SnsDestination.TopicArn)
	case d.EventBridgeDestination != nil:
		target = "EventBridge"
	case d.CloudWatchDestination != nil:
		target = "CloudWatch"
	case d.KinesisFirehoseDestination != nil:
		target = "Firehose"
	}
	var types []string
	for _, t := range d.MatchingEventTypes {
		types = append(types, string(t))
	}
	return fmt.Sprintf("%s: enabled=%t, %s, %s", aws.ToString(d.Name), d.Enabled, target, strings.Join(types, ","))
}

func checkDestination(e *env) []Result {
	sets, out := e.configSets()
	for _, cs := range sets {
		if cs.DestErr != nil {
			out = append(out, callSkip(cs.Name, "ses:GetConfigurationSetEventDestinations", cs.DestErr))
			continue
		}
		var ev []string
		enabled := 0
		for _, d := range cs.Dests {
			ev = append(ev, "destination "+describeDest(d))
			if d.Enabled {
				enabled++
			}
		}
		switch {
		case len(cs.Dests) == 0:
			out = append(out, res(cs.Name, Fail, "configuration set "+cs.Name+" has no event destination: its bounces and complaints go nowhere",
				[]string{"GetConfigurationSetEventDestinations: none"}, destFix(cs.Name, e.s.Region, e.stackTopic())))
		case enabled == 0:
			var fix []string
			for _, d := range cs.Dests {
				fix = append(fix, fmt.Sprintf("`aws sesv2 update-configuration-set-event-destination --configuration-set-name %s --event-destination-name %s --event-destination Enabled=true --region %s` (repeat its MatchingEventTypes and destination: the update replaces them)", cs.Name, aws.ToString(d.Name), e.s.Region))
			}
			out = append(out, res(cs.Name, Fail, "every event destination of "+cs.Name+" is disabled", ev, fix...))
		default:
			out = append(out, res(cs.Name, Pass, fmt.Sprintf("%d enabled destination(s)", enabled), ev))
		}
	}
	return out
}

// withDestinations returns the sets whose destination check passed.
func (e *env) withDestinations() (ok []*ConfigSet, skipped []Result) {
	sets, skipped := e.configSets()
	for _, cs := range sets {
		if why, bad := e.failed("doctor.configset.destination", cs.Name); bad {
			skipped = append(skipped, skip(cs.Name, why))
			continue
		}
		ok = append(ok, cs)
	}
	return ok, skipped
}

func checkEventTypes(e *env) []Result {
	sets, out := e.withDestinations()
	for _, cs := range sets {
		have := map[sesv2types.EventType]bool{}
		var ev []string
		var dest sesv2types.EventDestination
		for _, d := range cs.Dests {
			if d.Enabled {
				ev = append(ev, "destination "+describeDest(d))
				for _, t := range d.MatchingEventTypes {
					have[t] = true
				}
				dest = d
			}
		}
		var missing, missingWarn []string
		for _, t := range []sesv2types.EventType{sesv2types.EventTypeBounce, sesv2types.EventTypeComplaint} {
			if !have[t] {
				missing = append(missing, string(t))
			}
		}
		for _, t := range []sesv2types.EventType{sesv2types.EventTypeSend, sesv2types.EventTypeReject, sesv2types.EventTypeDeliveryDelay, sesv2types.EventTypeRenderingFailure} {
			if !have[t] {
				missingWarn = append(missingWarn, string(t))
			}
		}
		topic := e.stackTopic()
		if dest.SnsDestination != nil {
			topic = aws.ToString(dest.SnsDestination.TopicArn)
		}
		fix := fmt.Sprintf("`aws sesv2 update-configuration-set-event-destination --configuration-set-name %s --event-destination-name %s --event-destination 'Enabled=true,MatchingEventTypes=SEND,REJECT,BOUNCE,COMPLAINT,DELIVERY,DELIVERY_DELAY,RENDERING_FAILURE,SnsDestination={TopicArn=%s}' --region %s`", cs.Name, aws.ToString(dest.Name), topic, e.s.Region)
		switch {
		case len(missing) > 0:
			out = append(out, res(cs.Name, Fail, "no enabled destination of "+cs.Name+" publishes "+strings.Join(missing, " or "), ev, fix))
		case len(missingWarn) > 0:
			out = append(out, res(cs.Name, Warn, "no enabled destination publishes "+strings.Join(missingWarn, ", ")+": sesguard's rates need SEND, triage diagnoses the others", ev, fix))
		default:
			out = append(out, res(cs.Name, Pass, "BOUNCE, COMPLAINT, SEND and the failure events", ev))
		}
	}
	return out
}

func checkTopicRegion(e *env) []Result {
	sets, out := e.withDestinations()
	for _, cs := range sets {
		var bad, ev []string
		for _, d := range cs.Dests {
			if d.SnsDestination == nil {
				continue
			}
			t := aws.ToString(d.SnsDestination.TopicArn)
			ev = append(ev, "destination "+aws.ToString(d.Name)+": "+t)
			if r := arnRegion(t, e.s.Region); r != e.s.Region {
				bad = append(bad, t+" is in "+r)
			}
		}
		switch {
		case len(ev) == 0:
			out = append(out, skip(cs.Name, "no SNS destination"))
		case len(bad) > 0:
			out = append(out, res(cs.Name, Fail, "SES publishes only to topics in its own Region ("+e.s.Region+"): "+strings.Join(bad, "; "), ev,
				"Create the topic in "+e.s.Region+" (or deploy sesguard there) and point the destination at it: "+destFix(cs.Name, e.s.Region, "")))
		default:
			out = append(out, res(cs.Name, Pass, "topics in "+e.s.Region, ev))
		}
	}
	return out
}

// ------------------------------------------------------------- topics

func topicEvidence(t *Topic) []string {
	if len(t.Users) == 0 {
		return []string{"sesguard's SesEventsTopic"}
	}
	return []string{"published to by " + strings.Join(t.Users, ", ")}
}

func checkTopicExists(e *env) []Result {
	var out []Result
	for _, t := range e.s.Topics {
		ev := topicEvidence(t)
		if r := arnRegion(t.ARN, e.s.Region); r != e.s.Region {
			out = append(out, skip(t.ARN, "in "+r+", where SES in "+e.s.Region+" cannot publish: see doctor.configset.topic-region"))
			continue
		}
		switch {
		case t.Err != nil && (isNotFound(t.Err) || errCode(t.Err) == "NotFound"):
			out = append(out, res(t.ARN, Fail, "the topic does not exist: SES cannot publish to it", append(ev, "GetTopicAttributes: "+t.Err.Error()),
				fmt.Sprintf("`aws sns create-topic --name %s --region %s`, then allow SES to publish (doctor.topic.policy)", arnResource(t.ARN), arnRegion(t.ARN, e.s.Region))))
		case t.Err != nil:
			out = append(out, callSkip(t.ARN, "sns:GetTopicAttributes", t.Err))
		case t.Attrs["FifoTopic"] == "true" || strings.HasSuffix(t.ARN, ".fifo"):
			out = append(out, res(t.ARN, Fail, "a FIFO topic: SES publishes only to standard topics", ev,
				fmt.Sprintf("`aws sns create-topic --name %s --region %s` (standard) and point the destination at it", strings.TrimSuffix(arnResource(t.ARN), ".fifo"), arnRegion(t.ARN, e.s.Region))))
		default:
			out = append(out, res(t.ARN, Pass, "standard topic", ev))
		}
	}
	return out
}

func (e *env) topics() (ok []*Topic, skipped []Result) {
	for _, t := range e.s.Topics {
		if r := arnRegion(t.ARN, e.s.Region); r != e.s.Region {
			skipped = append(skipped, skip(t.ARN, "in "+r+", where SES in "+e.s.Region+" cannot publish: see doctor.configset.topic-region"))
			continue
		}
		if why, bad := e.failed("doctor.topic.exists", t.ARN); bad {
			skipped = append(skipped, skip(t.ARN, why))
			continue
		}
		ok = append(ok, t)
	}
	return ok, skipped
}

func checkTopicPolicy(e *env) []Result {
	ts, out := e.topics()
	for _, t := range ts {
		acct, region := arnAccount(t.ARN), arnRegion(t.ARN, e.s.Region)
		var sources []string
		for _, u := range t.Users {
			kind, name, _ := strings.Cut(u, "/")
			if kind == "identity" {
				name, _, _ = strings.Cut(name, " (")
			}
			if src := fmt.Sprintf("arn:%s:ses:%s:%s:%s/%s", partition(t.ARN), e.s.Region, acct, kind, name); !slices.Contains(sources, src) {
				sources = append(sources, src)
			}
		}
		if len(sources) == 0 {
			if st := e.s.Stack; st != nil && st.Outputs[OutConfigurationSet] != "" {
				sources = append(sources, fmt.Sprintf("arn:%s:ses:%s:%s:configuration-set/%s", partition(t.ARN), e.s.Region, acct, st.Outputs[OutConfigurationSet]))
			}
		}
		var bad, ev []string
		for _, src := range sources {
			ok, why, err := allows(t.Attrs["Policy"], "ses.amazonaws.com", "sns:Publish", t.ARN, map[string]string{"aws:sourcearn": src, "aws:sourceaccount": acct})
			if err != nil {
				why = err.Error()
			}
			ev = append(ev, fmt.Sprintf("SES publishing for %s: %s", src, why))
			if !ok {
				bad = append(bad, src)
			}
		}
		if len(bad) == 0 {
			out = append(out, res(t.ARN, Pass, "SES may publish", ev))
			continue
		}
		kind, name, _ := strings.Cut(arnResource(bad[0]), "/")
		pol := SESTopicPolicy(t.ARN, acct, region, name)
		if kind == "identity" {
			pol = strings.Replace(pol, "configuration-set/"+name, "identity/"+name, 1)
		}
		out = append(out, res(t.ARN, Fail, "the topic policy does not let ses.amazonaws.com publish for "+strings.Join(bad, ", ")+": SES drops the events", ev,
			fmt.Sprintf("`aws sns set-topic-attributes --topic-arn %s --attribute-name Policy --attribute-value '%s' --region %s` (merge with statements you keep)", t.ARN, pol, region)))
	}
	return out
}

func checkTopicEncryption(e *env) []Result {
	ts, out := e.topics()
	for _, t := range ts {
		k := t.Attrs["KmsMasterKeyId"]
		region := arnRegion(t.ARN, e.s.Region)
		fix := fmt.Sprintf("Use a customer managed key whose key policy lets ses.amazonaws.com call kms:GenerateDataKey* and kms:Decrypt: `aws sns set-topic-attributes --topic-arn %s --attribute-name KmsMasterKeyId --attribute-value alias/YOUR-KEY --region %s`", t.ARN, region)
		ev := []string{"GetTopicAttributes: KmsMasterKeyId=" + k}
		switch {
		case k == "":
			out = append(out, res(t.ARN, Pass, "not encrypted", ev))
		case isAWSManagedSNSAlias(k):
			out = append(out, res(t.ARN, Fail, "encrypted with the AWS-managed key alias/aws/sns, whose policy SES cannot be added to: SES cannot publish", ev, fix))
		case t.KeyErr != nil && isNotFound(t.KeyErr):
			out = append(out, res(t.ARN, Fail, "the topic's KMS key does not exist: nothing can publish", append(ev, "DescribeKey: "+t.KeyErr.Error()), fix))
		case t.KeyErr != nil:
			out = append(out, callSkip(t.ARN, "kms:DescribeKey", t.KeyErr))
		case t.Key.KeyManager == "AWS":
			out = append(out, res(t.ARN, Fail, "encrypted with an AWS-managed key ("+aws.ToString(t.Key.Arn)+"): SES cannot publish", append(ev, "DescribeKey: KeyManager=AWS"), fix))
		case t.Key.KeyState != "Enabled":
			out = append(out, res(t.ARN, Fail, "the topic's KMS key is "+string(t.Key.KeyState)+": nothing can publish", append(ev, "DescribeKey: KeyState="+string(t.Key.KeyState)), fix))
		default:
			out = append(out, res(t.ARN, Pass, "customer managed key", append(ev, "DescribeKey: KeyManager=CUSTOMER, KeyState=Enabled",
				"not read: the key policy (it must let ses.amazonaws.com call kms:GenerateDataKey* and kms:Decrypt)")))
		}
	}
	return out
}

func checkSubscribers(e *env) []Result {
	ts, out := e.topics()
	for _, t := range ts {
		if t.SubsErr != nil {
			out = append(out, callSkip(t.ARN, "sns:ListSubscriptionsByTopic", t.SubsErr))
			continue
		}
		var ev []string
		for _, s := range t.Subs {
			ev = append(ev, s.Protocol+" "+s.Endpoint)
		}
		if len(t.Subs) == 0 {
			out = append(out, res(t.ARN, Fail, "nobody subscribes to the topic: SES's events are published and dropped", []string{"ListSubscriptionsByTopic: none"},
				"Deploy sesguard with this topic, or subscribe your consumer: `aws sns subscribe --topic-arn "+t.ARN+" --protocol sqs --notification-endpoint QUEUE_ARN --region "+arnRegion(t.ARN, e.s.Region)+"`"))
			continue
		}
		out = append(out, res(t.ARN, Pass, fmt.Sprintf("%d subscription(s)", len(t.Subs)), ev))
	}
	return out
}

func checkDeliveries(e *env) []Result {
	ts, out := e.topics()
	for _, t := range ts {
		if t.MetricsErr != nil {
			out = append(out, callSkip(t.ARN, "cloudwatch:GetMetricData", t.MetricsErr))
			continue
		}
		ev := []string{fmt.Sprintf("last 24 h: %s NumberOfMessagesPublished=%.0f, NumberOfNotificationsFailed=%.0f", SNSNamespace, t.Published, t.Failed)}
		switch {
		case t.Failed > 0:
			out = append(out, res(t.ARN, Fail, fmt.Sprintf("%.0f deliveries failed in the last day: a subscription's endpoint is unreachable or refuses (permissions, a deleted queue or function, a key SNS may not use)", t.Failed), ev,
				"Turn on delivery status logging to see which endpoint and why: `aws sns set-topic-attributes --topic-arn "+t.ARN+" --attribute-name LambdaFailureFeedbackRoleArn --attribute-value ROLE_ARN --region "+arnRegion(t.ARN, e.s.Region)+"` (SQSFailureFeedbackRoleArn, HTTPFailureFeedbackRoleArn likewise)"))
		case t.Published == 0:
			out = append(out, skip(t.ARN, "nothing published to the topic in the last day: no deliveries to judge"))
		default:
			out = append(out, res(t.ARN, Pass, "no failed deliveries", ev))
		}
	}
	return out
}

// ------------------------------------------------------------- subscriptions

func subSubject(s *Subscription) string {
	if s.ARN == "PendingConfirmation" || s.ARN == "Deleted" {
		return s.Topic + " -> " + s.Protocol + " " + s.Endpoint
	}
	return s.ARN
}

func (e *env) subs() []*Subscription {
	var out []*Subscription
	ts, _ := e.topics()
	for _, t := range ts {
		out = append(out, t.Subs...)
	}
	return out
}

func checkConfirmed(e *env) []Result {
	var out []Result
	for _, s := range e.subs() {
		subj := subSubject(s)
		ev := []string{s.Protocol + " " + s.Endpoint}
		pending := s.ARN == "PendingConfirmation" || s.Attrs["PendingConfirmation"] == "true"
		switch {
		case pending:
			out = append(out, res(subj, Fail, "the subscription is pending confirmation: SNS delivers nothing to "+s.Endpoint, append(ev, "PendingConfirmation=true"),
				"Confirm it with the token of the SubscriptionConfirmation message: `aws sns confirm-subscription --topic-arn "+s.Topic+" --token TOKEN --region "+arnRegion(s.Topic, e.s.Region)+"`",
				"or subscribe again (SQS and Lambda endpoints in the same account confirm themselves): `aws sns subscribe --topic-arn "+s.Topic+" --protocol "+s.Protocol+" --notification-endpoint "+s.Endpoint+" --region "+arnRegion(s.Topic, e.s.Region)+"`"))
		case s.Err != nil:
			out = append(out, callSkip(subj, "sns:GetSubscriptionAttributes", s.Err))
		default:
			out = append(out, res(subj, Pass, "confirmed", ev))
		}
	}
	return out
}

// stackQueues are the queues a sesguard function consumes: their messages
// must be SNS envelopes.
func (e *env) stackQueues() map[string]string {
	out := map[string]string{}
	if st := e.s.Stack; st != nil && st.Found {
		for key, ms := range st.ESMs {
			for _, m := range ms {
				out[aws.ToString(m.EventSourceArn)] = st.Outputs[key]
			}
		}
	}
	return out
}

func checkRawDelivery(e *env) []Result {
	var out []Result
	ours := e.stackQueues()
	for _, s := range e.subs() {
		subj := subSubject(s)
		if why, bad := e.failed("doctor.subscription.confirmed", subj); bad {
			out = append(out, skip(subj, why))
			continue
		}
		if s.Protocol != "sqs" && s.Protocol != "http" && s.Protocol != "https" && s.Protocol != "firehose" {
			out = append(out, skip(subj, "RawMessageDelivery does not apply to "+s.Protocol+" subscriptions"))
			continue
		}
		raw := s.Attrs["RawMessageDelivery"] == "true"
		ev := []string{fmt.Sprintf("GetSubscriptionAttributes: RawMessageDelivery=%t", raw)}
		if fn, ok := ours[s.Endpoint]; ok {
			ev = append(ev, "the queue is "+fn+"'s event source: sesguard decodes SNS envelopes")
			if raw {
				out = append(out, res(subj, Fail, "raw message delivery is on, but "+fn+" expects the SNS envelope", ev,
					"`aws sns set-subscription-attributes --subscription-arn "+s.ARN+" --attribute-name RawMessageDelivery --attribute-value false --region "+arnRegion(s.Topic, e.s.Region)+"`"))
				continue
			}
			out = append(out, res(subj, Pass, "SNS envelope, as "+fn+" expects", ev))
			continue
		}
		shape := "the SNS envelope (the SES JSON is a string in its Message field)"
		if raw {
			shape = "the bare SES JSON, without the SNS envelope"
		}
		out = append(out, res(subj, Pass, "not sesguard's: its consumer must decode "+shape, ev))
	}
	return out
}

func queueARN(s *Subscription) string {
	if a := s.Queue["QueueArn"]; a != "" {
		return a
	}
	return s.Endpoint
}

func checkQueuePolicy(e *env) []Result {
	var out []Result
	for _, s := range e.subs() {
		if s.Protocol != "sqs" {
			continue
		}
		subj := subSubject(s)
		if s.QueueErr != nil {
			if isNotFound(s.QueueErr) {
				out = append(out, res(subj, Fail, "the queue "+s.Endpoint+" does not exist", []string{"GetQueueUrl: " + s.QueueErr.Error()},
					"Create it, or remove the subscription: `aws sns unsubscribe --subscription-arn "+s.ARN+"`"))
			} else {
				out = append(out, callSkip(subj, "sqs:GetQueueAttributes", s.QueueErr))
			}
			continue
		}
		if s.Queue == nil {
			out = append(out, skip(subj, "queue not read (the subscription is pending)"))
			continue
		}
		q := queueARN(s)
		ok, why, err := allows(s.Queue["Policy"], "sns.amazonaws.com", "sqs:SendMessage", q, map[string]string{"aws:sourcearn": s.Topic, "aws:sourceaccount": arnAccount(s.Topic)})
		if err != nil {
			why = err.Error()
		}
		ev := []string{"queue policy: " + why}
		if ok {
			out = append(out, res(subj, Pass, "the topic may send", ev))
			continue
		}
		attrs := fmt.Sprintf(`{"Policy": %q}`, SNSQueuePolicy(q, s.Topic))
		out = append(out, res(subj, Fail, "the queue policy of "+q+" does not let "+s.Topic+" send: SNS drops every message", ev,
			"`aws sqs set-queue-attributes --queue-url "+s.QueueURL+" --attributes '"+attrs+"' --region "+arnRegion(q, e.s.Region)+"` (merge with statements you keep)"))
	}
	return out
}

func checkLambdaPermission(e *env) []Result {
	var out []Result
	for _, s := range e.subs() {
		if s.Protocol != "lambda" {
			continue
		}
		subj := subSubject(s)
		region := arnRegion(s.Endpoint, e.s.Region)
		fix := "`aws lambda add-permission --function-name " + s.Endpoint + " --statement-id sns-" + arnResource(s.Topic) + " --action lambda:InvokeFunction --principal sns.amazonaws.com --source-arn " + s.Topic + " --region " + region + "`"
		switch {
		case s.LambdaErr != nil && isNotFound(s.LambdaErr):
			out = append(out, res(subj, Fail, "the function "+s.Endpoint+" has no resource policy (or does not exist): SNS cannot invoke it", []string{"GetPolicy: " + s.LambdaErr.Error()}, fix))
			continue
		case s.LambdaErr != nil:
			out = append(out, callSkip(subj, "lambda:GetPolicy", s.LambdaErr))
			continue
		}
		ok, why, err := allows(s.LambdaPolicy, "sns.amazonaws.com", "lambda:InvokeFunction", s.Endpoint, map[string]string{"aws:sourcearn": s.Topic, "aws:sourceaccount": arnAccount(s.Topic)})
		if err != nil {
			why = err.Error()
		}
		ev := []string{"function policy: " + why}
		if ok {
			out = append(out, res(subj, Pass, "SNS may invoke the function", ev))
			continue
		}
		out = append(out, res(subj, Fail, "the function's policy does not let "+s.Topic+" invoke it: every delivery fails", ev, fix))
	}
	return out
}

func checkQueueEncryption(e *env) []Result {
	var out []Result
	for _, s := range e.subs() {
		if s.Protocol != "sqs" || s.Queue == nil {
			continue
		}
		k := s.Queue["KmsMasterKeyId"]
		ev := []string{"GetQueueAttributes: KmsMasterKeyId=" + k + ", SqsManagedSseEnabled=" + s.Queue["SqsManagedSseEnabled"]}
		if k == "alias/aws/sqs" || strings.HasSuffix(k, ":alias/aws/sqs") {
			out = append(out, res(subjOf(s), Fail, "the queue is encrypted with the AWS-managed key alias/aws/sqs: SNS cannot send to it", ev,
				"Use SQS-managed encryption instead: `aws sqs set-queue-attributes --queue-url "+s.QueueURL+" --attributes KmsMasterKeyId=,SqsManagedSseEnabled=true`"))
			continue
		}
		out = append(out, res(subjOf(s), Pass, "SNS can send to it", ev))
	}
	return out
}

func subjOf(s *Subscription) string { return subSubject(s) }

// ------------------------------------------------------------- stack

func checkStackRegion(e *env) []Result {
	st := e.s.Stack
	if st == nil {
		return nil
	}
	switch {
	case st.Err != nil:
		return []Result{callSkip(st.Name, "cloudformation:DescribeStacks", st.Err)}
	case st.Found:
		return []Result{res(st.Name, Pass, "deployed in "+e.s.Region, []string{"DescribeStacks in " + e.s.Region + ": " + st.Status})}
	case !e.sends():
		return []Result{skip(st.Name, "not in "+e.s.Region+", and no verified identity sends from "+e.s.Region)}
	case st.Elsewhere != "":
		return []Result{res(st.Name, Fail, "sesguard's stack is in "+st.Elsewhere+", not in "+e.s.Region+" where you send: it receives none of "+e.s.Region+"'s events",
			[]string{"DescribeStacks in " + e.s.Region + ": does not exist", "DescribeStacks in " + st.Elsewhere + ": found"},
			"Deploy sesguard in the sending Region: `sam deploy --region "+e.s.Region+" --stack-name "+st.Name+"` (SES publishes only to topics in its own Region)")}
	}
	return []Result{res(st.Name, Fail, "no stack "+st.Name+" in "+e.s.Region+" nor in "+strings.Join(e.o.StackRegions, ", "),
		[]string{"DescribeStacks: does not exist"}, "`sam deploy --guided --region "+e.s.Region+" --stack-name "+st.Name+"`")}
}

// sends reports whether the Region has a verified identity (sends from it
// are possible, so the stack belongs here).
func (e *env) sends() bool {
	for _, id := range e.s.Identities {
		if id.Err == nil && id.Out.VerificationStatus == sesv2types.VerificationStatusSuccess {
			return true
		}
	}
	return false
}

func (e *env) stack() (*Stack, []Result) {
	st := e.s.Stack
	if st == nil || !st.Found {
		return nil, nil
	}
	return st, nil
}

func checkStackStatus(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	ev := []string{"DescribeStacks: StackStatus=" + st.Status}
	switch {
	case strings.HasSuffix(st.Status, "_IN_PROGRESS"):
		return []Result{res(st.Name, Warn, "a deployment is in progress", ev)}
	case strings.Contains(st.Status, "FAILED") || st.Status == "ROLLBACK_COMPLETE" || st.Status == "UPDATE_ROLLBACK_COMPLETE":
		return []Result{res(st.Name, Fail, "the last deployment did not complete ("+st.Status+")", ev,
			"`aws cloudformation describe-stack-events --stack-name "+st.Name+" --region "+e.s.Region+" --max-items 20` shows why; fix and `sam deploy` again")}
	}
	return []Result{res(st.Name, Pass, st.Status, ev)}
}

func checkStackDestination(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	name, topic := st.Outputs[OutConfigurationSet], st.Outputs[OutSesEventsTopic]
	cs := e.configSet(name)
	if cs == nil {
		return []Result{skip(st.Name, "the stack has no ConfigurationSetName output")}
	}
	if why, bad := e.failed("doctor.configset.destination", name); bad {
		return []Result{skip(st.Name, why)}
	}
	if why, bad := e.failed("doctor.configset.exists", name); bad {
		return []Result{skip(st.Name, why)}
	}
	if st, ok := e.status["doctor.configset.topic-region\x00"+name]; ok && st == Fail {
		return []Result{skip(e.s.Stack.Name, "skipped because doctor.configset.topic-region failed for "+name)}
	}
	var ev []string
	for _, d := range cs.Dests {
		ev = append(ev, "destination "+describeDest(d))
		if d.Enabled && d.SnsDestination != nil && aws.ToString(d.SnsDestination.TopicArn) == topic {
			return []Result{res(st.Name, Pass, "configuration set "+name+" publishes to "+topic, ev)}
		}
	}
	return []Result{res(st.Name, Fail, "configuration set "+name+" does not publish to the stack's topic "+topic+": sesguard sees none of its events", ev,
		destFix(name, e.s.Region, topic))}
}

func checkEventSource(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	fn := st.Outputs[OutBouncewatchFunc]
	if fn == "" {
		return []Result{skip(st.Name, "the stack has no "+OutBouncewatchFunc+" output")}
	}
	if err := st.ESMErr[OutBouncewatchFunc]; err != nil {
		return []Result{callSkip(fn, "lambda:ListEventSourceMappings", err)}
	}
	var ev []string
	for _, m := range st.ESMs[OutBouncewatchFunc] {
		state := aws.ToString(m.State)
		ev = append(ev, fmt.Sprintf("%s: %s, State=%s", aws.ToString(m.UUID), aws.ToString(m.EventSourceArn), state))
		if state == "Enabled" || state == "Enabling" || state == "Updating" {
			return []Result{res(fn, Pass, "polls "+aws.ToString(m.EventSourceArn), ev)}
		}
	}
	if len(ev) == 0 {
		return []Result{res(fn, Fail, "bouncewatch has no event source mapping: nothing reads its queue", []string{"ListEventSourceMappings: none"},
			"Deploy the stack again (`sam deploy`); the SesEvents SQS event creates it")}
	}
	m := st.ESMs[OutBouncewatchFunc][0]
	return []Result{res(fn, Fail, "bouncewatch's event source mapping is disabled: its queue fills up unread", ev,
		"`aws lambda update-event-source-mapping --uuid "+aws.ToString(m.UUID)+" --enabled --region "+e.s.Region+"`")}
}

func checkStackSubscriptions(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	topic := st.Outputs[OutSesEventsTopic]
	var t *Topic
	for _, x := range e.s.Topics {
		if x.ARN == topic {
			t = x
		}
	}
	if t == nil || t.Err != nil || t.SubsErr != nil {
		return []Result{skip(st.Name, "the stack's topic "+topic+" could not be read (see doctor.topic.*)")}
	}
	if why, bad := e.failed("doctor.topic.subscribers", topic); bad {
		return []Result{skip(st.Name, why)}
	}
	_, noESM := e.failed("doctor.stack.event-source", st.Outputs[OutBouncewatchFunc])
	triage := st.Outputs[OutTriageFunction]
	queues := e.stackQueues()
	var haveTriage, haveQueue bool
	var ev []string
	for _, s := range t.Subs {
		ev = append(ev, s.Protocol+" "+s.Endpoint)
		if s.Protocol == "lambda" && triage != "" && (strings.HasSuffix(s.Endpoint, ":function:"+triage) || strings.Contains(s.Endpoint, ":function:"+triage+":")) {
			haveTriage = true
		}
		// Triage reads through its own queue (TriageQueue, an SQS event
		// source of the triage function), as bouncewatch does.
		if s.Protocol == "sqs" && triage != "" && queues[s.Endpoint] == triage {
			haveTriage = true
		}
		if s.Protocol == "sqs" && queues[s.Endpoint] != "" && queues[s.Endpoint] != triage {
			haveQueue = true
		}
	}
	var missing []string
	if !haveTriage {
		missing = append(missing, "triage ("+triage+")")
	}
	if !haveQueue && !noESM {
		missing = append(missing, "bouncewatch's queue")
	}
	if noESM {
		ev = append(ev, "bouncewatch's queue not known: doctor.stack.event-source did not pass")
	}
	if len(missing) > 0 {
		return []Result{res(st.Name, Fail, "the stack's topic is not subscribed by "+strings.Join(missing, " and "), ev,
			"Deploy the stack again (`sam deploy --region "+e.s.Region+"`): it creates both subscriptions")}
	}
	return []Result{res(st.Name, Pass, "triage and bouncewatch's queue subscribe", ev)}
}

func checkDeadLetter(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	var out []Result
	for _, d := range st.DLQs {
		switch {
		case d.Err != nil:
			out = append(out, callSkip(d.URL, "sqs:GetQueueAttributes", d.Err))
		case d.Messages > 0:
			out = append(out, res(d.URL, Warn, fmt.Sprintf("%d message(s) in the dead-letter queue (%s): events sesguard could not process", d.Messages, d.Output),
				[]string{fmt.Sprintf("ApproximateNumberOfMessages=%d", d.Messages)},
				"Look at them: `aws sqs receive-message --queue-url "+d.URL+" --max-number-of-messages 10 --visibility-timeout 0 --region "+e.s.Region+"`; after fixing the cause, redrive: `aws sqs start-message-move-task --source-arn QUEUE_ARN --region "+e.s.Region+"`"))
		default:
			out = append(out, res(d.URL, Pass, "empty", []string{"ApproximateNumberOfMessages=0"}))
		}
	}
	return out
}

func checkAlarms(e *env) []Result {
	st, _ := e.stack()
	if st == nil {
		return nil
	}
	if st.AlarmsErr != nil {
		return []Result{callSkip(st.Name, "cloudwatch:DescribeAlarms", st.AlarmsErr)}
	}
	if len(st.Alarms) == 0 {
		return []Result{skip(st.Name, "no alarm named "+st.Name+"-* in "+e.s.Region)}
	}
	var firing, ev []string
	for _, a := range st.Alarms {
		ev = append(ev, aws.ToString(a.AlarmName)+": "+string(a.StateValue))
		if a.StateValue == "ALARM" {
			firing = append(firing, aws.ToString(a.AlarmName)+" ("+aws.ToString(a.StateReason)+")")
		}
	}
	if len(firing) > 0 {
		return []Result{res(st.Name, Fail, "in ALARM: "+strings.Join(firing, "; "), ev,
			"`aws cloudwatch describe-alarm-history --alarm-name NAME --history-item-type StateUpdate --region "+e.s.Region+"`; the dashboard (stack output DashboardURL) shows the metric")}
	}
	return []Result{res(st.Name, Pass, fmt.Sprintf("%d alarm(s), none in ALARM", len(st.Alarms)), ev)}
}

func checkCoverage(e *env) []Result {
	st, _ := e.stack()
	if st == nil || e.s.Coverage == nil {
		return nil
	}
	c := e.s.Coverage
	if c.Err != nil {
		return []Result{callSkip(st.Name, "cloudwatch:GetMetricData", c.Err)}
	}
	ev := []string{fmt.Sprintf("last 24 h: AWS/SES Send=%.0f, %s Sends{ScopeType=configuration-set,Scope=%s}=%.0f", c.SES, c.Namespace, c.ConfigSet, c.Ours)}
	if c.SES == 0 {
		return []Result{skip(st.Name, "no sends in AWS/SES Send over the last day: nothing to compare")}
	}
	ratio := c.Ours / c.SES
	fix := "Pass ConfigurationSetName=" + c.ConfigSet + " on every SendEmail, or make it the identities' default: `aws sesv2 put-email-identity-configuration-set-attributes --email-identity IDENTITY --configuration-set-name " + c.ConfigSet + " --region " + e.s.Region + "`"
	switch {
	case c.Ours == 0:
		return []Result{res(st.Name, Fail, "SES sent but sesguard counted no send through "+c.ConfigSet+": no traffic uses the configuration set (or its events do not arrive)", ev, fix)}
	case ratio < 0.95:
		return []Result{res(st.Name, Warn, fmt.Sprintf("sesguard saw %.0f%% of SES's sends: %.0f%% bypass configuration set %s (or use another one)", 100*ratio, 100*(1-ratio), c.ConfigSet), ev, fix)}
	}
	return []Result{res(st.Name, Pass, fmt.Sprintf("sesguard saw %.0f%% of SES's sends", 100*min(ratio, 1)), ev)}
}
