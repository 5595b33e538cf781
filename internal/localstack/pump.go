package localstack

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/sesguard/sesguard/internal/sqsdrain"
	"github.com/sesguard/sesguard/internal/stack"
)

// Source feeds a function from a queue, as a Lambda event source mapping
// does (or, for an SNS subscription, the SNS delivery it stands in for).
type Source struct {
	Function  *Function
	Event     string // the event's name in the template
	Queue     *Queue
	BatchSize int
	// SNS marks a queue standing in for an SNS→Lambda subscription: each
	// message is one asynchronous invocation with one SNS record, failed
	// ones go to the function's Async destinations.
	SNS bool
	// SubscriptionARN is the stand-in subscription's (SNS sources), for the
	// records' EventSubscriptionArn.
	SubscriptionARN string
	// Filter is the subscription's FilterPolicy on the message body (nil:
	// everything passes).
	Filter stack.FilterPolicy

	stack *Stack

	mu           sync.Mutex
	received     int // messages received (first receive only)
	seen         map[string]bool
	done         int // messages acknowledged after a successful invocation
	filtered     int // messages the filter policy kept from the function
	retried      int // failed attempts that were tried again
	deadLettered int // messages given up on: sent (or, for SQS, left to the redrive policy) to a dead-letter queue
	discarded    int // SNS events given up on with no destination to send them to, as Lambda drops them
	invokes      int
	fnErrors     int
	redelivered  int // messages delivered a second time (at-least-once delivery), to another environment
}

// SourceStats summarise a source. Redelivered messages (Stack's
// Redeliver) count once in Processed; their second delivery's invocation
// counts in Invocations and, if it failed (or, for an SQS batch, failed
// any record), in FunctionErrors.
type SourceStats struct {
	Received, Processed, Filtered, Retried, DeadLettered, Discarded, Invocations, FunctionErrors int
	Redelivered                                                                                  int
}

// Stats returns the counters so far.
func (src *Source) Stats() SourceStats {
	src.mu.Lock()
	defer src.mu.Unlock()
	return SourceStats{src.received, src.done, src.filtered, src.retried, src.deadLettered, src.discarded, src.invokes, src.fnErrors,
		src.redelivered}
}

// Name is "function/event".
func (src *Source) Name() string { return src.Function.LogicalID + "/" + src.Event }

