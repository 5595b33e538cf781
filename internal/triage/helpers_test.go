package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sesguard/sesguard/internal/alert"
	"github.com/sesguard/sesguard/internal/facts"
	"github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/testkit"
)

// kumoURL is the package's one emulator; tests use their own names
// (domains, topics, queues, namespaces) to stay apart.
var kumoURL string

func TestMain(m *testing.M) { testkit.RunWithKumo(m, &kumoURL) }

func kumoAWSConfig() aws.Config { return testkit.ConfigFor(kumoURL) }

func kumoSES(region string) *sesv2.Client { return testkit.SES(kumoURL, region) }

// kumoCloudWatch returns a CloudWatch client for kumo, which cannot read
// the gzip bodies the SDK sends PutMetricData with by default.
func kumoCloudWatch() *cloudwatch.Client {
	return cloudwatch.NewFromConfig(kumoAWSConfig(), func(o *cloudwatch.Options) { o.DisableRequestCompression = true })
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func createIdentities(t *testing.T, ids ...string) {
	testkit.CreateIdentities(t, kumoSES("us-east-1"), ids...)
}

// fakeSuppressor records PutSuppressedDestination calls. kumo v0.33.1 has
// no PutSuppressedDestination, so it is faked at our Suppressor interface.
type fakeSuppressor struct {
	mu    sync.Mutex
	calls []string // "region reason address"
	errFn func(addr string) error
}

func (f *fakeSuppressor) factory() func(string) Suppressor {
	return func(region string) Suppressor { return suppressorFunc{f: f, region: region} }
}

func (f *fakeSuppressor) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type suppressorFunc struct {
	f      *fakeSuppressor
	region string
}

func (s suppressorFunc) PutSuppressedDestination(_ context.Context, in *sesv2.PutSuppressedDestinationInput, _ ...func(*sesv2.Options)) (*sesv2.PutSuppressedDestinationOutput, error) {
	addr := aws.ToString(in.EmailAddress)
	if s.f.errFn != nil {
		if err := s.f.errFn(addr); err != nil {
			return nil, err
		}
	}
	s.f.mu.Lock()
	s.f.calls = append(s.f.calls, s.region+" "+string(in.Reason)+" "+addr)
	s.f.mu.Unlock()
	return &sesv2.PutSuppressedDestinationOutput{}, nil
}

// putMetricDataFunc adapts a function to metrics.PutMetricDataAPI.
type putMetricDataFunc func(context.Context, *cloudwatch.PutMetricDataInput) (*cloudwatch.PutMetricDataOutput, error)

func (f putMetricDataFunc) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	return f(ctx, in)
}

// countingCW counts PutMetricData calls and forwards them (or not).
type countingCW struct {
	mu    sync.Mutex
	calls int
	next  metrics.PutMetricDataAPI
	err   error
}

func (c *countingCW) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, o ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	c.mu.Lock()
	c.calls++
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if c.next == nil {
		return &cloudwatch.PutMetricDataOutput{}, nil
	}
	return c.next.PutMetricData(ctx, in, o...)
}

func (c *countingCW) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// sinkRecorder is an alert sink that keeps what it is sent.
type sinkRecorder struct {
	mu  sync.Mutex
	got []alert.Alert
	err error
}

func (s *sinkRecorder) Send(_ context.Context, a alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, a)
	return s.err
}

func (s *sinkRecorder) alerts() []alert.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert.Alert(nil), s.got...)
}

// newClock is a settable fake clock.
func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC))
}

// readEvent reads events/<name>.json from the repository root.
func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sqsRecords returns the records of an SQS event file.
func sqsRecords(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(readEvent(t, name), &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev.Records
}

// sqsEvent builds an SQS event from records, giving each a fresh
// messageId (record i gets id prefix-i).
func sqsEvent(t *testing.T, prefix string, recs []json.RawMessage) json.RawMessage {
	t.Helper()
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		var m map[string]any
		if err := json.Unmarshal(r, &m); err != nil {
			t.Fatal(err)
		}
		m["messageId"] = fmt.Sprintf("%s-%d", prefix, i)
		out[i], _ = json.Marshal(m)
	}
	b, _ := json.Marshal(map[string]any{"Records": out})
	return b
}

// envelopeRecord is an SQS record whose body is the application's failure
// envelope delivered raw (raw message delivery on).
func envelopeRecord(id string, env map[string]any) json.RawMessage {
	body, _ := json.Marshal(env)
	b, _ := json.Marshal(map[string]any{
		"messageId": id, "body": string(body), "eventSource": "aws:sqs", "awsRegion": "us-east-1",
		"eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sesguard-TriageQueue",
	})
	return b
}

// alertTap subscribes a fresh SQS queue to a fresh kumo SNS topic and
// returns the topic ARN and a function reading the alerts delivered so far.
func alertTap(t *testing.T) (topicARN string, read func() []alert.Alert) {
	t.Helper()
	ctx := t.Context()
	cfg := kumoAWSConfig()
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	name := testkit.Unique(testkit.Name(t)) // kumo's registry outlives the test (-count=N)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name + "-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-tap")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
	read = func() []alert.Alert {
		t.Helper()
		var out []alert.Alert
		for {
			m, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Messages) == 0 {
				return out
			}
			for _, msg := range m.Messages {
				var env struct{ Message, Subject string }
				if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &env); err != nil {
					t.Fatalf("alert tap: SNS envelope: %v", err)
				}
				var a alert.Alert
				if err := json.Unmarshal([]byte(env.Message), &a); err != nil {
					t.Fatalf("alert tap: alert JSON: %v\n%s", err, env.Message)
				}
				if env.Subject != a.Subject() {
					t.Errorf("SNS Subject = %q, want %q", env.Subject, a.Subject())
				}
				out = append(out, a)
				_, _ = sqsc.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: msg.ReceiptHandle})
			}
		}
	}
	return aws.ToString(topic.TopicArn), read
}

// metricSum reads a metric's Sum over the last hour back from kumo.
func metricSum(t *testing.T, namespace string, name metrics.Name, dims map[string]string) float64 {
	t.Helper()
	var ds []cwtypes.Dimension
	for k, v := range dims {
		ds = append(ds, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(v)})
	}
	now := time.Now()
	out, err := kumoCloudWatch().GetMetricData(t.Context(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("m"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(namespace), MetricName: aws.String(string(name)), Dimensions: ds},
			Period: aws.Int32(300), Stat: aws.String("Sum")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, r := range out.MetricDataResults {
		for _, v := range r.Values {
			sum += v
		}
	}
	return sum
}

// factsFor returns a Gatherer over kumo whose GetAccount (which kumo
// lacks) answers acct in every Region.
func factsFor(acct *sesv2.GetAccountOutput, now func() time.Time) *facts.Gatherer {
	return facts.NewGatherer(facts.Config{
		Clients:          func(region string) facts.API { return testkit.WithAccount{Client: kumoSES(region), Account: acct} },
		CandidateRegions: []string{"us-west-2"},
		Now:              now,
		Logger:           discard(),
	})
}

// handlerCfg is a Config with test defaults.
func handlerCfg(mode SuppressMode) Config {
	return Config{SuppressMode: mode, Concurrency: 4}
}
