package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
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
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// world is a fake AWS account behind every doctor interface; each call is
// recorded under its IAM action.
type world struct {
	mu    sync.Mutex
	calls map[string]int

	account    map[string]*sesv2.GetAccountOutput
	identities map[string]map[string]*sesv2.GetEmailIdentityOutput
	notif      map[string]map[string]sestypes.IdentityNotificationAttributes
	configSets map[string]map[string]*sesv2.GetConfigurationSetOutput
	dests      map[string]map[string][]sesv2types.EventDestination
	topics     map[string]map[string]string
	subs       map[string][]snstypes.Subscription
	subAttrs   map[string]map[string]string
	keys       map[string]*kmstypes.KeyMetadata
	queues     map[string]map[string]string // URL → attributes
	stacks     map[string]*cftypes.Stack    // Region →
	esms       map[string][]lambdatypes.EventSourceMappingConfiguration
	fnPolicy   map[string]string // function ARN → resource policy
	alarms     []cwtypes.MetricAlarm
	sesSends   float64
	ourSends   float64
	snsFailed  float64
	dns        map[string][]string
	dnsErr     error           // every lookup fails with it
	denied     map[string]bool // IAM actions answered AccessDenied
}

const (
	acct      = "123456789012"
	region    = "us-east-1"
	topicARN  = "arn:aws:sns:us-east-1:123456789012:sesguard-SesEventsTopic-ABC"
	failARN   = "arn:aws:sns:us-east-1:123456789012:sesguard-SendFailuresTopic-ABC"
	queueARN1 = "arn:aws:sqs:us-east-1:123456789012:sesguard-BouncewatchQueue-ABC"
	queueURL1 = "https://sqs.us-east-1.amazonaws.com/123456789012/sesguard-BouncewatchQueue-ABC"
	tdlqURL   = "https://sqs.us-east-1.amazonaws.com/123456789012/sesguard-TriageDeadLetterQueue-ABC"
	bdlqURL   = "https://sqs.us-east-1.amazonaws.com/123456789012/sesguard-BouncewatchDeadLetterQueue-ABC"
	triageFn  = "sesguard-TriageFunction-ABC"
	bwFn      = "sesguard-BouncewatchFunction-ABC"
	subTriage = topicARN + ":11111111-1111-1111-1111-111111111111"
	subQueue  = topicARN + ":22222222-2222-2222-2222-222222222222"
)

