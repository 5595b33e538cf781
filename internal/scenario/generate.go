package scenario

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sesguard/sesguard/pkg/ruleset"
)

// The story's cast. Addresses are made up; the recipient domains are
// reserved example domains.
const (
	Account          = "123456789012"
	SendingRegion    = "us-east-1"
	ConfigurationSet = "sesguard"
	// ConfigurationSetNews is the newsletter's own configuration set when
	// Options.NewsletterConfigurationSet is set (the auto-pause story).
	ConfigurationSetNews = "sesguard-newsletter"
	DomainApp            = "yourapp.com"      // transactional mail
	DomainNews           = "news.yourapp.com" // the newsletter with the stale list
	SenderApp            = "noreply@yourapp.com"
	SenderNews           = "hello@news.yourapp.com"
	SandboxRegion        = "us-west-2"
	MismatchRegion       = "eu-west-1"
	RewrittenSender      = "root@ip-10-0-1-17.ec2.internal"
)

var recipientDomains = []string{"example.com", "example.net", "example.org", "mail.example", "inbox.example"}

// Options sizes the generated day.
type Options struct {
	Seed int64
	// Short makes a small version of the same story (for tests): fewer
	// sends, no Delivery events, hourly evaluations, recovery to warning.
	Short bool
	// NewsletterConfigurationSet sends the newsletter through a
	// configuration set of its own (ConfigurationSetNews), the
	// transactional mail staying in ConfigurationSet: the story of
	// auto-pause, where the stale list's set is paused and the healthy one
	// keeps sending. The events are otherwise the same.
	NewsletterConfigurationSet bool
}

type sizes struct {
	appSends, newsBase, newsWave, newsAfter int
	waveBounceRate, baseBounceRate          float64
	storm                                   int
	every                                   time.Duration
	deliveries                              bool
}

// Default generates the demo's story, reproducibly from opts.Seed: a day of
// traffic for two sending domains through one configuration set; a sandbox
// reject in a second Region; a Region-mismatch storm; an envelope-sender
// rewrite; a hard-bounce wave from a stale list that takes the newsletter
// domain's bounce rate through 2% and 5%, then its recovery as clean
// traffic dilutes it; and a complaint.
func Default(opts Options) *Scenario {
	z := sizes{appSends: 2000, newsBase: 600, newsWave: 240, newsAfter: 3800, waveBounceRate: 0.30,
		baseBounceRate: 0.002, storm: 300, every: 30 * time.Minute, deliveries: true}
	if opts.Short {
		z = sizes{appSends: 300, newsBase: 400, newsWave: 200, newsAfter: 400, waveBounceRate: 0.22,
			baseBounceRate: 0.002, storm: 60, every: time.Hour}
	}
	g := &gen{rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x5e5)), suppress: map[string]bool{}, newsSet: ConfigurationSet}
	if opts.NewsletterConfigurationSet {
		g.newsSet = ConfigurationSetNews
	}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	spread := func(from, to time.Time) time.Time {
		return from.Add(time.Duration(g.rng.Int64N(int64(to.Sub(from)))))
	}

	// Transactional mail all day, with a trickle of hard bounces.
	for range z.appSends {
		g.send(spread(at(6, 0), at(23, 30)), SenderApp, DomainApp, z.baseBounceRate, z.deliveries, "transactional")
	}
	// The newsletter: a morning send, the stale list at 13:00, then clean
	// afternoon and evening sends.
	for range z.newsBase {
		g.send(spread(at(6, 0), at(12, 30)), SenderNews, DomainNews, z.baseBounceRate, z.deliveries, "newsletter")
	}
	waveEnd := at(13, 15)
	for range z.newsWave {
		g.sendWave(spread(at(13, 0), waveEnd), z.waveBounceRate, z.deliveries)
	}
	afterFrom := at(15, 0)
	if opts.Short {
		afterFrom = at(16, 0)
	}
	for range z.newsAfter {
		g.send(spread(afterFrom, at(23, 30)), SenderNews, DomainNews, z.baseBounceRate, z.deliveries, "newsletter")
	}

	// A sandbox reject: the app's fallback Region, us-west-2, never left
	// the sandbox.
	g.failure(at(8, 12), "sandbox reject in "+SandboxRegion, map[string]any{
		"error":  "Message rejected: Email address is not verified. The following identities failed the check in region US-WEST-2: customer@example.org",
		"region": SandboxRegion, "from": SenderApp, "to": []string{"customer@example.org"},
		"transport": "api", "account": Account, "configurationSet": ConfigurationSet,
	})
	// A Region-mismatch storm: a deploy points the password-reset worker at
	// eu-west-1, where the sender identity does not exist.
	for i := range z.storm {
		g.failure(at(9, 40).Add(time.Duration(i)*(20*time.Minute)/time.Duration(z.storm)), "Region-mismatch storm", map[string]any{
			"error":  "Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: noreply@yourapp.com",
			"region": MismatchRegion, "from": SenderApp, "to": []string{g.recipient()},
			"transport": "api", "account": Account,
		})
	}
	// Postfix on a new EC2 host rewrites the envelope sender.
	g.failure(at(11, 5), "envelope-sender rewrite", map[string]any{
		"error":  "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: " + RewrittenSender,
		"region": SendingRegion, "from": SenderApp, "returnPath": RewrittenSender, "to": []string{g.recipient()},
		"transport": "smtp", "account": Account,
	})
	// A complaint about a transactional message.
	g.complaint(at(16, 20))

	sc := &Scenario{
		Name:              "default",
		Seed:              opts.Seed,
		Start:             day,
		End:               day.Add(24 * time.Hour),
		EvaluateEvery:     z.every,
		Region:            SendingRegion,
		Facts:             Facts(),
		WatchDomains:      []string{DomainApp, DomainNews},
		ConfigurationSets: []string{ConfigurationSet},
		Events:            g.events,
	}
	if opts.Short {
		sc.Name = "default-short"
	}
	if opts.NewsletterConfigurationSet {
		sc.Name += "+newsletter-set"
		sc.ConfigurationSets = append(sc.ConfigurationSets, ConfigurationSetNews)
	}
	sc.Sort()

	domain := "domain:" + DomainNews
	exp := &Expect{
		Alerts: []AlertExpect{
			{Kind: "diagnosis", Level: "critical", Rule: "reject.sandbox-recipient-unverified"},
			{Kind: "diagnosis", Level: "critical", Rule: "reject.region-mismatch"},
			{Kind: "diagnosis", Level: "critical", Rule: "reject.envelope-sender-rewritten"},
			{Kind: "rate", Level: "warning", Rule: "bounce-rate", Scope: domain},
			{Kind: "rate", Level: "critical", Rule: "bounce-rate", Scope: domain},
			{Kind: "rate", Level: "warning", Rule: "bounce-rate", Scope: domain},
		},
		MinDiagnoses: map[string]int{
			"reject.sandbox-recipient-unverified": 1,
			"reject.region-mismatch":              z.storm,
			"reject.envelope-sender-rewritten":    1,
			"bounce.hard.no-such-user":            int(float64(z.newsWave) * z.waveBounceRate * 0.6),
			"complaint.abuse":                     1,
		},
		Suppressions: len(g.suppress),
		StormRule:    "reject.region-mismatch",
		StormSize:    z.storm,
	}
	if !opts.Short {
		exp.Alerts = append(exp.Alerts, AlertExpect{Kind: "rate", Level: "ok", Rule: "bounce-rate", Scope: domain})
	}
	sc.Expect = exp
	return sc
}

