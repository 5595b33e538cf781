package localstack

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Source feeds a function from a queue, as a Lambda event source mapping
// does (or, for an SNS subscription, the SNS delivery it stands in for).
type Source struct {
	Function  *Function
	Event     string // the event's name in the template
	Queue     *Queue
	BatchSize int
	// SNS marks a queue standing in for an SNS→Lambda subscription.
	SNS bool
	// Filter is the subscription's FilterPolicy on the message body (nil:
	// everything passes).
	Filter any

	stack *Stack

	mu       sync.Mutex
	received int // messages received (first receive only)
	seen     map[string]bool
	done     int // messages acknowledged after a successful invocation
	filtered int // messages the filter policy kept from the function
	retried  int // messages made visible again after a failure
	invokes  int
	fnErrors int
}

// SourceStats summarise a source.
type SourceStats struct {
	Received, Processed, Filtered, Retried, Invocations, FunctionErrors int
}

// Stats returns the counters so far.
func (src *Source) Stats() SourceStats {
	src.mu.Lock()
	defer src.mu.Unlock()
	return SourceStats{src.received, src.done, src.filtered, src.retried, src.invokes, src.fnErrors}
}

// Name is "function/event".
func (src *Source) Name() string { return src.Function.LogicalID + "/" + src.Event }

