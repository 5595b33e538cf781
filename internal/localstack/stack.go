// Package localstack runs sesguard's whole stack on this machine: the kumo
// emulator in-process, the topics, queues and subscriptions exactly as
// template.yaml declares them, both real bootstrap binaries each run by the
// Lambda Runtime Interface Emulator (one execution environment per
// function), a poller standing in for Lambda's event sources, a
// local SES v2 answering from account facts, and a Slack webhook receiver.
//
// Where the local pipeline differs from AWS, and why:
//   - SNS→Lambda subscriptions become SNS→SQS→poller→Invoke: kumo's own
//     SNS→Lambda delivery posts to a port fixed at its package init. The
//     stand-in queue plays Lambda's internal queue of asynchronous events:
//     the poller invokes the function with one SNS record per invocation,
//     as SNS does, retries a function error up to the function's
//     EventInvokeConfig MaximumRetryAttempts (at once, not after Lambda's
//     one and two minutes) and then sends the event to its OnFailure
//     destination and DeadLetterQueue. It applies the subscription's
//     FilterPolicy itself, since kumo matches policies on message
//     attributes only and the template's policy is on the message body.
//     The subscriptions' own RedrivePolicy (SNS failing to hand an event
//     to Lambda at all) has nothing to act on locally.
//   - SQS event sources are the poller too, in batches with partial batch
//     responses; kumo applies the queue's RedrivePolicy on receive. The
//     poller applies the body FilterPolicy of an SNS→SQS subscription
//     (kumo would match it on attributes) to what that topic delivered.
//   - DynamoDB tables (the state table) are kumo's, with package state's
//     schema.
//   - The schedule is a simulated clock: the caller invokes the function
//     with the template's Schedule Input whenever simulated time says so.
//   - SES v2 is SESFake (see there); everything else is kumo, CloudWatch
//     through kumocw (kumo cannot decode a datum's timestamp, which
//     bouncewatch's counts and evaluations carry).
//   - Replay moves the scenario to the last whole day before now:
//     CloudWatch takes datum timestamps from two weeks back to two hours
//     ahead of its clock, and bouncewatch keeps its stamps in that range
//     by the wall clock it runs on.
//   - Each function runs Options.Environments execution environments (one
//     by default), each its own Runtime Interface Emulator and bootstrap
//     running one invocation at a time; the poller spreads invocations over
//     them round robin, where Lambda would scale out on demand, and
//     delivers a seeded share of messages twice, to different
//     environments, as SNS and SQS may.
//     The emulator counts init inside the first invocation's timeout
//     (Lambda gives init its own 10 s), answers a bootstrap that died
//     between invocations with Runtime.ExitError on the next one (then
//     starts a fresh one), and shows the function a fixed ARN in account
//     012345678912, us-east-1.
package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/kumocw"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/stack"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/pkg/ruleset"
)

// Account is the emulated account ID.
const Account = "000000000000"

// Options configures Up.
type Options struct {
	// Template is template.yaml's content.
	Template []byte
	// Params are template parameter values (the rest take their Default).
	// SlackWebhookSecretArn is set by Up.
	Params map[string]string
	// Bootstraps maps a function's logical ID to its bootstrap binary.
	Bootstraps map[string]string
	// Env overrides function environment variables, by logical ID.
	Env map[string]map[string]string
	// Region is the functions' Region (default us-east-1).
	Region string
	// Facts feed the local SES v2 (nil: unknown).
	Facts *ruleset.Facts
	// Logs receives the bootstraps' output (nil: discarded).
	Logs io.Writer
	// RIE is the Runtime Interface Emulator binary (Build's RIE) that runs
	// the bootstraps.
	RIE string
	// Environments is the number of execution environments each function
	// runs (0: one).
	Environments int
	// Redeliver is the share of the messages each source's function
	// processed that it is given a second time, on another environment
	// (SNS and SQS deliver at least once); Seed picks which.
	Redeliver float64
	Seed      int64
	// WiringOnly creates every resource and event source but starts no
	// bootstrap (Bootstraps' paths are not read): sesguard doctor's
	// mis-wiring runs only read the wiring.
	WiringOnly bool
}

