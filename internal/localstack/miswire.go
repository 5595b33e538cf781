package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/internal/doctor"
	"github.com/sesguard/sesguard/internal/metrics"
)

// DoctorStackName is the local stack's name as sesguard doctor sees it.
const DoctorStackName = "sesguard-local"

// The local SES side sends from this domain and address.
const (
	DoctorDomain  = "example.com"
	DoctorAddress = "noreply@example.com"
)

// DoctorWiring is the local stack as sesguard doctor reads it: the SES side
// (in the SES endpoint), the topic and queue policies (in kumo), and the
// stand-ins at doctor's own interfaces for what kumo cannot show:
//   - CloudFormation: kumo's DescribeStacks has no Outputs and kumo deploys
//     no template, so DescribeStacks answers from the local stack's topics,
//     queues and functions, in StackRegion only;
//   - Lambda: the functions are not kumo Lambda functions and their SQS
//     event sources are the local poller, so ListEventSourceMappings
//     answers from the stack's SQS sources (State: ESMState), and GetPolicy
//     with the permission SAM adds for each SNS event (InvokePermission);
//   - SNS→Lambda subscriptions are SNS→SQS stand-in queues locally (see
//     Stack), so ListSubscriptionsByTopic and GetSubscriptionAttributes
//     show those as the lambda subscriptions they stand for;
//   - DNS: TXT records from DNS, no resolver.
//
// SNS, SQS, KMS and CloudWatch are kumo's. kumo names every ARN us-east-1.
type DoctorWiring struct {
	Stack       *Stack
	Region      string // where SES sends
	StackRegion string // where the stack is (Region unless mis-wired)
	SES         *SESWiring
	DNS         map[string][]string
	ESMState    string
	// InvokePermission is whether the functions' resource policies let SNS
	// invoke them (SAM's SNS events add that permission).
	InvokePermission bool

	topic, queue, subscription string // SesEventsTopic, BouncewatchQueue ARNs, its subscription
	configSet                  string
}

// UpForDoctor starts a wiring-only stack from tmpl (no bootstraps: doctor
// reads the wiring, it runs nothing) and wires it as a correct deployment.
// The stack is returned whenever it started, to be closed, even with an
// error.
func UpForDoctor(ctx context.Context, tmpl []byte) (*Stack, *DoctorWiring, error) {
	st, err := Up(ctx, Options{Template: tmpl, WiringOnly: true,
		Bootstraps: map[string]string{"TriageFunction": "", "BouncewatchFunction": ""}})
	if err != nil {
		return st, nil, err
	}
	w, err := st.WireForDoctor(ctx)
	return st, w, err
}

// WireForDoctor puts the stack in the state a correct deployment has and
// returns its wiring.
func (s *Stack) WireForDoctor(ctx context.Context) (*DoctorWiring, error) {
	w := &DoctorWiring{Stack: s, Region: s.Region, topic: s.Topics["SesEventsTopic"], configSet: s.Params["ConfigurationSetName"]}
	if q := s.Queues["BouncewatchQueue"]; q != nil {
		w.queue = q.ARN
	}
	if w.topic == "" || w.queue == "" || w.configSet == "" {
		return nil, fmt.Errorf("the template lacks SesEventsTopic, BouncewatchQueue or ConfigurationSetName")
	}
	subs, err := s.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(w.topic)})
	if err != nil {
		return nil, fmt.Errorf("list the subscriptions of SesEventsTopic: %w", err)
	}
	for _, sub := range subs.Subscriptions {
		if aws.ToString(sub.Endpoint) == w.queue {
			w.subscription = aws.ToString(sub.SubscriptionArn)
		}
	}
	if w.subscription == "" {
		return nil, fmt.Errorf("BouncewatchQueue is not subscribed to SesEventsTopic")
	}
	return w, w.Reset(ctx)
}

