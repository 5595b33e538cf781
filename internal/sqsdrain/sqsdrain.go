// Package sqsdrain reads a queue to the end against the emulator: the
// local stack's alert capture and the tests' taps.
package sqsdrain

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Client is the part of *sqs.Client Drain uses.
type Client interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Drain receives every message on the queue at url, hands each body to
// take and deletes it once take accepted it. An empty receive is the end
// only when the queue counts no message at all, in flight included: a
// receive whose reply was lost (on a loaded machine; the SDK retries it)
// leaves its messages hidden for visibility seconds, so they are received
// with a short one and waited for, at most stall.
func Drain(ctx context.Context, c Client, url string, visibility int32, stall time.Duration, take func(body string) error) error {
	backoff := time.Millisecond
	var waiting time.Time // since when hidden messages have been waited for
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: visibility})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			n, err := Depth(ctx, c, url)
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if waiting.IsZero() {
				waiting = time.Now()
			}
			if time.Since(waiting) > stall {
				return fmt.Errorf("%d messages still in flight after %s", n, stall)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff): // until the visibility timeout returns them
			}
			backoff = min(2*backoff, 100*time.Millisecond)
			continue
		}
		waiting, backoff = time.Time{}, time.Millisecond
		for _, m := range out.Messages {
			if err := take(aws.ToString(m.Body)); err != nil {
				return err
			}
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return err
			}
		}
	}
}

// Depth is the number of messages on the queue at url, visible or in
// flight.
func Depth(ctx context.Context, c Client, url string) (int, error) {
	names := []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range names {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n, nil
}
