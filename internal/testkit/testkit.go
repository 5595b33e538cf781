// Package testkit is test support shared by sesguard's packages: the kumo
// emulator with an SDK configuration pointed at it, an SQS tap on an SNS
// topic to read back what was published, a settable clock, and the SES
// helpers several packages' tests need (identities in kumo, GetAccount
// faked where kumo lacks it, names that keep tests apart).
package testkit

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sivchari/kumo"

	"github.com/sesguard/sesguard/internal/sqsdrain"
)

// Kumo starts an in-process kumo emulator for the test and returns an SDK
// configuration pointed at it (Region us-east-1, static credentials).
func Kumo(t testing.TB) aws.Config {
	t.Helper()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	return ConfigFor(srv.URL)
}

// ConfigFor returns an SDK configuration for the emulator at url.
func ConfigFor(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(url),
	}
}

var seq atomic.Int64

// Unique returns name with a suffix unique in this process. kumo keeps its
// services in a process-wide registry, so two tests (or two servers) that
// create a resource of the same name collide.
func Unique(name string) string {
	return fmt.Sprintf("%s-%d", name, seq.Add(1))
}

// Tap is an SNS topic with an SQS queue subscribed to it, to read back what
// was published.
type Tap struct {
	TopicARN string
	QueueURL string
	sqs      *sqs.Client
}

// NewTap creates a topic named after name (made unique) and subscribes a
// new queue to it.
func NewTap(t testing.TB, cfg aws.Config, name string) *Tap {
	t.Helper()
	ctx := context.Background()
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	name = Unique(name)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-tap")})
	if err != nil {
		t.Fatalf("create queue %s-tap: %v", name, err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("queue %s-tap attributes: %v", name, err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatalf("subscribe %s-tap to %s: %v", name, name, err)
	}
	return &Tap{TopicARN: aws.ToString(topic.TopicArn), QueueURL: aws.ToString(q.QueueUrl), sqs: sqsc}
}

// Drain receives every message on the tap's queue (SNS envelopes, as
// JSON strings) and deletes them. kumo delivers SNS to SQS in-process, so
// what was published before the call is there; messages a receive whose
// reply was lost left in flight are waited for (sqsdrain.Drain).
func (tp *Tap) Drain(t testing.TB) []string {
	t.Helper()
	var bodies []string
	if err := sqsdrain.Drain(context.Background(), tp.sqs, tp.QueueURL, 1, 10*time.Second, func(body string) error {
		bodies = append(bodies, body)
		return nil
	}); err != nil {
		t.Fatalf("drain the tap: %v", err)
	}
	return bodies
}

// Clock is a settable fake clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RunWithKumo is a TestMain body for packages whose tests share one
// emulator: it starts kumo, stores its URL in *url, runs the tests, stops
// kumo and exits with the tests' code. kumo keeps its services in a
// process-wide registry anyway, so tests stay apart by their own names.
func RunWithKumo(m *testing.M, url *string) {
	srv := kumo.NewServer()
	*url = srv.URL
	code := m.Run()
	srv.Close()
	os.Exit(code)
}