// healthy is a correctly wired account with sesguard's stack in us-east-1.
func healthy() *world {
	dkim := &sesv2types.DkimAttributes{Status: sesv2types.DkimStatusSuccess, SigningEnabled: true}
	mailFrom := &sesv2types.MailFromAttributes{MailFromDomain: aws.String("mail.example.com"), MailFromDomainStatus: sesv2types.MailFromDomainStatusSuccess,
		BehaviorOnMxFailure: sesv2types.BehaviorOnMxFailureUseDefaultValue}
	allTypes := []sesv2types.EventType{"SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY", "RENDERING_FAILURE"}
	out := func(k, v string) cftypes.Output {
		return cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)}
	}
	return &world{
		calls: map[string]int{},
		account: map[string]*sesv2.GetAccountOutput{region: {ProductionAccessEnabled: true, SendingEnabled: true,
			EnforcementStatus: aws.String("HEALTHY")}},
		identities: map[string]map[string]*sesv2.GetEmailIdentityOutput{region: {
			"example.com": {IdentityType: sesv2types.IdentityTypeDomain, VerificationStatus: sesv2types.VerificationStatusSuccess, VerifiedForSendingStatus: true,
				DkimAttributes: dkim, MailFromAttributes: mailFrom, ConfigurationSetName: aws.String("sesguard")},
			"noreply@example.com": {IdentityType: sesv2types.IdentityTypeEmailAddress, VerificationStatus: sesv2types.VerificationStatusSuccess, VerifiedForSendingStatus: true,
				DkimAttributes: dkim, ConfigurationSetName: aws.String("sesguard")},
		}},
		notif: map[string]map[string]sestypes.IdentityNotificationAttributes{region: {
			"example.com":         {ForwardingEnabled: false},
			"noreply@example.com": {ForwardingEnabled: false},
		}},
		configSets: map[string]map[string]*sesv2.GetConfigurationSetOutput{region: {
			"sesguard": {ConfigurationSetName: aws.String("sesguard"), SendingOptions: &sesv2types.SendingOptions{SendingEnabled: true}},
		}},
		dests: map[string]map[string][]sesv2types.EventDestination{region: {
			"sesguard": {{Name: aws.String("sesguard-sns"), Enabled: true, MatchingEventTypes: allTypes,
				SnsDestination: &sesv2types.SnsDestination{TopicArn: aws.String(topicARN)}}},
		}},
		topics: map[string]map[string]string{
			topicARN: {"TopicArn": topicARN, "Policy": SESTopicPolicy(topicARN, acct, region, "sesguard")},
			failARN:  {"TopicArn": failARN},
		},
		subs: map[string][]snstypes.Subscription{
			topicARN: {
				{SubscriptionArn: aws.String(subTriage), Protocol: aws.String("lambda"), Endpoint: aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + triageFn), TopicArn: aws.String(topicARN)},
				{SubscriptionArn: aws.String(subQueue), Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN1), TopicArn: aws.String(topicARN)},
			},
		},
		subAttrs: map[string]map[string]string{
			subTriage: {"PendingConfirmation": "false"},
			subQueue:  {"PendingConfirmation": "false", "RawMessageDelivery": "false"},
		},
		keys: map[string]*kmstypes.KeyMetadata{},
		queues: map[string]map[string]string{
			queueURL1: {"QueueArn": queueARN1, "Policy": SNSQueuePolicy(queueARN1, topicARN), "SqsManagedSseEnabled": "true"},
			tdlqURL:   {"ApproximateNumberOfMessages": "0"},
			bdlqURL:   {"ApproximateNumberOfMessages": "0"},
		},
		stacks: map[string]*cftypes.Stack{region: {StackName: aws.String("sesguard"), StackStatus: cftypes.StackStatusUpdateComplete,
			Outputs: []cftypes.Output{out(OutSesEventsTopic, topicARN), out(OutSendFailuresTopic, failARN), out(OutConfigurationSet, "sesguard"),
				out(OutTriageFunction, triageFn), out(OutBouncewatchFunc, bwFn), out(OutTriageDLQ, tdlqURL), out(OutBouncewatchDLQ, bdlqURL)},
			Parameters: []cftypes.Parameter{{ParameterKey: aws.String(ParamMetricsNamespace), ParameterValue: aws.String("SESGuard")}}}},
		fnPolicy: map[string]string{"arn:aws:lambda:us-east-1:123456789012:function:" + triageFn: `{"Version":"2012-10-17","Statement":[{"Sid":"sns","Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:` + triageFn + `","Condition":{"ArnLike":{"AWS:SourceArn":"` + topicARN + `"}}}]}`},
		esms: map[string][]lambdatypes.EventSourceMappingConfiguration{bwFn: {{UUID: aws.String("esm-1"), EventSourceArn: aws.String(queueARN1),
			FunctionArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + bwFn), State: aws.String("Enabled")}}},
		alarms: []cwtypes.MetricAlarm{{AlarmName: aws.String("sesguard-BounceRateAlarm-X"), StateValue: cwtypes.StateValueOk},
			{AlarmName: aws.String("sesguard-TriageErrorsAlarm-X"), StateValue: cwtypes.StateValueInsufficientData}},
		sesSends: 1000, ourSends: 990,
		dns: map[string][]string{
			"_dmarc.example.com": {"v=DMARC1; p=quarantine; rua=mailto:d@example.com"},
			"mail.example.com":   {"v=spf1 include:amazonses.com ~all"},
		},
		denied: map[string]bool{},
	}
}

func (w *world) clients(r string) Clients {
	f := &fake{w: w, region: r}
	return Clients{SESv2: f, SESv1: f, SNS: f, KMS: f, SQS: f, CFN: f, Lambda: f, CloudWatch: f, DNS: f}
}

func (w *world) actions() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for a := range w.calls {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

type fake struct {
	w      *world
	region string
}

func notFound(what string) error {
	return &smithy.GenericAPIError{Code: "NotFoundException", Message: what + " does not exist"}
}

func (f *fake) call(action string) error {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	if action != "" {
		f.w.calls[action]++
	}
	if f.w.denied[action] {
		return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform " + action}
	}
	return nil
}

func (f *fake) GetAccount(ctx context.Context, in *sesv2.GetAccountInput, _ ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	if err := f.call("ses:GetAccount"); err != nil {
		return nil, err
	}
	a, ok := f.w.account[f.region]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "Region not enabled"}
	}
	return a, nil
}