// Queue is a created SQS queue.
type Queue struct {
	LogicalID, URL, ARN string
	// DLQ is the logical ID of its dead-letter queue ("" if none), where
	// a message received more than MaxReceiveCount times goes.
	DLQ             string
	MaxReceiveCount int
	// Topic is the logical ID of the topic subscribed to it ("" if none);
	// Topics all of them, when several are (triage's queue).
	Topic  string
	Topics []string
	// Filters are the body FilterPolicy of subscriptions to it, by topic
	// ARN: kumo matches policies on message attributes only, so the
	// poller applies them (a topic without one passes everything).
	Filters map[string]stack.FilterPolicy
}

// Schedule is a Schedule event of a function.
type Schedule struct {
	Function   *Function
	Name       string
	Expression string
	Input      string // "" when EventBridge's own event is sent
}

// Stack is the running local stack.
type Stack struct {
	Kumo   *kumo.Server
	AWS    aws.Config
	SNS    *sns.Client
	SQS    *sqs.Client
	CW     *cloudwatch.Client
	SES    *SESFake
	Slack  *SlackReceiver
	Region string

	Topics    map[string]string // logical ID → ARN
	Tables    map[string]string // logical ID → DynamoDB table name
	Queues    map[string]*Queue // logical ID → queue (template's and the poller's own)
	Functions map[string]*Function
	Sources   []*Source
	Schedules []Schedule
	// AlertsQueue receives every message published to the alerts topic
	// (a subscriber an operator would add; the demo reads alerts from it).
	AlertsQueue *Queue
	// Skipped lists template wiring the local stack does not emulate.
	Skipped []string
	// Params are the parameter values used.
	Params map[string]string
	// Redeliver and Seed are Options'.
	Redeliver float64
	Seed      int64

	sesSrv *httptest.Server
	cwSrv  *httptest.Server // kumocw in front of kumo's CloudWatch
	http   *http.Client
	rie    string
	prefix string // of every resource name, unique in this process
}

// stacks numbers the stacks of this process: kumo keeps its resources in a
// process-wide registry, so a second stack must not reuse the first one's
// names (CreateQueue would hand back the first stack's queue).
var stacks atomic.Int64

