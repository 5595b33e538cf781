package sqsdrain

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// queue is a fake SQS queue whose messages are hidden (in flight, as after
// a receive whose reply was lost) for the first hiddenFor receives.
type queue struct {
	bodies    []string
	hiddenFor int
	receives  int
	deleted   int
}

func (q *queue) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	q.receives++
	if q.receives <= q.hiddenFor {
		return &sqs.ReceiveMessageOutput{}, nil
	}
	n := min(int(in.MaxNumberOfMessages), len(q.bodies))
	out := &sqs.ReceiveMessageOutput{}
	for _, b := range q.bodies[:n] {
		out.Messages = append(out.Messages, sqstypes.Message{Body: aws.String(b), ReceiptHandle: aws.String(b)})
	}
	q.bodies = q.bodies[n:]
	return out, nil
}

func (q *queue) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	q.deleted++
	return &sqs.DeleteMessageOutput{}, nil
}

func (q *queue) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible): strconv.Itoa(len(q.bodies))}}, nil
}

func TestDrainWaitsForMessagesInFlight(t *testing.T) {
	q := &queue{bodies: []string{"a", "b", "c"}, hiddenFor: 2}
	var got []string
	err := Drain(context.Background(), q, "u", 1, 10*time.Second, func(b string) error { got = append(got, b); return nil })
	if err != nil || strings.Join(got, "") != "abc" || q.deleted != 3 {
		t.Fatalf("Drain = %v, read %q, deleted %d; want abc, all deleted, after two empty receives", err, got, q.deleted)
	}
}

func TestDrainGivesUpOnMessagesStuckInFlight(t *testing.T) {
	q := &queue{bodies: []string{"a"}, hiddenFor: 1 << 30}
	err := Drain(context.Background(), q, "u", 1, time.Millisecond, func(string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "1 messages still in flight") {
		t.Fatalf("Drain = %v, want the stall reported", err)
	}
}
