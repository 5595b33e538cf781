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
	"strconv"
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
// what was published before the call is there. A receive whose reply was
// lost (on a loaded machine; the SDK then retries it) leaves its messages
// in flight: an empty receive is not the end while the queue still counts
// messages not visible. They are received with a short visibility timeout,
// so such messages come back within a second or two, and waited for.
func (tp *Tap) Drain(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	var waiting time.Time
	for {
		out, err := tp.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(tp.QueueURL), MaxNumberOfMessages: 10,
			VisibilityTimeout: drainVisibility})
		if err != nil {
			t.Fatalf("receive from the tap: %v", err)
		}
		if len(out.Messages) == 0 {
			hidden, err := tp.inFlight(ctx)
			if err != nil {
				t.Fatalf("tap queue attributes: %v", err)
			}
			if hidden == 0 {
				return bodies
			}
			if waiting.IsZero() {
				waiting = time.Now()
			}
			if time.Since(waiting) > 10*drainVisibility*time.Second {
				t.Fatalf("the tap still has %d messages in flight after %ds", hidden, 10*drainVisibility)
			}
			time.Sleep(50 * time.Millisecond) // until the visibility timeout returns them
			continue
		}
		waiting = time.Time{}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := tp.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(tp.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete from the tap: %v", err)
			}
		}
	}
}

// drainVisibility (seconds) hides what Drain receives: short, so that a
// receive whose reply was lost costs a second, not the queue's default 30.
const drainVisibility = 1

// inFlight is the number of the tap's messages received and not deleted.
func (tp *Tap) inFlight(ctx context.Context) (int, error) {
	out, err := tp.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(tp.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return n, nil
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