// Up starts everything. Close it when done, even after an error.
func Up(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	s = &Stack{Region: o.Region, Redeliver: o.Redeliver, Seed: o.Seed, Topics: map[string]string{}, Tables: map[string]string{},
		Queues: map[string]*Queue{}, Functions: map[string]*Function{},
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, prefix: "sesguard-", rie: o.RIE}
	if n := stacks.Add(1); n > 1 {
		s.prefix = fmt.Sprintf("sesguard%d-", n)
	}
	s.Kumo = kumo.NewServer()
	cw, err := kumocw.Handler(s.Kumo.URL)
	if err != nil {
		return s, err
	}
	s.cwSrv = httptest.NewServer(cw)
	s.SES = NewSESFake(o.Facts)
	s.sesSrv = httptest.NewServer(s.SES)
	s.Slack = NewSlackReceiver()
	s.AWS = aws.Config{
		Region:       o.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(s.Kumo.URL),
		HTTPClient:   s.http,
	}
	s.SNS = sns.NewFromConfig(s.AWS)
	s.SQS = sqs.NewFromConfig(s.AWS)
	s.CW = cloudwatch.NewFromConfig(s.AWS, func(o *cloudwatch.Options) { o.BaseEndpoint = aws.String(s.cwSrv.URL) })
	sm := secretsmanager.NewFromConfig(s.AWS)

	// The Slack webhook URL is a secret, as in production.
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("sesguard/slack-webhook-%d", time.Now().UnixNano())),
		SecretString: aws.String(s.Slack.URL())})
	if err != nil {
		return s, fmt.Errorf("create the Slack webhook secret: %w", err)
	}
	params := map[string]string{}
	for k, v := range o.Params {
		params[k] = v
	}
	tmpl, err := stack.Parse(o.Template)
	if err != nil {
		return s, err
	}
	if _, ok := tmpl.Parameters["SlackWebhookSecretArn"]; ok {
		params["SlackWebhookSecretArn"] = aws.ToString(sec.ARN)
	}
	// kumo's CloudWatch is process-wide too: a second stack in the same
	// process gets its own metrics namespace, as it gets its own names.
	if _, ok := tmpl.Parameters["MetricsNamespace"]; ok && params["MetricsNamespace"] == "" && s.prefix != "sesguard-" {
		params["MetricsNamespace"] = metrics.DefaultNamespace + strings.TrimSuffix(strings.TrimPrefix(s.prefix, "sesguard"), "-")
	}
	rt, err := tmpl.Resolve(params)
	if err != nil {
		return s, err
	}
	s.Params = rt.Values
	if err := s.createTopics(ctx, rt); err != nil {
		return s, err
	}
	if err := s.createTables(ctx, rt); err != nil {
		return s, err
	}
	if err := s.createQueues(ctx, rt); err != nil {
		return s, err
	}
	if err := s.createSubscriptions(ctx, rt); err != nil {
		return s, err
	}
	if err := s.createFunctions(ctx, rt, o); err != nil {
		return s, err
	}
	// A subscriber on the alerts topic, to read alerts back.
	if arn, ok := s.Topics["AlertsTopic"]; ok {
		q, err := s.createQueue(ctx, "LocalAlertsCapture", nil)
		if err != nil {
			return s, err
		}
		s.AlertsQueue = q
		if _, err := s.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("sqs"),
			Endpoint: aws.String(q.ARN)}); err != nil {
			return s, fmt.Errorf("subscribe the alerts capture queue: %w", err)
		}
	}
	for _, fn := range s.Functions {
		if o.WiringOnly {
			break
		}
		if err := fn.Start(o.Bootstraps[fn.LogicalID], o.Logs); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Close stops the bootstraps and the servers.
func (s *Stack) Close() {
	for _, fn := range s.Functions {
		fn.Stop()
	}
	if s.Slack != nil {
		s.Slack.Close()
	}
	if s.sesSrv != nil {
		s.sesSrv.Close()
	}
	if s.cwSrv != nil {
		s.cwSrv.Close()
	}
	if s.Kumo != nil {
		s.Kumo.Close()
	}
}

// name is the local name of the resource with logical ID id.
func (s *Stack) name(id string) string { return s.prefix + id }

func (s *Stack) createTopics(ctx context.Context, t *stack.Template) error {
	for _, id := range t.OfType("AWS::SNS::Topic") {
		out, err := s.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(s.name(id))})
		if err != nil {
			return fmt.Errorf("create topic %s: %w", id, err)
		}
		s.Topics[id] = aws.ToString(out.TopicArn)
	}
	return nil
}

func (s *Stack) createQueue(ctx context.Context, id string, attrs map[string]string) (*Queue, error) {
	out, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(s.name(id)), Attributes: attrs})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", id, err)
	}
	q := &Queue{LogicalID: id, URL: aws.ToString(out.QueueUrl)}
	ga, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("queue %s: read its ARN: %w", id, err)
	}
	q.ARN = ga.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	s.Queues[id] = q
	return q, nil
}

// createQueues creates the template's queues, dead-letter queues first, with
// the attributes the template sets.
func (s *Stack) createQueues(ctx context.Context, t *stack.Template) error {
	ids := t.OfType("AWS::SQS::Queue")
	sort.SliceStable(ids, func(i, j int) bool {
		_, ri := t.Resources[ids[i]].Properties["RedrivePolicy"]
		_, rj := t.Resources[ids[j]].Properties["RedrivePolicy"]
		return !ri && rj
	})
	for _, id := range ids {
		props := t.Resources[id].Properties
		attrs := map[string]string{}
		for _, k := range []string{"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"} {
			if v, ok := stack.Number(props[k]); ok {
				attrs[k] = strconv.Itoa(int(v))
			}
		}
		dlq := ""
		if rp, ok := props["RedrivePolicy"].(map[string]any); ok {
			target, _, ok := stack.Target(rp["deadLetterTargetArn"])
			q := s.Queues[target]
			if !ok || q == nil {
				return fmt.Errorf("queue %s: RedrivePolicy names %v, not a queue of the template", id, rp["deadLetterTargetArn"])
			}
			n, ok := stack.Number(rp["maxReceiveCount"])
			if !ok || n < 1 {
				return fmt.Errorf("queue %s: RedrivePolicy maxReceiveCount %v is not a positive number", id, rp["maxReceiveCount"])
			}
			b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.ARN, "maxReceiveCount": strconv.Itoa(int(n))})
			attrs["RedrivePolicy"] = string(b)
			dlq = target
		}
		q, err := s.createQueue(ctx, id, attrs)
		if err != nil {
			return err
		}
		q.DLQ = dlq
		if dlq != "" {
			n, _ := stack.Number(props["RedrivePolicy"].(map[string]any)["maxReceiveCount"])
			q.MaxReceiveCount = int(n)
		}
	}
	return nil
}

