package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	sestypes "github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sesv2types "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/sesguard/sesguard/internal/metrics"
)

// Snapshot is what one Region showed. Every field that came from a call has
// its error next to it.
type Snapshot struct {
	Region     string
	Account    *sesv2.GetAccountOutput
	AccountErr error

	IdentityListErr error
	Identities      []*Identity
	ConfigSets      []*ConfigSet
	Topics          []*Topic
	Stack           *Stack // nil: no --stack
	Coverage        *Coverage
}

// Identity is one email identity and what hangs off it.
type Identity struct {
	Name      string
	IsAddress bool
	Domain    string // the identity itself, or an address's domain
	Out       *sesv2.GetEmailIdentityOutput
	Err       error
	Notif     *sestypes.IdentityNotificationAttributes
	NotifErr  error
	// Parent is an address identity's domain identity when that exists in
	// the Region (its settings are overridden by the address's).
	Parent *Identity
	DMARC  TXT
	SPF    TXT // of the custom MAIL FROM domain, when there is one
}

// TXT is one DNS TXT lookup.
type TXT struct {
	Name    string
	Records []string
	Err     error
}

// ConfigSet is one configuration set and its event destinations.
type ConfigSet struct {
	Name    string
	Source  string // why it is checked: "--configuration-set", "stack", "default of IDENTITY", "listed"
	Out     *sesv2.GetConfigurationSetOutput
	Err     error
	Dests   []sesv2types.EventDestination
	DestErr error
}

// Topic is an SNS topic SES publishes to.
type Topic struct {
	ARN      string
	Users    []string // "configuration-set/NAME", "identity/NAME (Bounce)"
	Attrs    map[string]string
	Err      error
	Key      *kmstypes.KeyMetadata
	KeyErr   error
	Subs     []*Subscription
	SubsErr  error
	StackOwn bool // the stack's SesEventsTopic
	// Published and Failed are AWS/SNS NumberOfMessagesPublished and
	// NumberOfNotificationsFailed over the last day.
	Published, Failed float64
	MetricsErr        error
}

// Subscription is one subscription of a Topic.
type Subscription struct {
	ARN, Protocol, Endpoint, Topic string
	Attrs                          map[string]string
	Err                            error
	QueueURL                       string
	Queue                          map[string]string
	QueueErr                       error
	// LambdaPolicy is a lambda endpoint's resource policy.
	LambdaPolicy string
	LambdaErr    error
}

// Stack is sesguard's stack as the Region shows it.
type Stack struct {
	Name      string
	Err       error // DescribeStacks in this Region, other than not found
	Found     bool
	Elsewhere string // a Region it was found in instead ("" none)
	Status    string
	Outputs   map[string]string
	Params    map[string]string
	ESMs      map[string][]lambdatypes.EventSourceMappingConfiguration // by output key of the function name
	ESMErr    map[string]error
	DLQs      []QueueDepth
	Alarms    []cwtypes.MetricAlarm
	AlarmsErr error
}

// QueueDepth is a dead-letter queue's backlog.
type QueueDepth struct {
	Output, URL string
	Messages    int
	Err         error
}

// Coverage compares SES's own send count with sesguard's over a day.
type Coverage struct {
	ConfigSet, Namespace string
	SES, Ours            float64
	Err                  error
}

// Stack output keys (template.yaml's Outputs; internal/stack's tests keep
// the template's outputs in step).
const (
	OutSesEventsTopic     = "SesEventsTopicArn"
	OutSendFailuresTopic  = "SendFailuresTopicArn"
	OutConfigurationSet   = "ConfigurationSetName"
	OutTriageFunction     = "TriageFunctionName"
	OutBouncewatchFunc    = "BouncewatchFunctionName"
	OutTriageDLQ          = "TriageDeadLetterQueueUrl"
	OutBouncewatchDLQ     = "BouncewatchDeadLetterQueueUrl"
	ParamMetricsNamespace = "MetricsNamespace"
)