func (f *fake) ListEmailIdentities(ctx context.Context, in *sesv2.ListEmailIdentitiesInput, _ ...func(*sesv2.Options)) (*sesv2.ListEmailIdentitiesOutput, error) {
	if err := f.call("ses:ListEmailIdentities"); err != nil {
		return nil, err
	}
	var names []string
	for n := range f.w.identities[f.region] {
		names = append(names, n)
	}
	sort.Strings(names)
	out := &sesv2.ListEmailIdentitiesOutput{}
	for _, n := range names {
		out.EmailIdentities = append(out.EmailIdentities, sesv2types.IdentityInfo{IdentityName: aws.String(n)})
	}
	return out, nil
}

func (f *fake) GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, _ ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	if err := f.call("ses:GetEmailIdentity"); err != nil {
		return nil, err
	}
	if o, ok := f.w.identities[f.region][aws.ToString(in.EmailIdentity)]; ok {
		return o, nil
	}
	return nil, notFound("identity " + aws.ToString(in.EmailIdentity))
}

func (f *fake) ListConfigurationSets(ctx context.Context, in *sesv2.ListConfigurationSetsInput, _ ...func(*sesv2.Options)) (*sesv2.ListConfigurationSetsOutput, error) {
	if err := f.call("ses:ListConfigurationSets"); err != nil {
		return nil, err
	}
	out := &sesv2.ListConfigurationSetsOutput{}
	for n := range f.w.configSets[f.region] {
		out.ConfigurationSets = append(out.ConfigurationSets, n)
	}
	sort.Strings(out.ConfigurationSets)
	return out, nil
}

func (f *fake) GetConfigurationSet(ctx context.Context, in *sesv2.GetConfigurationSetInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error) {
	if err := f.call("ses:GetConfigurationSet"); err != nil {
		return nil, err
	}
	if o, ok := f.w.configSets[f.region][aws.ToString(in.ConfigurationSetName)]; ok {
		return o, nil
	}
	return nil, notFound("configuration set " + aws.ToString(in.ConfigurationSetName))
}

func (f *fake) GetConfigurationSetEventDestinations(ctx context.Context, in *sesv2.GetConfigurationSetEventDestinationsInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetEventDestinationsOutput, error) {
	if err := f.call("ses:GetConfigurationSetEventDestinations"); err != nil {
		return nil, err
	}
	return &sesv2.GetConfigurationSetEventDestinationsOutput{EventDestinations: f.w.dests[f.region][aws.ToString(in.ConfigurationSetName)]}, nil
}

func (f *fake) GetIdentityNotificationAttributes(ctx context.Context, in *ses.GetIdentityNotificationAttributesInput, _ ...func(*ses.Options)) (*ses.GetIdentityNotificationAttributesOutput, error) {
	if err := f.call("ses:GetIdentityNotificationAttributes"); err != nil {
		return nil, err
	}
	out := &ses.GetIdentityNotificationAttributesOutput{NotificationAttributes: map[string]sestypes.IdentityNotificationAttributes{}}
	for _, n := range in.Identities {
		if a, ok := f.w.notif[f.region][n]; ok {
			out.NotificationAttributes[n] = a
		}
	}
	return out, nil
}

func (f *fake) GetTopicAttributes(ctx context.Context, in *sns.GetTopicAttributesInput, _ ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error) {
	if err := f.call("sns:GetTopicAttributes"); err != nil {
		return nil, err
	}
	a, ok := f.w.topics[aws.ToString(in.TopicArn)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound", Message: "Topic does not exist"}
	}
	return &sns.GetTopicAttributesOutput{Attributes: a}, nil
}

func (f *fake) ListSubscriptionsByTopic(ctx context.Context, in *sns.ListSubscriptionsByTopicInput, _ ...func(*sns.Options)) (*sns.ListSubscriptionsByTopicOutput, error) {
	if err := f.call("sns:ListSubscriptionsByTopic"); err != nil {
		return nil, err
	}
	return &sns.ListSubscriptionsByTopicOutput{Subscriptions: f.w.subs[aws.ToString(in.TopicArn)]}, nil
}