func (s *Stack) createSubscriptions(ctx context.Context, t *stack.Template) error {
	for _, id := range t.OfType("AWS::SNS::Subscription") {
		p := t.Resources[id].Properties
		proto, _ := p["Protocol"].(string)
		topicID, _, _ := stack.Target(p["TopicArn"])
		topic, ok := s.Topics[topicID]
		if !ok {
			return fmt.Errorf("subscription %s: TopicArn %v is not a topic of the template", id, p["TopicArn"])
		}
		if proto != "sqs" {
			s.Skipped = append(s.Skipped, fmt.Sprintf("%s (%s subscription)", id, proto))
			continue
		}
		qid, _, _ := stack.Target(p["Endpoint"])
		q, ok := s.Queues[qid]
		if !ok {
			return fmt.Errorf("subscription %s: Endpoint %v is not a queue of the template", id, p["Endpoint"])
		}
		if fp, ok := p["FilterPolicy"]; ok {
			if scope, _ := p["FilterPolicyScope"].(string); scope != "MessageBody" {
				return fmt.Errorf("subscription %s: only FilterPolicyScope MessageBody is emulated", id)
			}
			m, _ := fp.(map[string]any)
			if m == nil {
				return fmt.Errorf("subscription %s: FilterPolicy is not an object", id)
			}
			if err := stack.FilterPolicy(m).Validate(); err != nil {
				return fmt.Errorf("subscription %s: %w", id, err)
			}
			if q.Filters == nil {
				q.Filters = map[string]stack.FilterPolicy{}
			}
			q.Filters[topic] = m
		}
		attrs := map[string]string{}
		if raw, ok := p["RawMessageDelivery"].(bool); ok {
			attrs["RawMessageDelivery"] = strconv.FormatBool(raw)
		}
		if _, err := s.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
			Endpoint: aws.String(q.ARN), Attributes: attrs}); err != nil {
			return fmt.Errorf("subscription %s: %w", id, err)
		}
		q.Topic = topicID
		q.Topics = append(q.Topics, topicID)
	}
	return nil
}

// createTables creates the template's DynamoDB tables in kumo with the
// state table's schema (package state: the only table sesguard has).
func (s *Stack) createTables(ctx context.Context, t *stack.Template) error {
	db := dynamodb.NewFromConfig(s.AWS)
	for _, id := range t.OfType("AWS::DynamoDB::Table") {
		name := s.name(id)
		if err := state.CreateTable(ctx, db, name); err != nil {
			return fmt.Errorf("table %s: %w", id, err)
		}
		s.Tables[id] = name
	}
	return nil
}