// Gather reads one Region.
func Gather(ctx context.Context, cl ClientsFor, region string, o Options) *Snapshot {
	c := cl(region)
	s := &Snapshot{Region: region}
	s.Account, s.AccountErr = c.SESv2.GetAccount(ctx, &sesv2.GetAccountInput{})
	if o.Stack != "" {
		s.Stack = gatherStack(ctx, cl, c, region, o)
	}
	gatherIdentities(ctx, c, s, o)
	gatherConfigSets(ctx, c, s, o)
	gatherTopics(ctx, cl, s, o)
	if s.Stack != nil && s.Stack.Found {
		s.Coverage = gatherCoverage(ctx, c, s, o)
	}
	return s
}

func gatherStack(ctx context.Context, cl ClientsFor, c Clients, region string, o Options) *Stack {
	st := &Stack{Name: o.Stack, ESMs: map[string][]lambdatypes.EventSourceMappingConfiguration{}, ESMErr: map[string]error{}}
	out, err := c.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(o.Stack)})
	if err != nil && !isNotFound(err) {
		st.Err = err
		return st
	}
	if err != nil || len(out.Stacks) == 0 {
		for _, r := range o.StackRegions {
			if r == region {
				continue
			}
			if stackIn(ctx, cl, r, o) {
				st.Elsewhere = r
				break
			}
		}
		return st
	}
	cs := out.Stacks[0]
	st.Found = true
	st.Status = string(cs.StackStatus)
	st.Outputs, st.Params = map[string]string{}, map[string]string{}
	for _, op := range cs.Outputs {
		st.Outputs[aws.ToString(op.OutputKey)] = aws.ToString(op.OutputValue)
	}
	for _, p := range cs.Parameters {
		st.Params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	for _, key := range []string{OutTriageFunction, OutBouncewatchFunc} {
		fn := st.Outputs[key]
		if fn == "" {
			continue
		}
		var marker *string
		for {
			m, err := c.Lambda.ListEventSourceMappings(ctx, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(fn), Marker: marker})
			if err != nil {
				st.ESMErr[key] = err
				break
			}
			st.ESMs[key] = append(st.ESMs[key], m.EventSourceMappings...)
			if m.NextMarker == nil || aws.ToString(m.NextMarker) == "" {
				break
			}
			marker = m.NextMarker
		}
	}
	for _, key := range []string{OutTriageDLQ, OutBouncewatchDLQ} {
		u := st.Outputs[key]
		if u == "" {
			continue
		}
		d := QueueDepth{Output: key, URL: u}
		qa, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			d.Err = err
		} else if _, err := fmt.Sscan(qa.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &d.Messages); err != nil {
			d.Err = fmt.Errorf("ApproximateNumberOfMessages %q: not a number", qa.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		}
		st.DLQs = append(st.DLQs, d)
	}
	var next *string
	for {
		a, err := c.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String(o.Stack + "-"), NextToken: next})
		if err != nil {
			st.AlarmsErr = err
			break
		}
		st.Alarms = append(st.Alarms, a.MetricAlarms...)
		if aws.ToString(a.NextToken) == "" {
			break
		}
		next = a.NextToken
	}
	return st
}

// stackIn reports whether o.Stack is in region, asking each Region once per
// Run.
func stackIn(ctx context.Context, cl ClientsFor, region string, o Options) bool {
	if o.stackWhere != nil {
		if v, ok := o.stackWhere.Load(region); ok {
			return v.(bool)
		}
	}
	out, err := cl(region).CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(o.Stack)})
	found := err == nil && len(out.Stacks) > 0
	if o.stackWhere != nil {
		o.stackWhere.Store(region, found)
	}
	return found
}

