package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sesguard/sesguard/internal/stack"
)

// retryTemplate wires one topic to a function by an SNS subscription (two
// attempts, then the OnFailure queue) and, through a queue with a redrive
// policy (three receives, then its dead-letter queue), to a second
// function by an SQS event source.
const retryTemplate = `
Resources:
  Events:
    Type: AWS::SNS::Topic
  Failed:
    Type: AWS::SQS::Queue
  WorkDLQ:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDLQ.Arn
        maxReceiveCount: 3
  WorkSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Events
      Protocol: sqs
      Endpoint: !GetAtt Work.Arn
  AsyncFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 5
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: !GetAtt Failed.Arn
      Events:
        FromTopic:
          Type: SNS
          Properties:
            Topic: !Ref Events
  BatchFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 5
      Events:
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 10
`

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFailingRecordIsDeadLettered: a record the function always fails is
// tried exactly as often as the template allows, ends in the dead-letter
// queue, and the pump returns; the records that succeed are processed once.
func TestFailingRecordIsDeadLettered(t *testing.T) {
	bins := buildFlaky(t)
	// The deadline starts after the build, which a cold cache makes long.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &lockedBuffer{}
	st, err := Up(ctx, Options{Template: []byte(retryTemplate), Logs: logs, RIE: bins[RIE],
		Bootstraps: map[string]string{"AsyncFunction": bins["flaky"], "BatchFunction": bins["flaky"]}})
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Functions["AsyncFunction"].Async; got.MaxRetryAttempts != 1 || got.OnFailure != st.Queues["Failed"] || got.DeadLetter != nil {
		t.Fatalf("AsyncFunction's async config = %+v, want 1 retry and OnFailure queue Failed", got)
	}
	if got := st.Functions["BatchFunction"].Async.MaxRetryAttempts; got != DefaultMaxRetryAttempts {
		t.Errorf("BatchFunction's MaxRetryAttempts = %d, want Lambda's default %d", got, DefaultMaxRetryAttempts)
	}

	for _, m := range []string{"ok-1", "fail-1", "ok-2"} {
		if _, err := st.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(st.Topics["Events"]), Message: aws.String(m)}); err != nil {
			t.Fatal(err)
		}
	}
	pumped := time.Now()
	if err := st.Pump(ctx, nil); err != nil {
		t.Fatalf("pump: %v\nfunction output:\n%s", err, logs.String())
	}
	// Far below the pump's stall limit: nothing went round until it.
	if d := time.Since(pumped); d > 30*time.Second {
		t.Errorf("pump took %s", d)
	}
	// The functions' output reaches logs through a pipe, maybe after the
	// invocation's response: once they are stopped, all of it is there.
	for _, fn := range st.Functions {
		fn.Stop()
	}

	attempts := map[string]int{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], st.prefix) {
			attempts[strings.TrimPrefix(f[0], st.prefix)+" "+f[1]]++
		}
	}
	want := map[string]int{
		"AsyncFunction ok-1": 1, "AsyncFunction ok-2": 1, "AsyncFunction fail-1": 2, // 1 + MaximumRetryAttempts
		"BatchFunction ok-1": 1, "BatchFunction ok-2": 1, "BatchFunction fail-1": 3, // maxReceiveCount
	}
	for k, n := range want {
		if attempts[k] != n {
			t.Errorf("%s: %d attempts, want %d", k, attempts[k], n)
		}
	}

	var async, batch *Source
	for _, src := range st.Sources {
		switch src.Name() {
		case "AsyncFunction/FromTopic":
			async = src
		case "BatchFunction/FromQueue":
			batch = src
		}
	}
	if async == nil || batch == nil {
		t.Fatalf("sources %v", st.Sources)
	}
	if got, want := async.Stats(), (SourceStats{Received: 3, Processed: 2, Retried: 1, DeadLettered: 1, Invocations: 4, FunctionErrors: 2}); got != want {
		t.Errorf("SNS source stats = %+v, want %+v", got, want)
	}
	if got := batch.Stats(); got.Received != 3 || got.Processed != 2 || got.DeadLettered != 1 || got.Retried != 2 || got.FunctionErrors != 0 {
		t.Errorf("SQS source stats = %+v, want 3 received, 2 processed, 2 retried, 1 dead-lettered, no function errors", got)
	}
	for _, src := range []*Source{async, batch} {
		if n, err := st.Depth(ctx, src.Queue); err != nil || n != 0 {
			t.Errorf("%s: %d messages left (%v)", src.Name(), n, err)
		}
	}

	// The SNS event's invocation record, as Lambda sends it to OnFailure.
	out, err := st.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Queues["Failed"].URL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("OnFailure queue holds %d messages, want 1", len(out.Messages))
	}
	var rec invocationRecord
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &rec); err != nil {
		t.Fatal(err)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(rec.RequestPayload, &ev); err != nil {
		t.Fatal(err)
	}
	if rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 2 ||
		rec.ResponseCtx.FunctionError != "Unhandled" || !strings.Contains(string(rec.Response), "failing fail-1") {
		t.Errorf("invocation record: condition %q, approximateInvokeCount %d, functionError %q, responsePayload %s",
			rec.RequestContext.Condition, rec.RequestContext.ApproximateInvokeCount, rec.ResponseCtx.FunctionError, rec.Response)
	}
	if len(ev.Records) != 1 || ev.Records[0].EventSource != "aws:sns" || ev.Records[0].SNS.Message != "fail-1" ||
		ev.Records[0].SNS.TopicArn != st.Topics["Events"] || ev.Records[0].SNS.Type != "Notification" ||
		ev.Records[0].SNS.MessageID == "" || ev.Records[0].SNS.Timestamp.IsZero() || ev.Records[0].EventSubscriptionArn != async.SubscriptionARN {
		t.Errorf("requestPayload = %s, want one SNS record of fail-1", rec.RequestPayload)
	}

	// The SQS message, moved by the queue's redrive policy.
	out, err = st.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Queues["WorkDLQ"].URL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].Body), `"Message":"fail-1"`) {
		t.Errorf("redrive dead-letter queue holds %d messages, want the envelope of fail-1", len(out.Messages))
	}
}