// DeadLetterQueues are the queues the source's failed messages end in: the
// queue's redrive target for an SQS source, the function's OnFailure
// destination and DeadLetterQueue for an SNS one.
func (src *Source) DeadLetterQueues() []*Queue {
	var qs []*Queue
	if !src.SNS {
		if q := src.stack.Queues[src.Queue.DLQ]; q != nil {
			qs = append(qs, q)
		}
		return qs
	}
	for _, q := range []*Queue{src.Function.Async.OnFailure, src.Function.Async.DeadLetter} {
		if q != nil && !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	return qs
}

// Pump drains every source's queue. An SQS source's batch is handed to its
// function, the messages it processed are deleted and failed ones are made
// visible again at once, until the queue's redrive policy moves them to
// the dead-letter queue. An SNS source's messages are invoked one by one,
// each retried and then sent to the function's failure destinations as
// Lambda does with an asynchronous invocation, and deleted either way.
// Functions are fed concurrently, each by as many workers as it has
// execution environments (one invocation at a time each, as Lambda's
// poller scales with the function), each worker draining the function's
// sources one after the other (see pumpRound); with one environment a
// replay invokes each function in the same order every time. A seeded
// share of the messages a function processed (Stack's Redeliver) is
// delivered to it a second time, on another environment, as SNS and SQS
// deliver at least once; see redeliver. onBatch,
// if not nil, is called after each batch of messages received with their
// number.
func (s *Stack) Pump(ctx context.Context, onBatch func(src *Source, n int)) error {
	// kumo may answer a receive with no messages while some are still
	// queued or in flight (SNS fan-out and visibility changes land a moment
	// later), so a round ends only when every queue reports empty. A round
	// that moved nothing backs off a little; only a queue that makes no
	// progress for stallLimit is an error (an SQS source whose queue has no
	// redrive policy and a message that always fails).
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
		var stuck []string
		for _, src := range s.Sources {
			n, err := s.Depth(ctx, src.Queue)
			if err != nil {
				return err
			}
			left += n
			if n > 0 {
				stuck = append(stuck, fmt.Sprintf("%s %d", src.Name(), n))
			}
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
			return fmt.Errorf("pump: %d messages still queued (%s), the queues have not shrunk for %s", left, strings.Join(stuck, ", "), stallLimit)
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

// receiveVisibility (seconds) bounds how long a lost receive can hide
// messages; see pumpOnce.
const receiveVisibility = 15

// stallLimit is how long a queue may make no progress before the pump, or
// the replay's read of the alerts, gives up on it: well past
// receiveVisibility.
const stallLimit = 60 * time.Second

func (s *Stack) pumpRound(ctx context.Context, onBatch func(src *Source, n int)) error {
	// One goroutine per execution environment of each function, draining
	// the function's sources one after the other in s.Sources' order: with
	// one environment, drained side by side they would interleave its
	// invocations (and so the order of its alerts and of its storm
	// windows) as the scheduler pleased. With several, the shared state
	// decides what happens once, whatever the order.
	var fns []*Function
	byFn := map[*Function][]*Source{}
	for _, src := range s.Sources {
		if byFn[src.Function] == nil {
			fns = append(fns, src.Function)
		}
		byFn[src.Function] = append(byFn[src.Function], src)
	}
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
	for _, fn := range fns {
		for range max(1, fn.EnvironmentCount()) {
			wg.Go(func() {
				for _, src := range byFn[fn] {
					for {
						n, err := src.pumpOnce(ctx)
						if err != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("%s: %w", src.Name(), err))
							mu.Unlock()
							return
						}
						if n == 0 {
							break
						}
						if onBatch != nil {
							onBatch(src, n)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pumpOnce receives up to BatchSize messages and hands those the filter
// policy lets through to the function. It returns the number of messages
// received.
func (src *Source) pumpOnce(ctx context.Context) (int, error) {
	s := src.stack
	var msgs []sqstypes.Message
	for len(msgs) < src.BatchSize {
		// A short visibility timeout: if a receive's reply is lost (the SDK
		// retries it, and kumo has already hidden the first reply's
		// messages) those messages come back within the stall limit
		// instead of after the queue's own timeout. The pump deletes or
		// releases every message it does get well before then.
		out, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(src.Queue.URL),
			VisibilityTimeout:           receiveVisibility,
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
		if !src.passes(aws.ToString(m.Body)) {
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
	if src.SNS {
		for _, m := range pass {
			env, ok, err := src.invokeAsync(ctx, m, -1, false)
			if err != nil {
				return 0, err
			}
			if ok && s.redeliver(src, m) {
				// The same event again, on another environment. Its
				// outcome counts as an invocation; the event was processed.
				if _, _, err := src.invokeAsync(ctx, m, env+1, true); err != nil {
					return 0, err
				}
				src.mu.Lock()
				src.redelivered++
				src.mu.Unlock()
			}
		}
		return len(msgs), src.delete(ctx, pass)
	}
	return len(msgs), src.invokeBatch(ctx, pass)
}

// invokeBatch invokes the function with an SQS event of msgs, as an event
// source mapping does, deletes what it processed and makes what failed
// (the whole batch on a function error, else the batch response's
// BatchItemFailures) visible again.
func (src *Source) invokeBatch(ctx context.Context, msgs []sqstypes.Message) error {
	s := src.stack
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
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
		return err
	}
	inv, err := src.Function.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	failed := map[string]bool{}
	if inv.FunctionError != "" {
		for _, m := range msgs {
			failed[aws.ToString(m.MessageId)] = true
		}
	} else {
		var resp events.SQSEventResponse
		if len(inv.Payload) > 0 && string(inv.Payload) != "null" {
			if err := json.Unmarshal(inv.Payload, &resp); err != nil {
				return fmt.Errorf("decode the function's batch response: %w", err)
			}
		}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
	}
	var ok, retry []sqstypes.Message
	for _, m := range msgs {
		if failed[aws.ToString(m.MessageId)] {
			retry = append(retry, m)
		} else {
			ok = append(ok, m)
		}
	}
	if err := src.delete(ctx, ok); err != nil {
		return err
	}
	dead := 0
	for _, m := range retry {
		// kumo applies the queue's RedrivePolicy itself: a message whose
		// receive count has reached maxReceiveCount moves to the
		// dead-letter queue at the next receive instead of being delivered
		// again (its MemoryStorage.requeueExpiredMessages/deliverMessage).
		// The pump only counts it, from the receive count SQS reports.
		n, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
		if src.Queue.DLQ != "" && n >= src.Queue.MaxReceiveCount {
			dead++
		}
		// Visible again at once rather than after the visibility timeout:
		// the replay is minutes, not hours.
		if _, err := s.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(src.Queue.URL),
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			return fmt.Errorf("release a failed message: %w", err)
		}
	}
	src.mu.Lock()
	src.done += len(ok)
	src.retried += len(retry) - dead
	src.deadLettered += dead
	src.invokes++
	if inv.FunctionError != "" {
		src.fnErrors++
	}
	src.mu.Unlock()

	// At-least-once delivery: some processed messages come again, in a
	// batch of their own, to another environment (as when a visibility
	// timeout ran out before the delete).
	var again []events.SQSMessage
	for i, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] && s.redeliver(src, m) {
			r := ev.Records[i]
			r.Attributes = maps.Clone(r.Attributes)
			if r.Attributes == nil {
				r.Attributes = map[string]string{}
			}
			n, _ := strconv.Atoi(r.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			r.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)] = strconv.Itoa(n + 1)
			again = append(again, r)
		}
	}
	if len(again) == 0 {
		return nil
	}
	payload, err = json.Marshal(events.SQSEvent{Records: again})
	if err != nil {
		return err
	}
	dup, err := src.Function.InvokeOn(ctx, inv.Env+1, payload)
	if err != nil {
		return err
	}
	// The duplicate's records were processed already (and deleted): one
	// it fails is reported as a function error, so the run says so,
	// rather than delivered again.
	var resp events.SQSEventResponse
	if dup.FunctionError == "" && len(dup.Payload) > 0 && string(dup.Payload) != "null" {
		if err := json.Unmarshal(dup.Payload, &resp); err != nil {
			return fmt.Errorf("decode the function's batch response to a redelivery: %w", err)
		}
	}
	src.mu.Lock()
	src.redelivered += len(again)
	src.invokes++
	if dup.FunctionError != "" || len(resp.BatchItemFailures) > 0 {
		src.fnErrors++
	}
	src.mu.Unlock()
	return nil
}

// redeliver tells whether the message m, which src's function has
// processed, is delivered once more: true for a share Stack.Redeliver of
// the messages, chosen by a hash of the seed, the source and the message's
// content (the SNS Message inside an envelope: kumo's message IDs and
// timestamps are random), so that a seed redelivers the same events.
func (s *Stack) redeliver(src *Source, m sqstypes.Message) bool {
	if s.Redeliver <= 0 {
		return false
	}
	body := aws.ToString(m.Body)
	var env struct {
		Message string `json:"Message"`
	}
	if json.Unmarshal([]byte(body), &env) == nil && env.Message != "" {
		body = env.Message
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00", s.Seed, src.Name())
	h.Write([]byte(body))
	// FNV's high bits barely change between short inputs that differ at
	// the end ("ok-1", "ok-2"): mix them (SplitMix64's finalizer) first.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < s.Redeliver
}

// snsEnvelope is the JSON SNS delivers to an SQS subscriber without raw
// message delivery: the fields of the Lambda event's Sns record.
type snsEnvelope struct {
	Type              string         `json:"Type"`
	MessageID         string         `json:"MessageId"`
	TopicArn          string         `json:"TopicArn"`
	Subject           string         `json:"Subject"`
	Message           string         `json:"Message"`
	Timestamp         string         `json:"Timestamp"`
	SignatureVersion  string         `json:"SignatureVersion"`
	Signature         string         `json:"Signature"`
	SigningCertURL    string         `json:"SigningCertURL"`
	UnsubscribeURL    string         `json:"UnsubscribeURL"`
	MessageAttributes map[string]any `json:"MessageAttributes"`
}

// snsEvent turns the envelope in an SQS body into the one-record event
// Lambda's SNS subscription hands the function.
func snsEvent(body, subscriptionARN string) ([]byte, error) {
	var env snsEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return nil, fmt.Errorf("not an SNS envelope: %w", err)
	}
	if env.Type == "" || env.MessageID == "" || env.TopicArn == "" {
		return nil, errors.New("not an SNS envelope: no Type, MessageId or TopicArn")
	}
	ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("SNS envelope %s: Timestamp: %w", env.MessageID, err)
	}
	if env.MessageAttributes == nil {
		env.MessageAttributes = map[string]any{}
	}
	return json.Marshal(events.SNSEvent{Records: []events.SNSEventRecord{{
		EventVersion: "1.0", EventSubscriptionArn: subscriptionARN, EventSource: "aws:sns",
		SNS: events.SNSEntity{Type: env.Type, MessageID: env.MessageID, TopicArn: env.TopicArn, Subject: env.Subject,
			Message: env.Message, Timestamp: ts, SignatureVersion: env.SignatureVersion, Signature: env.Signature,
			SigningCertURL: env.SigningCertURL, UnsubscribeURL: env.UnsubscribeURL, MessageAttributes: env.MessageAttributes},
	}}})
}

// invocationRecord is what Lambda sends an OnFailure destination about an
// asynchronous invocation it gave up on.
type invocationRecord struct {
	Version        string          `json:"version"`
	Timestamp      string          `json:"timestamp"`
	RequestContext requestContext  `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
	ResponseCtx    responseContext `json:"responseContext"`
	Response       json.RawMessage `json:"responsePayload"`
}

type requestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type responseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError"`
}

// invokeAsync delivers one SNS message as Lambda delivers an asynchronous
// invocation: up to 1+MaxRetryAttempts attempts while the function returns
// an error, then the event goes to the function's failure destinations (or
// is dropped when it has none). The caller deletes the message after. The
// first attempt runs on environment env (round robin when negative). It
// returns the environment of the last attempt and whether it succeeded.
// A duplicate delivery (dup) is not counted as processed again.
func (src *Source) invokeAsync(ctx context.Context, m sqstypes.Message, env int, dup bool) (int, bool, error) {
	s := src.stack
	payload, err := snsEvent(aws.ToString(m.Body), src.SubscriptionARN)
	if err != nil {
		return 0, false, fmt.Errorf("message %s: %w", aws.ToString(m.MessageId), err)
	}
	async := src.Function.Async
	var inv Invocation
	attempts := 0
	for attempts <= async.MaxRetryAttempts {
		if attempts > 0 {
			src.mu.Lock()
			src.retried++
			src.mu.Unlock()
		}
		if attempts == 0 && env >= 0 {
			inv, err = src.Function.InvokeOn(ctx, env, payload)
		} else {
			inv, err = src.Function.Invoke(ctx, payload)
		}
		if err != nil {
			return 0, false, err
		}
		attempts++
		src.mu.Lock()
		src.invokes++
		if inv.FunctionError != "" {
			src.fnErrors++
		}
		src.mu.Unlock()
		if inv.FunctionError == "" {
			if !dup {
				src.mu.Lock()
				src.done++
				src.mu.Unlock()
			}
			return inv.Env, true, nil
		}
	}
	if inv.RequestID == "" {
		inv.RequestID = "local-" + aws.ToString(m.MessageId)
	}
	if async.OnFailure == nil && async.DeadLetter == nil {
		src.mu.Lock()
		src.discarded++
		src.mu.Unlock()
		return inv.Env, false, nil
	}
	if q := async.OnFailure; q != nil {
		resp := inv.Payload
		if !json.Valid(resp) {
			resp, _ = json.Marshal(string(resp))
		}
		rec, err := json.Marshal(invocationRecord{Version: "1.0", Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			RequestContext: requestContext{RequestID: inv.RequestID, FunctionARN: src.Function.ARN(s.Region) + ":$LATEST",
				Condition: "RetriesExhausted", ApproximateInvokeCount: attempts},
			RequestPayload: payload,
			ResponseCtx:    responseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: inv.FunctionError},
			Response:       resp})
		if err != nil {
			return 0, false, err
		}
		if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(rec))}); err != nil {
			return 0, false, fmt.Errorf("send a failed invocation to %s: %w", q.LogicalID, err)
		}
	}
	if q := async.DeadLetter; q != nil {
		// A dead-letter queue gets the event itself; Lambda names the
		// error in message attributes.
		if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(payload)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"RequestID":    {DataType: aws.String("String"), StringValue: aws.String(inv.RequestID)},
				"ErrorCode":    {DataType: aws.String("Number"), StringValue: aws.String("200")},
				"ErrorMessage": {DataType: aws.String("String"), StringValue: aws.String(string(inv.Payload))},
			}}); err != nil {
			return 0, false, fmt.Errorf("send a failed event to %s: %w", q.LogicalID, err)
		}
	}
	src.mu.Lock()
	src.deadLettered++
	src.mu.Unlock()
	return inv.Env, false, nil
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