// Reset undoes every mis-wiring: the state of a correct deployment.
func (w *DoctorWiring) Reset(ctx context.Context) error {
	s := w.Stack
	w.StackRegion, w.ESMState, w.InvokePermission = w.Region, "Enabled", true
	full := []string{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY", "RENDERING_FAILURE"}
	w.SES = &SESWiring{ProductionAccess: true, SendingEnabled: true, EnforcementStatus: "HEALTHY",
		Identities: map[string]*WiredIdentity{
			DoctorDomain: {VerificationStatus: "SUCCESS", DKIMStatus: "SUCCESS", DKIMSigning: true, MailFromDomain: "mail." + DoctorDomain,
				MailFromStatus: "SUCCESS", MailFromOnMX: "USE_DEFAULT_VALUE", ConfigurationSet: w.configSet},
			DoctorAddress: {VerificationStatus: "SUCCESS", DKIMStatus: "SUCCESS", DKIMSigning: true, ConfigurationSet: w.configSet},
		},
		ConfigSets: map[string]*WiredConfigSet{w.configSet: {SendingEnabled: true,
			Destinations: []WiredDestination{{Name: "sesguard-sns", Enabled: true, Types: full, TopicARN: w.topic}}}},
	}
	s.SES.SetWiring(w.Region, w.SES)
	w.DNS = map[string][]string{
		"_dmarc." + DoctorDomain: {"v=DMARC1; p=quarantine; rua=mailto:dmarc@" + DoctorDomain},
		"mail." + DoctorDomain:   {"v=spf1 include:amazonses.com ~all"},
	}
	set := func(name, value string) error {
		_, err := s.SNS.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(w.topic), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
		return err
	}
	if err := set("Policy", doctor.SESTopicPolicy(w.topic, Account, w.Region, w.configSet)); err != nil {
		return fmt.Errorf("set the SesEventsTopic policy: %w", err)
	}
	if err := set("KmsMasterKeyId", ""); err != nil {
		return fmt.Errorf("clear the SesEventsTopic key: %w", err)
	}
	for name, v := range map[string]string{"RawMessageDelivery": "false", "PendingConfirmation": "false"} {
		if _, err := s.SNS.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(w.subscription),
			AttributeName: aws.String(name), AttributeValue: aws.String(v)}); err != nil {
			return fmt.Errorf("set %s on the bouncewatch subscription: %w", name, err)
		}
	}
	if _, err := s.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(s.Queues["BouncewatchQueue"].URL),
		Attributes: map[string]string{"Policy": doctor.SNSQueuePolicy(w.queue, w.topic)}}); err != nil {
		return fmt.Errorf("set the BouncewatchQueue policy: %w", err)
	}
	// Triage reads the topic through its own queue (template TriageQueue).
	if q := s.Queues["TriageQueue"]; q != nil {
		if _, err := s.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q.URL),
			Attributes: map[string]string{"Policy": doctor.SNSQueuePolicy(q.ARN, w.topic)}}); err != nil {
			return fmt.Errorf("set the TriageQueue policy: %w", err)
		}
	}
	return nil
}

// Options are the doctor options that check the local stack.
func (w *DoctorWiring) Options() doctor.Options {
	return doctor.Options{Regions: []string{w.Region}, Stack: DoctorStackName, StackRegions: []string{"us-east-1", "us-west-2", "eu-west-1"}}
}

// Clients returns doctor's clients for the local stack.
func (w *DoctorWiring) Clients() doctor.ClientsFor {
	return func(region string) doctor.Clients {
		cfg := w.Stack.AWS.Copy()
		cfg.Region = region
		sesCfg := cfg.Copy()
		sesCfg.BaseEndpoint = aws.String(w.Stack.SESURL())
		return doctor.Clients{
			SESv2:      sesv2.NewFromConfig(sesCfg),
			SESv1:      ses.NewFromConfig(sesCfg),
			SNS:        localSNS{sns.NewFromConfig(cfg), w, region},
			KMS:        kms.NewFromConfig(cfg),
			SQS:        sqs.NewFromConfig(cfg),
			CFN:        localCFN{w, region},
			Lambda:     localLambda{w},
			CloudWatch: cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.DisableRequestCompression = true }),
			DNS:        localDNS{w},
		}
	}
}

// functionARN names a local function as Lambda would.
func (w *DoctorWiring) functionARN(fn *Function) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", w.StackRegion, Account, fn.Name)
}

type localCFN struct {
	w      *DoctorWiring
	region string
}