func (f *fake) GetSubscriptionAttributes(ctx context.Context, in *sns.GetSubscriptionAttributesInput, _ ...func(*sns.Options)) (*sns.GetSubscriptionAttributesOutput, error) {
	if err := f.call("sns:GetSubscriptionAttributes"); err != nil {
		return nil, err
	}
	a, ok := f.w.subAttrs[aws.ToString(in.SubscriptionArn)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound", Message: "Subscription does not exist"}
	}
	return &sns.GetSubscriptionAttributesOutput{Attributes: a}, nil
}

func (f *fake) DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	if err := f.call("kms:DescribeKey"); err != nil {
		return nil, err
	}
	k, ok := f.w.keys[aws.ToString(in.KeyId)]
	if !ok {
		return nil, notFound("key " + aws.ToString(in.KeyId))
	}
	return &kms.DescribeKeyOutput{KeyMetadata: k}, nil
}

func (f *fake) GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	if err := f.call("sqs:GetQueueUrl"); err != nil {
		return nil, err
	}
	for u := range f.w.queues {
		if strings.HasSuffix(u, "/"+aws.ToString(in.QueueName)) {
			return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(u)}, nil
		}
	}
	return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "queue does not exist"}
}

func (f *fake) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	if err := f.call("sqs:GetQueueAttributes"); err != nil {
		return nil, err
	}
	a, ok := f.w.queues[aws.ToString(in.QueueUrl)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "queue does not exist"}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: a}, nil
}

func (f *fake) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if err := f.call("cloudformation:DescribeStacks"); err != nil {
		return nil, err
	}
	st, ok := f.w.stacks[f.region]
	if !ok || aws.ToString(st.StackName) != aws.ToString(in.StackName) {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{*st}}, nil
}

func (f *fake) ListEventSourceMappings(ctx context.Context, in *lambda.ListEventSourceMappingsInput, _ ...func(*lambda.Options)) (*lambda.ListEventSourceMappingsOutput, error) {
	if err := f.call("lambda:ListEventSourceMappings"); err != nil {
		return nil, err
	}
	return &lambda.ListEventSourceMappingsOutput{EventSourceMappings: f.w.esms[aws.ToString(in.FunctionName)]}, nil
}

func (f *fake) GetPolicy(ctx context.Context, in *lambda.GetPolicyInput, _ ...func(*lambda.Options)) (*lambda.GetPolicyOutput, error) {
	if err := f.call("lambda:GetPolicy"); err != nil {
		return nil, err
	}
	p, ok := f.w.fnPolicy[aws.ToString(in.FunctionName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "The resource you requested does not exist."}
	}
	return &lambda.GetPolicyOutput{Policy: aws.String(p)}, nil
}

func (f *fake) DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error) {
	if err := f.call("cloudwatch:DescribeAlarms"); err != nil {
		return nil, err
	}
	out := &cloudwatch.DescribeAlarmsOutput{}
	for _, a := range f.w.alarms {
		if strings.HasPrefix(aws.ToString(a.AlarmName), aws.ToString(in.AlarmNamePrefix)) {
			out.MetricAlarms = append(out.MetricAlarms, a)
		}
	}
	return out, nil
}

func (f *fake) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	if err := f.call("cloudwatch:GetMetricData"); err != nil {
		return nil, err
	}
	out := &cloudwatch.GetMetricDataOutput{}
	for _, q := range in.MetricDataQueries {
		v := f.w.ourSends
		switch {
		case aws.ToString(q.MetricStat.Metric.Namespace) == "AWS/SES":
			v = f.w.sesSends
		case aws.ToString(q.MetricStat.Metric.Namespace) == "AWS/SNS" && aws.ToString(q.Id) == "published":
			v = f.w.sesSends
		case aws.ToString(q.MetricStat.Metric.Namespace) == "AWS/SNS":
			v = f.w.snsFailed
		}
		out.MetricDataResults = append(out.MetricDataResults, cwtypes.MetricDataResult{Id: q.Id, Values: []float64{v}})
	}
	return out, nil
}

func (f *fake) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if f.w.dnsErr != nil {
		return nil, f.w.dnsErr
	}
	if r, ok := f.w.dns[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", name)
}