// Pump drains every source's queue: each batch is handed to its function
// and the messages it processed are deleted; failed ones are made visible
// again at once (the queue's redrive policy moves them to the dead-letter
// queue after its maxReceiveCount). Sources are drained concurrently, each
// function one invocation at a time. onBatch, if not nil, is called after
// each invocation with the number of messages in it.
func (s *Stack) Pump(ctx context.Context, onBatch func(src *Source, n int)) error {
	// kumo may answer a receive with no messages while some are still
	// queued or in flight (SNS fan-out and visibility changes land a moment
	// later), so a round ends only when every queue reports empty. A round
	// that moved nothing backs off a little; only a queue that makes no
	// progress for stallLimit is an error.
	const stallLimit = 60 * time.Second
	backoff := time.Millisecond
	lastProgress := time.Now()
	prevLeft := -1
	for {
		var moved atomic.Int64
		count := func(src *Source, n int) {
			moved.Add(int64(n))
			if onBatch != nil {
				onBatch(src, n)
			}
		}
		if err := s.pumpRound(ctx, count); err != nil {
			return err
		}
		left := 0
		for _, src := range s.Sources {
			n, err := s.Depth(ctx, src.Queue)
			if err != nil {
				return err
			}
			left += n
		}
		if left == 0 {
			return nil
		}
		// Progress is the queues getting shorter; messages that fail over
		// and over (until the redrive policy dead-letters them) are not.
		if prevLeft < 0 || left < prevLeft {
			lastProgress, backoff = time.Now(), time.Millisecond
		}
		prevLeft = left
		if time.Since(lastProgress) > stallLimit {
			return fmt.Errorf("pump: %d messages still queued, the queues have not shrunk for %s", left, stallLimit)
		}
		if moved.Load() > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func (s *Stack) pumpRound(ctx context.Context, onBatch func(src *Source, n int)) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.Sources))
	for i, src := range s.Sources {
		wg.Go(func() {
			for {
				n, err := src.pumpOnce(ctx)
				if err != nil {
					errs[i] = fmt.Errorf("%s: %w", src.Name(), err)
					return
				}
				if n == 0 {
					return
				}
				if onBatch != nil {
					onBatch(src, n)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pumpOnce receives up to BatchSize messages and, if any, invokes the
// function once. It returns the number of messages received.
func (src *Source) pumpOnce(ctx context.Context) (int, error) {
	s := src.stack
	var msgs []sqstypes.Message
	for len(msgs) < src.BatchSize {
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src.Queue.URL),
			MaxNumberOfMessages:         int32(min(10, src.BatchSize-len(msgs))),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return 0, fmt.Errorf("receive: %w", err)
		}
		if len(out.Messages) == 0 {
			break
		}
		msgs = append(msgs, out.Messages...)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	src.mu.Lock()
	if src.seen == nil {
		src.seen = map[string]bool{}
	}
	for _, m := range msgs {
		id := aws.ToString(m.MessageId)
		if !src.seen[id] {
			src.seen[id] = true
			src.received++
		}
	}
	src.mu.Unlock()

	var pass []sqstypes.Message
	var drop []sqstypes.Message
	for _, m := range msgs {
		if src.Filter != nil && !bodyMatches(src.Filter, aws.ToString(m.Body)) {
			drop = append(drop, m)
			continue
		}
		pass = append(pass, m)
	}
	if err := src.delete(ctx, drop); err != nil {
		return 0, err
	}
	src.mu.Lock()
	src.filtered += len(drop)
	src.mu.Unlock()
	if len(pass) == 0 {
		return len(msgs), nil
	}

	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(pass))}
	for i, m := range pass {
		body := aws.ToString(m.Body)
		sum := md5.Sum([]byte(body))
		ev.Records[i] = events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: body,
			Md5OfBody: hex.EncodeToString(sum[:]), Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource: "aws:sqs", EventSourceARN: src.Queue.ARN, AWSRegion: s.Region,
		}
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	inv, err := src.Function.Invoke(ctx, payload)
	if err != nil {
		return 0, err
	}
	failed := map[string]bool{}
	if inv.FunctionError != "" {
		for _, m := range pass {
			failed[aws.ToString(m.MessageId)] = true
		}
	} else {
		var resp events.SQSEventResponse
		if len(inv.Payload) > 0 && string(inv.Payload) != "null" {
			if err := json.Unmarshal(inv.Payload, &resp); err != nil {
				return 0, fmt.Errorf("decode the function's batch response: %w", err)
			}
		}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
	}
	var ok, retry []sqstypes.Message
	for _, m := range pass {
		if failed[aws.ToString(m.MessageId)] {
			retry = append(retry, m)
		} else {
			ok = append(ok, m)
		}
	}
	if err := src.delete(ctx, ok); err != nil {
		return 0, err
	}
	for _, m := range retry {
		// Visible again at once rather than after the visibility timeout:
		// the replay is minutes, not hours.
		if _, err := s.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(src.Queue.URL),
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			return 0, fmt.Errorf("release a failed message: %w", err)
		}
	}
	src.mu.Lock()
	src.done += len(ok)
	src.retried += len(retry)
	src.invokes++
	if inv.FunctionError != "" {
		src.fnErrors++
	}
	src.mu.Unlock()
	return len(msgs), nil
}

func (src *Source) delete(ctx context.Context, msgs []sqstypes.Message) error {
	for len(msgs) > 0 {
		n := min(10, len(msgs))
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, n)
		for i, m := range msgs[:n] {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		out, err := src.stack.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(src.Queue.URL), Entries: entries})
		if err != nil {
			return fmt.Errorf("delete processed messages: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("delete processed messages: %d failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		msgs = msgs[n:]
	}
	return nil
}

// bodyMatches applies an SNS filter policy (MessageBody scope) to an SNS
// envelope's Message: the operators template.yaml uses — "$or", nested
// keys, and lists of exact strings. A Message that is not a JSON object
// matches nothing, as on SNS.
func bodyMatches(policy any, envelope string) bool {
	var env struct {
		Message string `json:"Message"`
	}
	msg := envelope
	if json.Unmarshal([]byte(envelope), &env) == nil && env.Message != "" {
		msg = env.Message
	}
	var doc map[string]any
	if json.Unmarshal([]byte(msg), &doc) != nil {
		return false
	}
	return policyMatches(policy, doc)
}

func policyMatches(policy any, doc map[string]any) bool {
	p, ok := policy.(map[string]any)
	if !ok {
		return false
	}
	for key, cond := range p {
		if key == "$or" {
			alts, _ := cond.([]any)
			any := false
			for _, a := range alts {
				if policyMatches(a, doc) {
					any = true
					break
				}
			}
			if !any {
				return false
			}
			continue
		}
		v, present := doc[key]
		switch c := cond.(type) {
		case map[string]any:
			sub, ok := v.(map[string]any)
			if !present || !ok || !policyMatches(c, sub) {
				return false
			}
		case []any:
			s, isStr := v.(string)
			hit := false
			for _, want := range c {
				if w, ok := want.(string); ok && isStr && present && s == w {
					hit = true
					break
				}
			}
			if !hit {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Depth returns the messages waiting or in flight in a queue.
func (s *Stack) Depth(ctx context.Context, q *Queue) (int, error) {
	out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.LogicalID, err)
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n, nil
}