func (c localCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if c.region != c.w.StackRegion || aws.ToString(in.StackName) != DoctorStackName {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	s := c.w.Stack
	outs := map[string]string{
		doctor.OutSesEventsTopic:    s.Topics["SesEventsTopic"],
		doctor.OutSendFailuresTopic: s.Topics["SendFailuresTopic"],
		doctor.OutConfigurationSet:  c.w.configSet,
	}
	if fn := s.Functions["TriageFunction"]; fn != nil {
		outs[doctor.OutTriageFunction] = fn.Name
	}
	if fn := s.Functions["BouncewatchFunction"]; fn != nil {
		outs[doctor.OutBouncewatchFunc] = fn.Name
	}
	if q := s.Queues["TriageDeadLetterQueue"]; q != nil {
		outs[doctor.OutTriageDLQ] = q.URL
	}
	if q := s.Queues["BouncewatchDeadLetterQueue"]; q != nil {
		outs[doctor.OutBouncewatchDLQ] = q.URL
	}
	st := cftypes.Stack{StackName: aws.String(DoctorStackName), StackStatus: cftypes.StackStatusCreateComplete,
		Parameters: []cftypes.Parameter{{ParameterKey: aws.String(doctor.ParamMetricsNamespace), ParameterValue: aws.String(s.Params["MetricsNamespace"])}}}
	for _, k := range sortedKeys(outs) {
		st.Outputs = append(st.Outputs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(outs[k])})
	}
	if ns := s.Params["MetricsNamespace"]; ns == "" {
		st.Parameters[0].ParameterValue = aws.String(metrics.DefaultNamespace)
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{st}}, nil
}

type localLambda struct{ w *DoctorWiring }

func (l localLambda) ListEventSourceMappings(_ context.Context, in *lambda.ListEventSourceMappingsInput, _ ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error) {
	out := &lambda.ListEventSourceMappingsOutput{}
	for i, src := range l.w.Stack.Sources {
		if src.SNS || src.Function.Name != aws.ToString(in.FunctionName) {
			continue
		}
		out.EventSourceMappings = append(out.EventSourceMappings, lambdatypes.EventSourceMappingConfiguration{
			UUID: aws.String(fmt.Sprintf("local-%d", i)), EventSourceArn: aws.String(src.Queue.ARN), FunctionArn: aws.String(l.w.functionARN(src.Function)),
			State: aws.String(l.w.ESMState), BatchSize: aws.Int32(int32(src.BatchSize))})
	}
	return out, nil
}

// GetPolicy answers with the permission SAM adds for each SNS event of a
// function: sns.amazonaws.com may invoke it for that topic.
func (l localLambda) GetPolicy(_ context.Context, in *lambda.GetPolicyInput, _ ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error) {
	var stmts []map[string]any
	for _, src := range l.w.Stack.Sources {
		arn := l.w.functionARN(src.Function)
		if !src.SNS || arn != aws.ToString(in.FunctionName) || !l.w.InvokePermission {
			continue
		}
		stmts = append(stmts, map[string]any{"Sid": src.Event, "Effect": "Allow", "Principal": map[string]any{"Service": "sns.amazonaws.com"},
			"Action": "lambda:InvokeFunction", "Resource": arn, "Condition": map[string]any{"ArnLike": map[string]any{"AWS:SourceArn": l.w.Stack.Topics[src.Queue.Topic]}}})
	}
	if len(stmts) == 0 {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "The resource you requested does not exist."}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
	if err != nil {
		return nil, err
	}
	return &lambda.GetPolicyOutput{Policy: aws.String(string(b))}, nil
}

type localDNS struct{ w *DoctorWiring }