// passes applies the source's own filter (an SNS event's) or that of the
// subscription that delivered the envelope to the source's queue.
func (src *Source) passes(body string) bool {
	if src.Filter != nil {
		return bodyMatches(src.Filter, body)
	}
	if len(src.Queue.Filters) == 0 {
		return true
	}
	var env struct {
		TopicArn string `json:"TopicArn"`
	}
	if json.Unmarshal([]byte(body), &env) != nil {
		return true
	}
	if fp, ok := src.Queue.Filters[env.TopicArn]; ok {
		return bodyMatches(fp, body)
	}
	return true
}

// bodyMatches applies an SNS filter policy (MessageBody scope) to an SNS
// envelope's Message, with internal/stack's evaluator (the one the
// template's tests use too). A Message that is not a JSON object matches
// nothing, as on SNS.
func bodyMatches(policy stack.FilterPolicy, envelope string) bool {
	var env struct {
		Message string `json:"Message"`
	}
	msg := envelope
	if json.Unmarshal([]byte(envelope), &env) == nil && env.Message != "" {
		msg = env.Message
	}
	ok, err := policy.Match([]byte(msg))
	return ok && err == nil // Up validated the policy
}

// Depth returns the messages waiting or in flight in a queue.
func (s *Stack) Depth(ctx context.Context, q *Queue) (int, error) {
	n, err := sqsdrain.Depth(ctx, s.SQS, q.URL)
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.LogicalID, err)
	}
	return n, nil
}