// The pump filters with internal/stack's evaluator: numbers, booleans,
// null and array elements match as on SNS, not only strings.
func TestBodyMatchesAsSNS(t *testing.T) {
	policy := stack.FilterPolicy{
		"eventType": []any{"Bounce", "Complaint"},
		"size":      []any{301.5, float64(7)},
		"ok":        []any{true},
		"mail":      map[string]any{"tags": []any{"x"}},
	}
	envelope := func(msg string) string {
		b, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": msg})
		return string(b)
	}
	for _, c := range []struct {
		msg  string
		want bool
	}{
		{`{"eventType":"Bounce","size":301.5,"ok":true,"mail":{"tags":["y","x"]}}`, true},
		{`{"eventType":"Complaint","size":7.0,"ok":true,"mail":{"tags":"x"}}`, true},
		{`{"eventType":["Open","Bounce"],"size":7,"ok":true,"mail":{"tags":["x"]}}`, true},
		{`{"eventType":"Bounce","size":"301.5","ok":true,"mail":{"tags":["x"]}}`, false}, // a string is not the number
		{`{"eventType":"Bounce","size":301.5,"ok":"true","mail":{"tags":["x"]}}`, false},
		{`{"eventType":"Bounce","size":301.5,"mail":{"tags":["x"]}}`, false},
		{`{"eventType":"Delivery","size":301.5,"ok":true,"mail":{"tags":["x"]}}`, false},
		{`not json`, false},
	} {
		if got := bodyMatches(policy, envelope(c.msg)); got != c.want {
			t.Errorf("bodyMatches(%s) = %v, want %v", c.msg, got, c.want)
		}
	}
}

// TestEnvironmentsAndRedelivery: with three environments per function the
// pump spreads invocations over all of them, and the seeded share of
// messages it redelivers is handled twice, by two different environments;
// every other message once. Which messages come twice follows from the
// seed alone.
func TestEnvironmentsAndRedelivery(t *testing.T) {
	bins := buildFlaky(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := &lockedBuffer{}
	const envs, msgs = 3, 24
	st, err := Up(ctx, Options{Template: []byte(retryTemplate), Logs: logs, RIE: bins[RIE], Environments: envs, Redeliver: 0.3, Seed: 7,
		Bootstraps: map[string]string{"AsyncFunction": bins["flaky"], "BatchFunction": bins["flaky"]}})
	if st != nil {
		defer st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if _, err := st.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(st.Topics["Events"]), Message: aws.String(fmt.Sprintf("ok-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Pump(ctx, nil); err != nil {
		t.Fatalf("pump: %v\nfunction output:\n%s", err, logs.String())
	}
	for _, fn := range st.Functions {
		fn.Stop()
	}
	// "function message environment" lines.
	where := map[string][]string{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[0], st.prefix) {
			k := strings.TrimPrefix(f[0], st.prefix) + " " + f[1]
			where[k] = append(where[k], f[2])
		}
	}
	for _, src := range st.Sources {
		fn := src.Function
		if n := fn.EnvironmentCount(); n != envs {
			t.Fatalf("%s: %d environments, want %d", fn.LogicalID, n, envs)
		}
		per := fn.InvokesPerEnvironment()
		total := 0
		for i, n := range per {
			if n == 0 {
				t.Errorf("%s: environment %d ran no invocation (per environment: %v)", fn.LogicalID, i, per)
			}
			total += n
		}
		stats := src.Stats()
		if total != stats.Invocations {
			t.Errorf("%s: %d invocations over the environments, the source made %d", src.Name(), total, stats.Invocations)
		}
		want := 0
		for i := range msgs {
			m := fmt.Sprintf("ok-%d", i)
			twice := st.redeliver(src, sqstypes.Message{Body: aws.String(`{"Type":"Notification","Message":"` + m + `"}`)})
			got := where[fn.LogicalID+" "+m]
			switch {
			case twice && (len(got) != 2 || got[0] == got[1]):
				t.Errorf("%s %s: handled in %q, want twice, in two environments", fn.LogicalID, m, got)
			case !twice && len(got) != 1:
				t.Errorf("%s %s: handled in %q, want once", fn.LogicalID, m, got)
			}
			if twice {
				want++
			}
		}
		if stats.Redelivered != want || want == 0 || want == msgs {
			t.Errorf("%s: %d redelivered, the seed picks %d of %d", src.Name(), stats.Redelivered, want, msgs)
		}
		if stats.Processed != msgs || stats.FunctionErrors != 0 {
			t.Errorf("%s: stats %+v, want %d processed (a redelivery is not counted again), no function errors", src.Name(), stats, msgs)
		}
	}
}