func (d localDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if r, ok := d.w.DNS[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", name)
}

// localSNS is kumo's SNS, except that the local stand-ins for SNS→Lambda
// subscriptions (a queue the poller drains) show as the lambda
// subscriptions they stand for.
type localSNS struct {
	*sns.Client
	w      *DoctorWiring
	region string
}

func (l localSNS) lambdaFor(endpoint string) string {
	for _, src := range l.w.Stack.Sources {
		if src.SNS && src.Queue.ARN == endpoint {
			return l.w.functionARN(src.Function)
		}
	}
	return ""
}

func (l localSNS) ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, o ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	out, err := l.Client.ListSubscriptionsByTopic(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	subs := make([]snstypes.Subscription, 0, len(out.Subscriptions))
	for _, s := range out.Subscriptions {
		if fn := l.lambdaFor(aws.ToString(s.Endpoint)); fn != "" {
			s.Protocol, s.Endpoint = aws.String("lambda"), aws.String(fn)
		}
		subs = append(subs, s)
	}
	out.Subscriptions = subs
	return out, nil
}

func (l localSNS) GetSubscriptionAttributes(ctx context.Context, in *sns.GetSubscriptionAttributesInput, o ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	out, err := l.Client.GetSubscriptionAttributes(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	if fn := l.lambdaFor(out.Attributes["Endpoint"]); fn != "" {
		out.Attributes["Protocol"], out.Attributes["Endpoint"] = "lambda", fn
	}
	return out, nil
}

// Miswire is one named mis-wiring of the local stack and what doctor must
// say about it.
type Miswire struct {
	Name    string
	Problem string
	// Check must report Want (fail, or warn where that is the right
	// level); nothing else may fail.
	Check string
	Want  doctor.Status
	apply func(ctx context.Context, w *DoctorWiring) error
}

func (w *DoctorWiring) setTopic(ctx context.Context, name, value string) error {
	_, err := w.Stack.SNS.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(w.topic), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
	return err
}

func (w *DoctorWiring) setSub(ctx context.Context, name, value string) error {
	_, err := w.Stack.SNS.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(w.subscription), AttributeName: aws.String(name), AttributeValue: aws.String(value)})
	return err
}