func gatherIdentities(ctx context.Context, c Clients, s *Snapshot, o Options) {
	names := append([]string{}, o.Identities...)
	if len(names) == 0 {
		var next *string
		for len(names) < o.MaxIdentities {
			out, err := c.SESv2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{NextToken: next})
			if err != nil {
				s.IdentityListErr = err
				break
			}
			for _, id := range out.EmailIdentities {
				if len(names) < o.MaxIdentities {
					names = append(names, aws.ToString(id.IdentityName))
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			next = out.NextToken
		}
	}
	byName := map[string]*Identity{}
	get := func(name string) *Identity {
		if id, ok := byName[name]; ok {
			return id
		}
		id := &Identity{Name: name, Domain: name}
		if at := strings.LastIndex(name, "@"); at >= 0 {
			id.IsAddress, id.Domain = true, strings.ToLower(name[at+1:])
		}
		id.Out, id.Err = c.SESv2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
		byName[name] = id
		return id
	}
	for _, n := range names {
		id := get(n)
		s.Identities = append(s.Identities, id)
	}
	// An address identity's domain identity, for the override check.
	for _, id := range s.Identities {
		if id.IsAddress {
			if p := get(id.Domain); p.Err == nil {
				id.Parent = p
			}
		}
	}
	var existing []string
	for _, n := range slices.Sorted(mapsKeys(byName)) {
		if byName[n].Err == nil {
			existing = append(existing, n)
		}
	}
	for len(existing) > 0 {
		batch := existing[:min(100, len(existing))]
		existing = existing[len(batch):]
		out, err := c.SESv1.GetIdentityNotificationAttributes(ctx, &ses.GetIdentityNotificationAttributesInput{Identities: batch})
		for _, n := range batch {
			id := byName[n]
			if err != nil {
				id.NotifErr = err
				continue
			}
			if a, ok := out.NotificationAttributes[n]; ok {
				id.Notif = &a
			} else {
				id.NotifErr = errors.New("GetIdentityNotificationAttributes returned nothing for " + n)
			}
		}
	}
	for _, id := range s.Identities {
		if id.Err != nil {
			continue
		}
		id.DMARC = lookupDMARC(ctx, c.DNS, id.Domain)
		if id.Out.MailFromAttributes != nil && aws.ToString(id.Out.MailFromAttributes.MailFromDomain) != "" {
			name := aws.ToString(id.Out.MailFromAttributes.MailFromDomain)
			recs, err := c.DNS.LookupTXT(ctx, name)
			id.SPF = TXT{Name: name, Records: recs, Err: err}
		}
	}
}

// lookupDMARC asks _dmarc.DOMAIN, then the parent domain's record that
// receivers fall back to (the last two labels: a good enough organizational
// domain for a hint, not the public-suffix list).
func lookupDMARC(ctx context.Context, r Resolver, domain string) TXT {
	t := TXT{Name: "_dmarc." + domain}
	t.Records, t.Err = r.LookupTXT(ctx, t.Name)
	if hasPrefixed(t.Records, "v=DMARC1") {
		return t
	}
	labels := strings.Split(domain, ".")
	if len(labels) > 2 {
		org := TXT{Name: "_dmarc." + strings.Join(labels[len(labels)-2:], ".")}
		org.Records, org.Err = r.LookupTXT(ctx, org.Name)
		if hasPrefixed(org.Records, "v=DMARC1") {
			return org
		}
	}
	return t
}

func gatherConfigSets(ctx context.Context, c Clients, s *Snapshot, o Options) {
	type named struct{ name, source string }
	var want []named
	if o.ConfigurationSet != "" {
		want = append(want, named{o.ConfigurationSet, "--configuration-set"})
	}
	if s.Stack != nil && s.Stack.Found && s.Stack.Outputs[OutConfigurationSet] != "" {
		want = append(want, named{s.Stack.Outputs[OutConfigurationSet], "stack " + s.Stack.Name})
	}
	for _, id := range s.Identities {
		if id.Err == nil && aws.ToString(id.Out.ConfigurationSetName) != "" {
			want = append(want, named{aws.ToString(id.Out.ConfigurationSetName), "default of " + id.Name})
		}
	}
	if len(want) == 0 {
		var next *string
		for {
			out, err := c.SESv2.ListConfigurationSets(ctx, &sesv2.ListConfigurationSetsInput{NextToken: next})
			if err != nil {
				break // nothing named, nothing listed: the checks have no subject
			}
			for _, n := range out.ConfigurationSets {
				want = append(want, named{n, "listed"})
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			next = out.NextToken
		}
	}
	seen := map[string]bool{}
	for _, w := range want {
		if seen[w.name] {
			continue
		}
		seen[w.name] = true
		cs := &ConfigSet{Name: w.name, Source: w.source}
		cs.Out, cs.Err = c.SESv2.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(w.name)})
		if cs.Err == nil {
			d, err := c.SESv2.GetConfigurationSetEventDestinations(ctx, &sesv2.GetConfigurationSetEventDestinationsInput{ConfigurationSetName: aws.String(w.name)})
			if err != nil {
				cs.DestErr = err
			} else {
				cs.Dests = d.EventDestinations
			}
		}
		s.ConfigSets = append(s.ConfigSets, cs)
	}
}