// Facts are the account facts of the story, in DESIGN.md's shape: out of
// the sandbox in us-east-1 with both domains' senders verified; us-west-2
// still in the sandbox; nothing in eu-west-1. The account's own
// suppression list is off, so triage suppresses (SUPPRESS_MODE auto).
func Facts() *ruleset.Facts {
	t, f := ruleset.Bool(true), ruleset.Bool(false)
	return &ruleset.Facts{SendingRegion: SendingRegion, Regions: map[string]*ruleset.RegionFacts{
		SendingRegion: {ProductionAccess: t, SendingEnabled: t, EnforcementStatus: "HEALTHY", SuppressedReasons: []string{},
			Identities: map[string]string{DomainApp: ruleset.StatusSuccess, SenderApp: ruleset.StatusSuccess,
				DomainNews: ruleset.StatusSuccess, SenderNews: ruleset.StatusSuccess}},
		SandboxRegion: {ProductionAccess: f, SendingEnabled: t, EnforcementStatus: "HEALTHY", SuppressedReasons: []string{},
			Identities: map[string]string{SenderApp: ruleset.StatusSuccess}},
		MismatchRegion: {ProductionAccess: t, SendingEnabled: t, EnforcementStatus: "HEALTHY", SuppressedReasons: []string{},
			Identities: map[string]string{}},
	}}
}

type gen struct {
	rng      *rand.Rand
	events   []Event
	n        int
	suppress map[string]bool // hard-bounced and complaining addresses
	newsSet  string          // the newsletter's configuration set
}

// configSet is the configuration set mail from domain is sent through.
func (g *gen) configSet(domain string) string {
	if domain == DomainNews {
		return g.newsSet
	}
	return ConfigurationSet
}

func (g *gen) id() string {
	g.n++
	return fmt.Sprintf("0100018e%08x-%04x-4c1e-9a43-5e5a%08d-000000", g.rng.Uint32(), g.rng.Uint32()&0xffff, g.n)
}

func (g *gen) recipient() string {
	return fmt.Sprintf("user%05d@%s", g.rng.IntN(100000), recipientDomains[g.rng.IntN(len(recipientDomains))])
}