// Miswires lists the mis-wirings `sesguard local --miswire` applies.
var Miswires = []Miswire{
	{"no-event-destination", "the configuration set has no event destination", "doctor.configset.destination", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.SES.ConfigSets[w.configSet].Destinations = nil
			return nil
		}},
	{"destination-without-bounce", "the event destination does not publish BOUNCE", "doctor.configset.event-types", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			d := &w.SES.ConfigSets[w.configSet].Destinations[0]
			d.Types = slices.DeleteFunc(slices.Clone(d.Types), func(t string) bool { return t == "BOUNCE" })
			return nil
		}},
	{"subscription-pending", "bouncewatch's queue subscription is pending confirmation", "doctor.subscription.confirmed", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error { return w.setSub(ctx, "PendingConfirmation", "true") }},
	{"topic-policy-without-ses", "the topic policy does not admit ses.amazonaws.com", "doctor.topic.policy", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error {
			return w.setTopic(ctx, "Policy", `{"Version":"2012-10-17","Statement":[{"Sid":"OwnerOnly","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+Account+`:root"},"Action":"sns:Publish","Resource":"`+w.topic+`"}]}`)
		}},
	{"aws-managed-key", "the topic is encrypted with the AWS-managed alias/aws/sns key", "doctor.topic.encryption", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error {
			return w.setTopic(ctx, "KmsMasterKeyId", "alias/aws/sns")
		}},
	{"raw-delivery", "raw message delivery on bouncewatch's subscription, which decodes SNS envelopes", "doctor.subscription.raw-delivery", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error { return w.setSub(ctx, "RawMessageDelivery", "true") }},
	{"queue-policy-missing", "bouncewatch's queue policy does not admit the topic", "doctor.subscription.queue-policy", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error {
			_, err := w.Stack.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(w.Stack.Queues["BouncewatchQueue"].URL),
				Attributes: map[string]string{"Policy": doctor.SNSQueuePolicy(w.queue, "arn:aws:sns:"+w.Region+":"+Account+":someone-else")}})
			return err
		}},
	{"stack-in-other-region", "sesguard's stack is deployed in another Region than the one that sends", "doctor.stack.region", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.StackRegion = "us-west-2"
			if w.Region == "us-west-2" {
				w.StackRegion = "eu-west-1"
			}
			return nil
		}},
	{"sandbox", "the account is in the SES sandbox", "doctor.account.production-access", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.SES.ProductionAccess = false
			return nil
		}},
	{"feedback-forwarding", "email feedback forwarding left on alongside event publishing", "doctor.identity.feedback-forwarding", doctor.Warn,
		func(_ context.Context, w *DoctorWiring) error {
			w.SES.Identities[DoctorDomain].ForwardingEnabled = true
			return nil
		}},
	{"address-overrides-domain", "a verified address identity without the domain's default configuration set", "doctor.identity.address-override", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.SES.Identities[DoctorAddress].ConfigurationSet = ""
			return nil
		}},
	{"sending-paused", "sending is paused for the account in the Region", "doctor.account.sending", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.SES.SendingEnabled = false
			return nil
		}},
	{"duplicate-notifications", "identity notifications (notificationType) and events (eventType) both go to the stack's topic", "doctor.identity.duplicate-feedback", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error {
			for _, id := range w.SES.Identities {
				id.BounceTopic, id.ComplaintTopic = w.topic, w.topic
			}
			// SES may publish the identities' notifications too: the
			// operator allowed it, so only the duplicate is wrong.
			pol := strings.Replace(doctor.SESTopicPolicy(w.topic, Account, w.Region, w.configSet),
				`"AWS:SourceArn":"arn:aws:ses:`+w.Region+`:`+Account+`:configuration-set/`+w.configSet+`"`, `"AWS:SourceArn":"arn:aws:ses:`+w.Region+`:`+Account+`:*"`, 1)
			pol = strings.Replace(pol, `"StringEquals"`, `"StringLike"`, 1)
			return w.setTopic(ctx, "Policy", pol)
		}},
	{"destination-topic-other-region", "the event destination names a topic in another Region", "doctor.configset.topic-region", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			d := &w.SES.ConfigSets[w.configSet].Destinations[0]
			d.TopicARN = strings.Replace(d.TopicARN, ":"+w.Region+":", ":eu-west-1:", 1)
			if w.Region == "eu-west-1" {
				d.TopicARN = strings.Replace(d.TopicARN, ":eu-west-1:", ":us-east-1:", 1)
			}
			return nil
		}},
	// Triage reads through its queue (TriageQueue), not an SNS→Lambda
	// subscription: the mis-wiring that matters is that queue's policy.
	{"triage-queue-policy-missing", "triage's queue policy does not admit the topic", "doctor.subscription.queue-policy", doctor.Fail,
		func(ctx context.Context, w *DoctorWiring) error {
			q := w.Stack.Queues["TriageQueue"]
			if q == nil {
				return fmt.Errorf("the template has no TriageQueue")
			}
			_, err := w.Stack.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q.URL),
				Attributes: map[string]string{"Policy": doctor.SNSQueuePolicy(q.ARN, "arn:aws:sns:"+w.Region+":"+Account+":someone-else")}})
			return err
		}},
	{"event-source-disabled", "bouncewatch's SQS event source mapping is disabled", "doctor.stack.event-source", doctor.Fail,
		func(_ context.Context, w *DoctorWiring) error {
			w.ESMState = "Disabled"
			return nil
		}},
}

// LookupMiswire returns the named mis-wiring.
func LookupMiswire(name string) (Miswire, bool) {
	i := slices.IndexFunc(Miswires, func(m Miswire) bool { return m.Name == name })
	if i < 0 {
		return Miswire{}, false
	}
	return Miswires[i], true
}

// Apply resets the wiring and applies m ("" applies nothing: a correct
// deployment).
func (w *DoctorWiring) Apply(ctx context.Context, m *Miswire) error {
	if err := w.Reset(ctx); err != nil {
		return err
	}
	if m == nil {
		return nil
	}
	if err := m.apply(ctx, w); err != nil {
		return fmt.Errorf("miswire %s: %w", m.Name, err)
	}
	return nil
}

// Judge says whether doctor's report is right about m (nil: the correct
// deployment, where nothing may fail): m.Check reports m.Want and nothing
// else fails.
func Judge(rep *doctor.Report, m *Miswire) error {
	var problems []string
	found := false
	for _, r := range rep.Results {
		if m != nil && r.Check == m.Check && r.Status == m.Want {
			found = true
			continue
		}
		if r.Status == doctor.Fail {
			problems = append(problems, fmt.Sprintf("%s also failed on %s: %s", r.Check, r.Subject, r.Summary))
		}
	}
	if m != nil && !found {
		problems = append([]string{fmt.Sprintf("%s did not report %s", m.Check, m.Want)}, problems...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