func gatherTopics(ctx context.Context, cl ClientsFor, s *Snapshot, o Options) {
	byARN := map[string]*Topic{}
	add := func(arn, user string) *Topic {
		t, ok := byARN[arn]
		if !ok {
			t = &Topic{ARN: arn}
			byARN[arn] = t
			s.Topics = append(s.Topics, t)
		}
		if user != "" && !slices.Contains(t.Users, user) {
			t.Users = append(t.Users, user)
		}
		return t
	}
	for _, cs := range s.ConfigSets {
		for _, d := range cs.Dests {
			if d.SnsDestination != nil && aws.ToString(d.SnsDestination.TopicArn) != "" {
				add(aws.ToString(d.SnsDestination.TopicArn), "configuration-set/"+cs.Name)
			}
		}
	}
	for _, id := range s.Identities {
		for _, n := range []*Identity{id, id.Parent} {
			if n == nil || n.Notif == nil {
				continue
			}
			for kind, arn := range map[string]*string{"Bounce": n.Notif.BounceTopic, "Complaint": n.Notif.ComplaintTopic} {
				if aws.ToString(arn) != "" {
					add(aws.ToString(arn), "identity/"+n.Name+" ("+kind+")")
				}
			}
		}
	}
	if s.Stack != nil && s.Stack.Found && s.Stack.Outputs[OutSesEventsTopic] != "" {
		add(s.Stack.Outputs[OutSesEventsTopic], "").StackOwn = true
	}
	for _, t := range s.Topics {
		slices.Sort(t.Users)
		c := cl(arnRegion(t.ARN, s.Region))
		out, err := c.SNS.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(t.ARN)})
		if err != nil {
			t.Err = err
			continue
		}
		t.Attrs = out.Attributes
		if k := t.Attrs["KmsMasterKeyId"]; k != "" && !isAWSManagedSNSAlias(k) {
			kd, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k)})
			if err != nil {
				t.KeyErr = err
			} else {
				t.Key = kd.KeyMetadata
			}
		}
		var next *string
		for {
			ls, err := c.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(t.ARN), NextToken: next})
			if err != nil {
				t.SubsErr = err
				break
			}
			for _, sub := range ls.Subscriptions {
				t.Subs = append(t.Subs, &Subscription{ARN: aws.ToString(sub.SubscriptionArn), Protocol: aws.ToString(sub.Protocol),
					Endpoint: aws.ToString(sub.Endpoint), Topic: t.ARN})
			}
			if aws.ToString(ls.NextToken) == "" {
				break
			}
			next = ls.NextToken
		}
		t.Published, t.Failed, t.MetricsErr = topicDeliveries(ctx, c, t.ARN, o.Now())
		for _, sub := range t.Subs {
			if sub.ARN == "PendingConfirmation" || sub.ARN == "Deleted" {
				continue // no ARN to ask about until confirmed
			}
			a, err := c.SNS.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(sub.ARN)})
			if err != nil {
				sub.Err = err
			} else {
				sub.Attrs = a.Attributes
			}
			if sub.Protocol == "lambda" {
				p, err := cl(arnRegion(sub.Endpoint, s.Region)).Lambda.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(sub.Endpoint)})
				if err != nil {
					sub.LambdaErr = err
				} else {
					sub.LambdaPolicy = aws.ToString(p.Policy)
				}
			}
			if sub.Protocol == "sqs" {
				qc := cl(arnRegion(sub.Endpoint, s.Region))
				name, owner := arnResource(sub.Endpoint), arnAccount(sub.Endpoint)
				in := &sqs.GetQueueUrlInput{QueueName: aws.String(name)}
				if owner != "" {
					in.QueueOwnerAWSAccountId = aws.String(owner)
				}
				u, err := qc.SQS.GetQueueUrl(ctx, in)
				if err != nil {
					sub.QueueErr = err
					continue
				}
				sub.QueueURL = aws.ToString(u.QueueUrl)
				qa, err := qc.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: u.QueueUrl,
					AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
				if err != nil {
					sub.QueueErr = err
				} else {
					sub.Queue = qa.Attributes
				}
			}
		}
	}
}