func (s *Stack) createFunctions(ctx context.Context, t *stack.Template, o Options) (err error) {
	for _, id := range t.OfType("AWS::Serverless::Function") {
		if _, ok := o.Bootstraps[id]; !ok {
			s.Skipped = append(s.Skipped, id+" (no bootstrap given)")
			continue
		}
		p := t.Resources[id].Properties
		fn := &Function{LogicalID: id, Name: s.name(id), Env: map[string]string{}, Timeout: 3 * time.Second, Memory: 128,
			Environments: max(1, o.Environments), rie: s.rie, client: s.http}
		if v, ok := stack.Number(p["Timeout"]); ok {
			fn.Timeout = time.Duration(v) * time.Second
		}
		if v, ok := stack.Number(p["MemorySize"]); ok {
			fn.Memory = int(v)
		}
		vars, _ := stack.Get(p, "Environment", "Variables")
		vm, _ := vars.(map[string]any)
		for k, v := range vm {
			val, err := s.value(t, v)
			if err != nil {
				return fmt.Errorf("function %s: environment variable %s: %w", id, k, err)
			}
			fn.Env[k] = val
		}
		if lc, ok := p["LoggingConfig"].(map[string]any); ok {
			if f, ok := lc["LogFormat"].(string); ok {
				fn.Env["AWS_LAMBDA_LOG_FORMAT"] = f
			}
			if l, err := s.value(t, lc["ApplicationLogLevel"]); err == nil && l != "" {
				fn.Env["AWS_LAMBDA_LOG_LEVEL"] = l
			}
		}
		for k, v := range o.Env[id] {
			fn.Env[k] = v
		}
		if fn.Async, err = s.asyncConfig(id, p); err != nil {
			return err
		}
		fn.Env["AWS_REGION"] = s.Region
		fn.Env["AWS_DEFAULT_REGION"] = s.Region
		fn.Env["AWS_ACCESS_KEY_ID"] = "local"
		fn.Env["AWS_SECRET_ACCESS_KEY"] = "local"
		fn.Env["AWS_ENDPOINT_URL"] = s.Kumo.URL
		fn.Env["AWS_ENDPOINT_URL_SESV2"] = s.sesSrv.URL
		fn.Env["AWS_ENDPOINT_URL_CLOUDWATCH"] = s.cwSrv.URL
		fn.Env["AWS_EC2_METADATA_DISABLED"] = "true"
		s.Functions[id] = fn

		evs, _ := p["Events"].(map[string]any)
		names := make([]string, 0, len(evs))
		for n := range evs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			ev, _ := evs[name].(map[string]any)
			typ, _ := ev["Type"].(string)
			ep, _ := ev["Properties"].(map[string]any)
			switch typ {
			case "SQS":
				qid, _, _ := stack.Target(ep["Queue"])
				q, ok := s.Queues[qid]
				if !ok {
					return fmt.Errorf("function %s event %s: Queue %v is not a queue of the template", id, name, ep["Queue"])
				}
				batch := 10
				if v, ok := stack.Number(ep["BatchSize"]); ok {
					batch = int(v)
				}
				s.Sources = append(s.Sources, &Source{Function: fn, Event: name, Queue: q, BatchSize: batch, stack: s})
			case "SNS":
				tid, _, _ := stack.Target(ep["Topic"])
				topic, ok := s.Topics[tid]
				if !ok {
					return fmt.Errorf("function %s event %s: Topic %v is not a topic of the template", id, name, ep["Topic"])
				}
				// The stand-in for Lambda's queue of asynchronous events. The
				// poller deletes each message once its invocations are over
				// (processed or sent to the failure destinations), so the
				// queue needs no redrive policy; the visibility timeout only
				// has to outlast one batch's invocations and retries.
				q, err := s.createQueue(ctx, id+"-"+name, map[string]string{"VisibilityTimeout": "43200"})
				if err != nil {
					return err
				}
				q.Topic = tid
				sub, err := s.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"),
					Endpoint: aws.String(q.ARN)})
				if err != nil {
					return fmt.Errorf("function %s event %s: subscribe: %w", id, name, err)
				}
				src := &Source{Function: fn, Event: name, Queue: q, BatchSize: 10, SNS: true,
					SubscriptionARN: aws.ToString(sub.SubscriptionArn), stack: s}
				if fp, ok := ep["FilterPolicy"]; ok {
					scope, _ := ep["FilterPolicyScope"].(string)
					if scope != "MessageBody" {
						return fmt.Errorf("function %s event %s: only FilterPolicyScope MessageBody is emulated", id, name)
					}
					m, _ := fp.(map[string]any)
					if m == nil {
						return fmt.Errorf("function %s event %s: FilterPolicy is not an object", id, name)
					}
					if err := stack.FilterPolicy(m).Validate(); err != nil {
						return fmt.Errorf("function %s event %s: %w", id, name, err)
					}
					src.Filter = m
				}
				s.Sources = append(s.Sources, src)
			case "Schedule":
				expr, _ := s.value(t, ep["Schedule"])
				input, _ := ep["Input"].(string)
				s.Schedules = append(s.Schedules, Schedule{Function: fn, Name: name, Expression: expr, Input: input})
			default:
				s.Skipped = append(s.Skipped, fmt.Sprintf("%s event %s (%s)", id, name, typ))
			}
		}
	}
	return nil
}