func (g *gen) add(t time.Time, topic, note string, msg any) {
	raw, err := json.Marshal(msg)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	g.events = append(g.events, Event{Time: t, Topic: topic, Message: raw, Note: note})
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// mail is SES's mail object for one message to one recipient.
func (g *gen) mail(t time.Time, id, from, domain, to string) map[string]any {
	return map[string]any{
		"timestamp":        ts(t),
		"messageId":        id,
		"source":           from,
		"sourceArn":        "arn:aws:ses:" + SendingRegion + ":" + Account + ":identity/" + domain,
		"sendingAccountId": Account,
		"destination":      []string{to},
		"commonHeaders":    map[string]any{"from": []string{from}, "to": []string{to}, "subject": "Your message"},
		"tags": map[string][]string{
			"ses:configuration-set": {g.configSet(domain)},
			"ses:from-domain":       {domain},
			"ses:source-ip":         {"203.0.113.10"},
			"ses:caller-identity":   {"sesguard-demo"},
		},
	}
}

// send adds a Send event and, after a few seconds, its Delivery or (with
// probability bounceRate) a hard bounce.
func (g *gen) send(t time.Time, from, domain string, bounceRate float64, deliveries bool, note string) {
	id, to := g.id(), g.recipient()
	m := g.mail(t, id, from, domain, to)
	g.add(t, TopicSESEvents, note, map[string]any{"eventType": "Send", "mail": m, "send": map[string]any{}})
	if g.rng.Float64() < bounceRate {
		g.bounce(t.Add(time.Duration(2+g.rng.IntN(60))*time.Second), m, to, note)
		return
	}
	if deliveries {
		dt := t.Add(time.Duration(1+g.rng.IntN(5)) * time.Second)
		g.add(dt, TopicSESEvents, note, map[string]any{"eventType": "Delivery", "mail": m, "delivery": map[string]any{
			"timestamp": ts(dt), "processingTimeMillis": 800 + g.rng.IntN(2000), "recipients": []string{to},
			"smtpResponse": "250 2.0.0 OK", "reportingMTA": "a8-30.smtp-out.amazonses.com"}})
	}
}

// sendWave is a send to the stale list: bounces come back over the next
// hour and a half, as receiving servers retry DNS and queues drain.
func (g *gen) sendWave(t time.Time, bounceRate float64, deliveries bool) {
	id, to := g.id(), g.recipient()
	m := g.mail(t, id, SenderNews, DomainNews, to)
	g.add(t, TopicSESEvents, "stale list", map[string]any{"eventType": "Send", "mail": m, "send": map[string]any{}})
	if g.rng.Float64() < bounceRate {
		g.bounce(t.Add(time.Duration(5+g.rng.IntN(100))*time.Minute), m, to, "hard-bounce wave")
		return
	}
	if deliveries {
		dt := t.Add(time.Duration(1+g.rng.IntN(5)) * time.Second)
		g.add(dt, TopicSESEvents, "stale list", map[string]any{"eventType": "Delivery", "mail": m, "delivery": map[string]any{
			"timestamp": ts(dt), "processingTimeMillis": 900, "recipients": []string{to},
			"smtpResponse": "250 2.0.0 OK", "reportingMTA": "a8-30.smtp-out.amazonses.com"}})
	}
}

func (g *gen) bounce(t time.Time, m map[string]any, to, note string) {
	g.suppress[to] = true
	g.add(t, TopicSESEvents, note, map[string]any{"eventType": "Bounce", "mail": m, "bounce": map[string]any{
		"bounceType": "Permanent", "bounceSubType": "General", "timestamp": ts(t),
		"feedbackId":   fmt.Sprintf("0100018e-%08x-feedback", g.rng.Uint32()),
		"reportingMTA": "dns; a8-30.smtp-out.amazonses.com",
		"bouncedRecipients": []map[string]any{{"emailAddress": to, "action": "failed", "status": "5.1.1",
			"diagnosticCode": "smtp; 550 5.1.1 <" + to + ">: Recipient address rejected: User unknown in virtual mailbox table"}},
	}})
}

func (g *gen) complaint(t time.Time) {
	id, to := g.id(), g.recipient()
	sent := t.Add(-3 * time.Hour)
	m := g.mail(sent, id, SenderApp, DomainApp, to)
	g.suppress[to] = true
	g.add(sent, TopicSESEvents, "transactional", map[string]any{"eventType": "Send", "mail": m, "send": map[string]any{}})
	g.add(t, TopicSESEvents, "complaint", map[string]any{"eventType": "Complaint", "mail": m, "complaint": map[string]any{
		"complainedRecipients": []map[string]any{{"emailAddress": to}}, "timestamp": ts(t),
		"feedbackId": fmt.Sprintf("0100018e-%08x-complaint", g.rng.Uint32()), "complaintFeedbackType": "abuse",
		"userAgent": "Yahoo!-Mail-Feedback/2.0", "arrivalDate": ts(t.Add(-time.Minute)),
	}})
}

func (g *gen) failure(t time.Time, note string, env map[string]any) {
	g.add(t, TopicSendFailures, note, env)
}