func gatherCoverage(ctx context.Context, c Clients, s *Snapshot, o Options) *Coverage {
	cov := &Coverage{ConfigSet: s.Stack.Outputs[OutConfigurationSet], Namespace: s.Stack.Params[ParamMetricsNamespace]}
	if cov.Namespace == "" {
		cov.Namespace = metrics.DefaultNamespace
	}
	end := o.Now().Truncate(time.Minute)
	q := func(id, ns, name string, dims []cwtypes.Dimension) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: dims},
			Period: aws.Int32(86400), Stat: aws.String("Sum")}}
	}
	out, err := c.CloudWatch.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(end.Add(-24 * time.Hour)), EndTime: aws.Time(end),
		MetricDataQueries: []cwtypes.MetricDataQuery{
			q("ses", metrics.SESNamespace, SESSendMetric, nil),
			q("ours", cov.Namespace, string(metrics.Sends), []cwtypes.Dimension{
				{Name: aws.String(string(metrics.DimScopeType)), Value: aws.String(metrics.ScopeConfigurationSet)},
				{Name: aws.String(string(metrics.DimScope)), Value: aws.String(cov.ConfigSet)}}),
		}})
	if err != nil {
		cov.Err = err
		return cov
	}
	for _, r := range out.MetricDataResults {
		sum := 0.0
		for _, v := range r.Values {
			sum += v
		}
		switch aws.ToString(r.Id) {
		case "ses":
			cov.SES = sum
		case "ours":
			cov.Ours = sum
		}
	}
	return cov
}

// topicDeliveries sums a topic's published messages and failed deliveries
// over the day before now (AWS/SNS, by TopicName).
func topicDeliveries(ctx context.Context, c Clients, arn string, now time.Time) (published, failed float64, err error) {
	end := now.Truncate(time.Minute)
	dims := []cwtypes.Dimension{{Name: aws.String("TopicName"), Value: aws.String(arnResource(arn))}}
	q := func(id, name string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(SNSNamespace), MetricName: aws.String(name), Dimensions: dims},
			Period: aws.Int32(86400), Stat: aws.String("Sum")}}
	}
	out, err := c.CloudWatch.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(end.Add(-24 * time.Hour)), EndTime: aws.Time(end),
		MetricDataQueries: []cwtypes.MetricDataQuery{q("published", "NumberOfMessagesPublished"), q("failed", "NumberOfNotificationsFailed")}})
	if err != nil {
		return 0, 0, err
	}
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			if aws.ToString(r.Id) == "published" {
				published += v
			} else {
				failed += v
			}
		}
	}
	return published, failed, nil
}

// SNSNamespace is SNS's CloudWatch namespace.
const SNSNamespace = "AWS/SNS"

// SESSendMetric is SES's account-wide count of sends (namespace AWS/SES).
const SESSendMetric = "Send"

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func hasPrefixed(recs []string, prefix string) bool {
	for _, r := range recs {
		if strings.HasPrefix(strings.TrimSpace(r), prefix) {
			return true
		}
	}
	return false
}

// arnRegion is the Region field of an ARN, or def.
func arnRegion(arn, def string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) == 6 && p[3] != "" {
		return p[3]
	}
	return def
}

func arnAccount(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) == 6 {
		return p[4]
	}
	return ""
}

func arnResource(arn string) string {
	p := strings.SplitN(arn, ":", 6)
	if len(p) == 6 {
		return p[5]
	}
	return arn
}

func isAWSManagedSNSAlias(k string) bool {
	return k == "alias/aws/sns" || strings.HasSuffix(k, ":alias/aws/sns")
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	switch errCode(err) {
	case "NotFoundException", "NotFound", "ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NotFoundException.Topic":
		return true
	case "ValidationError":
		return strings.Contains(err.Error(), "does not exist")
	}
	return false
}

func isAccessDenied(err error) bool {
	switch errCode(err) {
	case "AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation", "AuthorizationErrorException":
		return true
	}
	return false
}