// asyncConfig reads how Lambda treats the function's failed asynchronous
// invocations: EventInvokeConfig's MaximumRetryAttempts (Lambda's default
// when absent) and OnFailure destination, and the DeadLetterQueue
// property. Only SQS queues of the template are emulated as destinations.
// MaximumEventAgeInSeconds has nothing to act on: local retries are
// immediate.
func (s *Stack) asyncConfig(id string, p map[string]any) (AsyncConfig, error) {
	c := AsyncConfig{MaxRetryAttempts: DefaultMaxRetryAttempts}
	queue := func(what string, v any) (*Queue, error) {
		qid, _, ok := stack.Target(v)
		q := s.Queues[qid]
		if !ok || q == nil {
			return nil, fmt.Errorf("function %s: %s %v is not a queue of the template (only SQS destinations are emulated)", id, what, v)
		}
		return q, nil
	}
	if v, ok := stack.Get(p, "EventInvokeConfig", "MaximumRetryAttempts"); ok {
		n, ok := stack.Number(v)
		if !ok || n < 0 || n > 2 {
			return c, fmt.Errorf("function %s: EventInvokeConfig MaximumRetryAttempts %v is not 0, 1 or 2", id, v)
		}
		c.MaxRetryAttempts = int(n)
	}
	if d, ok := stack.Get(p, "EventInvokeConfig", "DestinationConfig", "OnFailure"); ok {
		if typ, _ := stack.Get(d, "Type"); typ != "SQS" {
			return c, fmt.Errorf("function %s: EventInvokeConfig OnFailure Type %v: only SQS is emulated", id, typ)
		}
		dest, _ := stack.Get(d, "Destination")
		q, err := queue("EventInvokeConfig OnFailure Destination", dest)
		if err != nil {
			return c, err
		}
		c.OnFailure = q
	}
	if d, ok := p["DeadLetterQueue"]; ok {
		if typ, _ := stack.Get(d, "Type"); typ != "SQS" {
			return c, fmt.Errorf("function %s: DeadLetterQueue Type %v: only SQS is emulated", id, typ)
		}
		target, _ := stack.Get(d, "TargetArn")
		q, err := queue("DeadLetterQueue TargetArn", target)
		if err != nil {
			return c, err
		}
		c.DeadLetter = q
	}
	return c, nil
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:._]+)\}`)

// value resolves an environment value: a literal, a Ref to a parameter,
// topic or queue, a GetAtt of a queue's Arn, or a Fn::Sub over parameters
// and pseudo parameters.
func (s *Stack) value(t *stack.Template, v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64, bool:
		return fmt.Sprint(x), nil
	}
	if id, attr, ok := stack.Target(v); ok {
		return s.ref(t, id, attr)
	}
	if m, ok := v.(map[string]any); ok {
		if sub, ok := m["Fn::Sub"].(string); ok {
			var err error
			out := subVar.ReplaceAllStringFunc(sub, func(tok string) string {
				name := subVar.FindStringSubmatch(tok)[1]
				id, attr, _ := strings.Cut(name, ".")
				r, e := s.ref(t, id, attr)
				if e != nil {
					err = e
				}
				return r
			})
			return out, err
		}
	}
	return "", fmt.Errorf("cannot resolve %v locally", v)
}

func (s *Stack) ref(t *stack.Template, id, attr string) (string, error) {
	switch id {
	case "AWS::Region":
		return s.Region, nil
	case "AWS::AccountId":
		return Account, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::StackName":
		return "sesguard-local", nil
	}
	if v, ok := t.Values[id]; ok && attr == "" {
		return v, nil
	}
	if arn, ok := s.Topics[id]; ok {
		return arn, nil
	}
	if name, ok := s.Tables[id]; ok && attr == "" {
		return name, nil
	}
	if q, ok := s.Queues[id]; ok {
		if attr == "Arn" {
			return q.ARN, nil
		}
		return q.URL, nil
	}
	return "", errors.New("no local value for " + id)
}
