package bouncewatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/sivchari/kumo"

	mx "github.com/sesguard/sesguard/internal/metrics"
	"github.com/sesguard/sesguard/internal/state"
	"github.com/sesguard/sesguard/internal/testkit"
)

// Counting across execution environments (issue 10): N bouncewatch
// handlers, each wired as functions/bouncewatch/main.go wires itself
// (its own state.Store, levels, records and event claims over one
// DynamoDB client), share kumo's DynamoDB and one CloudWatch. SQS batches
// of the template's BatchSize go round-robin to the environments, run
// concurrently (one invocation at a time per environment, as in Lambda);
// some batches are delivered twice whole, to another environment (the
// issue's "200 sends/20 bounces for one batch of 100/10"), some messages
// again inside later batches (a second SQS message carrying the same SNS
// message), and some invocations fail to publish their counts, so Lambda
// retries the batch in another environment. What bouncewatch counted must
// equal the distinct events exactly.

// envDB is one environment's DynamoDB client: kumo's, counting this
// environment's calls; throttled answers every call as a throttled
// DynamoDB does once the SDK's retries are spent.
type envDB struct {
	*dynamodb.Client
	calls     atomic.Int64
	throttled *atomic.Bool
}

var errThrottled = &types.ProvisionedThroughputExceededException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}

func (d *envDB) call() error {
	d.calls.Add(1)
	if d.throttled.Load() {
		return errThrottled
	}
	return nil
}

func (d *envDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.GetItem(ctx, in, o...)
}

func (d *envDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.PutItem(ctx, in, o...)
}

func (d *envDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.UpdateItem(ctx, in, o...)
}

func (d *envDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.DeleteItem(ctx, in, o...)
}

func (d *envDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.Query(ctx, in, o...)
}

func (d *envDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.BatchWriteItem(ctx, in, o...)
}

func (d *envDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if err := d.call(); err != nil {
		return nil, err
	}
	return d.Client.TransactWriteItems(ctx, in, o...)
}

// failPublishKey marks an invocation whose PutMetricData fails; its
// value, a func(), is called as it fails.
type failPublishKey struct{}

// flakyCW is the shared CloudWatch; a PutMetricData under a context
// marked failPublishKey fails (CloudWatch throttled): the batch fails and
// Lambda retries it.
type flakyCW struct{ *memCloudWatch }

func (f flakyCW) PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, o ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	if hook, ok := ctx.Value(failPublishKey{}).(func()); ok {
		hook()
		return nil, errors.New("cloudwatch: Throttling: Rate exceeded")
	}
	return f.memCloudWatch.PutMetricData(ctx, in, o...)
}

// sums returns the account's counters as published (failed puts stored
// nothing) and the StateFallbacks published.
func (f flakyCW) sums() (map[mx.Name]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[mx.Name]int{}
	fallbacks := 0
	for k, pts := range f.points {
		parts := strings.SplitN(k, "|", 3)
		name := mx.Name(parts[1])
		for _, p := range pts {
			switch {
			case name == mx.StateFallbacks:
				fallbacks += int(p.v)
			case strings.Contains(parts[2], "="+mx.ScopeAccount+","), strings.HasSuffix(parts[2], "="+mx.ScopeAccount):
				out[name] += int(p.v)
			}
		}
	}
	return out, fallbacks
}

// sharedTable starts kumo and creates a state table.
func sharedTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := kumo.NewServer()
	t.Cleanup(srv.Close)
	db := dynamodb.NewFromConfig(testkit.ConfigFor(srv.URL))
	name := testkit.Unique("sesguard-state")
	if err := state.CreateTable(context.Background(), db, name); err != nil {
		t.Fatal(err)
	}
	return db, name
}

// environment is one execution environment's handler and DynamoDB client.
type environment struct {
	h  *Handler
	db *envDB
}

// newEnvironment wires a handler as main.go does with a state table.
func newEnvironment(t *testing.T, client *dynamodb.Client, table string, cw CloudWatchAPI, throttled *atomic.Bool) *environment {
	db := &envDB{Client: client, throttled: throttled}
	st, err := state.New(state.Options{DB: db, Table: table, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h := mustNew(t, testConfig(), Deps{CloudWatch: cw, Log: quiet,
		Levels: NewSharedLevels(st), Records: NewSharedRecords(st), State: st, Events: state.NewEventClaims(st, db)})
	return &environment{h: h, db: db}
}

// sesMessage is one SNS message carrying one SES event.
type sesMessage struct {
	snsID, body string
}

// distinctEvents builds the run's events: sends (every 7th to two
// recipients), hard bounces, soft bounces, complaints and opens
// (ignored), interleaved; and what bouncewatch must count for them.
func distinctEvents(r *rand.Rand) ([]sesMessage, map[mx.Name]int) {
	var msgs []sesMessage
	want := map[mx.Name]int{}
	mail := func(i int, rcpts ...string) string {
		to, _ := json.Marshal(rcpts)
		return fmt.Sprintf(`"mail":{"messageId":"m-%05d","source":"noreply@example.com","destination":%s,"tags":{"ses:configuration-set":["transactional"],"ses:from-domain":["example.com"]}}`, i, to)
	}
	add := func(ses string) {
		msgs = append(msgs, sesMessage{snsID: fmt.Sprintf("sns-%05d", len(msgs)), body: ses})
	}
	const sends = 2500
	for i := range sends {
		rcpts := []string{fmt.Sprintf("user%d@example.net", i)}
		if i%7 == 0 {
			rcpts = append(rcpts, fmt.Sprintf("cc%d@example.org", i))
		}
		want[mx.Sends] += len(rcpts)
		add(`{"eventType":"Send",` + mail(i, rcpts...) + `,"send":{}}`)
		switch {
		case i%20 == 3:
			want[mx.HardBounces]++
			add(fmt.Sprintf(`{"eventType":"Bounce","bounce":{"feedbackId":"fb-%d","bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":%q}]},`, i, rcpts[0]) + mail(i, rcpts...) + `}`)
		case i%50 == 11:
			add(fmt.Sprintf(`{"eventType":"Bounce","bounce":{"feedbackId":"fb-%d","bounceType":"Transient","bounceSubType":"MailboxFull","bouncedRecipients":[{"emailAddress":%q}]},`, i, rcpts[0]) + mail(i, rcpts...) + `}`)
		case i%100 == 42:
			want[mx.Complaints]++
			add(fmt.Sprintf(`{"eventType":"Complaint","complaint":{"feedbackId":"fc-%d","complainedRecipients":[{"emailAddress":%q}]},`, i, rcpts[0]) + mail(i, rcpts...) + `}`)
		case i%9 == 5:
			add(`{"eventType":"Open","open":{},` + mail(i, rcpts...) + `}`)
		}
	}
	// Interleave a little: events of nearby messages swap places.
	for i := range msgs {
		j := min(len(msgs)-1, i+r.IntN(5))
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, want
}

// sqsBatch wraps msgs as SQS records of SNS envelopes; each delivery is a
// new SQS message (id) carrying the SNS message's own ID.
func sqsBatch(msgs []sesMessage, seq *atomic.Int64) json.RawMessage {
	recs := make([]events.SQSMessage, len(msgs))
	for i, m := range msgs {
		env, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": m.snsID, "Message": m.body})
		recs[i] = events.SQSMessage{MessageId: fmt.Sprintf("sqs-%d", seq.Add(1)), EventSource: "aws:sqs", Body: string(env)}
	}
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

// invocation is one batch handed to an environment.
type invocation struct {
	payload     json.RawMessage
	failPublish bool
	attempt     int
}

// runStats is what a run measured.
type runStats struct {
	invocations, failed, wholeRedelivered, messagesRedelivered int
	dynamoCalls                                                int64
	maxCallsPerInvocation                                      int64
	callsByKind                                                map[string][]int64 // "new", "whole redelivery", ...
}

// runEnvironments delivers the events to n environments and returns what
// was published and measured.
func runEnvironments(t *testing.T, n int, seed uint64) (map[mx.Name]int, map[mx.Name]int, int, runStats) {
	r := rand.New(rand.NewPCG(seed, 10))
	msgs, want := distinctEvents(r)
	client, table := sharedTable(t)
	cw := flakyCW{newMemCloudWatch(time.Now)}
	var throttled atomic.Bool
	envs := make([]*environment, n)
	for i := range envs {
		envs[i] = newEnvironment(t, client, table, cw, &throttled)
	}

	// The delivery stream: batches of 100; 3% of messages delivered again
	// inside a batch a little later.
	var stream []sesMessage
	var later []struct {
		at int
		m  sesMessage
	}
	for i, m := range msgs {
		stream = append(stream, m)
		if r.Float64() < 0.03 {
			later = append(later, struct {
				at int
				m  sesMessage
			}{i + 1 + r.IntN(300), m})
		}
		for j := 0; j < len(later); j++ {
			if later[j].at <= i {
				stream = append(stream, later[j].m)
				later = append(later[:j], later[j+1:]...)
				j--
			}
		}
	}
	for _, l := range later {
		stream = append(stream, l.m)
	}
	var st runStats
	st.messagesRedelivered = len(stream) - len(msgs)
	st.callsByKind = map[string][]int64{}

	var seq atomic.Int64
	queues := make([]chan invocation, n)
	for i := range queues {
		queues[i] = make(chan invocation, 1024)
	}
	var outstanding sync.WaitGroup
	var mu sync.Mutex // guards st
	enqueue := func(env int, inv invocation) {
		outstanding.Add(1)
		queues[env%n] <- inv
	}
	k := 0
	for start := 0; start < len(stream); start += 100 {
		batch := stream[start:min(start+100, len(stream))]
		payload := sqsBatch(batch, &seq)
		enqueue(k, invocation{payload: payload, failPublish: k%9 == 4})
		if k%5 == 2 {
			// The same batch delivered whole to another environment.
			enqueue(k+1, invocation{payload: payload, attempt: 1})
			st.wholeRedelivered++
		}
		k++
	}
	var workers sync.WaitGroup
	for e := range envs {
		workers.Go(func() {
			for inv := range queues[e] {
				ctx := context.Background()
				if inv.failPublish && inv.attempt == 0 {
					ctx = context.WithValue(ctx, failPublishKey{}, func() {})
				}
				before := envs[e].db.calls.Load()
				_, err := envs[e].h.Handle(ctx, inv.payload)
				calls := envs[e].db.calls.Load() - before
				kind := "first delivery"
				switch {
				case inv.attempt > 0 && inv.failPublish:
					kind = "retry after a failed publish"
				case inv.attempt > 0:
					kind = "whole batch redelivered"
				case err != nil:
					kind = "failed publish (released)"
				}
				mu.Lock()
				st.invocations++
				st.maxCallsPerInvocation = max(st.maxCallsPerInvocation, calls)
				st.callsByKind[kind] = append(st.callsByKind[kind], calls)
				if err != nil {
					st.failed++
				}
				mu.Unlock()
				if err != nil {
					if inv.attempt > 0 || !inv.failPublish {
						t.Errorf("environment %d: %v", e, err)
					} else {
						// Lambda retries the batch; SQS hands it to
						// another environment.
						inv.attempt++
						enqueue(e+1, inv)
					}
				}
				outstanding.Done()
			}
		})
	}
	outstanding.Wait()
	for _, q := range queues {
		close(q)
	}
	workers.Wait()
	for _, e := range envs {
		st.dynamoCalls += e.db.calls.Load()
	}
	got, fallbacks := cw.sums()
	return got, want, fallbacks, st
}

func TestCountedOnceAcrossEnvironments(t *testing.T) {
	for _, n := range []int{1, 10, 50} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			got, want, fallbacks, st := runEnvironments(t, n, 1)
			for _, name := range []mx.Name{mx.Sends, mx.HardBounces, mx.Complaints} {
				if got[name] != want[name] {
					t.Errorf("%s counted %d, want %d (the distinct events)", name, got[name], want[name])
				}
			}
			if fallbacks != 0 {
				t.Errorf("%d state fallbacks with a healthy table", fallbacks)
			}
			if st.failed == 0 || st.wholeRedelivered == 0 || st.messagesRedelivered == 0 {
				t.Errorf("the faults were not exercised: %+v", st)
			}
			t.Logf("N=%d: counted Sends %d, HardBounces %d, Complaints %d (distinct %d, %d, %d); %d invocations (%d whole batches redelivered, %d messages again in later batches, %d publishes failed and retried elsewhere); DynamoDB calls %d, at most %d per invocation",
				n, got[mx.Sends], got[mx.HardBounces], got[mx.Complaints], want[mx.Sends], want[mx.HardBounces], want[mx.Complaints],
				st.invocations, st.wholeRedelivered, st.messagesRedelivered, st.failed, st.dynamoCalls, st.maxCallsPerInvocation)
			for kind, calls := range st.callsByKind {
				hist := map[int64]int{}
				for _, c := range calls {
					hist[c]++
				}
				t.Logf("  %s: %d invocations, DynamoDB calls per invocation %v", kind, len(calls), hist)
			}
		})
	}
}

// sends returns n SES Send events as SNS messages, ids prefix-0..n-1; each
// k-th (k > 0) goes to two recipients.
func sends(prefix string, n, k int) []sesMessage {
	var out []sesMessage
	for i := range n {
		to := fmt.Sprintf(`["user%d@example.net"]`, i)
		if k > 0 && i%k == 0 {
			to = fmt.Sprintf(`["user%d@example.net","cc%d@example.org"]`, i, i)
		}
		out = append(out, sesMessage{snsID: fmt.Sprintf("sns-%s-%d", prefix, i),
			body: fmt.Sprintf(`{"eventType":"Send","mail":{"messageId":"%s-%d","source":"noreply@example.com","destination":%s},"send":{}}`, prefix, i, to)})
	}
	return out
}

// hardBounces returns a hard bounce for each of msgs' first recipients.
func hardBounces(msgs []sesMessage) []sesMessage {
	var out []sesMessage
	for _, m := range msgs {
		var e struct {
			Mail struct {
				MessageID   string   `json:"messageId"`
				Destination []string `json:"destination"`
			} `json:"mail"`
		}
		_ = json.Unmarshal([]byte(m.body), &e)
		out = append(out, sesMessage{snsID: "b-" + m.snsID, body: fmt.Sprintf(`{"eventType":"Bounce","bounce":{"feedbackId":"fb-%s","bounceType":"Permanent","bounceSubType":"General","bouncedRecipients":[{"emailAddress":%q}]},"mail":{"messageId":%q,"source":"noreply@example.com","destination":[%q]}}`,
			e.Mail.MessageID, e.Mail.Destination[0], e.Mail.MessageID, e.Mail.Destination[0])})
	}
	return out
}

// counting runs invocations against environments, checking each one's
// DynamoDB calls and what the shared CloudWatch gained.
type counting struct {
	t   *testing.T
	cw  flakyCW
	seq atomic.Int64
}

func (c *counting) deliver(name string, e *environment, msgs []sesMessage, failPublish func(), wantCalls int64, wantSends, wantHard int) {
	c.t.Helper()
	before, _ := c.cw.sums()
	calls := e.db.calls.Load()
	ctx := context.Background()
	if failPublish != nil {
		ctx = context.WithValue(ctx, failPublishKey{}, failPublish)
	}
	_, err := e.h.Handle(ctx, sqsBatch(msgs, &c.seq))
	if (failPublish != nil) != (err != nil) {
		c.t.Errorf("%s: err = %v", name, err)
	}
	after, _ := c.cw.sums()
	gotCalls := e.db.calls.Load() - calls
	gotSends, gotHard := after[mx.Sends]-before[mx.Sends], after[mx.HardBounces]-before[mx.HardBounces]
	if gotCalls != wantCalls || gotSends != wantSends || gotHard != wantHard {
		c.t.Errorf("%s: %d DynamoDB calls, counted %d sends and %d hard bounces; want %d calls, %d and %d", name, gotCalls, gotSends, gotHard, wantCalls, wantSends, wantHard)
	} else {
		c.t.Logf("%s: %d DynamoDB calls, counted %d sends, %d hard bounces", name, gotCalls, gotSends, gotHard)
	}
}

// TestClaimCallsPerInvocation: what one counting invocation costs in the
// state table. A batch of the template's BatchSize (100 records, one
// recipient each) is one TransactWriteItems whether its events are new or
// all counted elsewhere; two when it mixes both (the cancelled
// transaction names the duplicates) or has more than 100 recipient-events
// (the API's limit per transaction); none when this environment's memory
// knows them all; a failed publish adds one call to release the claims.
func TestClaimCallsPerInvocation(t *testing.T) {
	client, table := sharedTable(t)
	c := &counting{t: t, cw: flakyCW{newMemCloudWatch(time.Now)}}
	var throttled atomic.Bool
	a, b := newEnvironment(t, client, table, c.cw, &throttled), newEnvironment(t, client, table, c.cw, &throttled)
	first := sends("p", 100, 0)
	c.deliver("100 new events", a, first, nil, 1, 100, 0)
	c.deliver("the same batch in another environment", b, first, nil, 1, 0, 0)
	c.deliver("the same batch in the same environment", a, first, nil, 0, 0, 0)
	mixed := append(sends("q", 90, 0), first[:10]...)
	c.deliver("90 new and 10 counted elsewhere", b, mixed, nil, 2, 90, 0)
	c.deliver("100 records, 120 recipient-events", a, sends("r", 100, 5), nil, 2, 120, 0)
	c.deliver("90 sends, 10 hard bounces", b, append(sends("s", 90, 0), hardBounces(sends("s", 10, 0))...), nil, 1, 90, 10)
	failed := sends("f", 100, 0)
	c.deliver("publish fails: claim, release", a, failed, func() {}, 2, 0, 0)
	c.deliver("its retry in another environment", b, failed, nil, 1, 100, 0)
	c.deliver("and again in the first", a, failed, nil, 1, 0, 0)
	if _, fallbacks := c.cw.sums(); fallbacks != 0 {
		t.Errorf("%d state fallbacks published with a healthy table", fallbacks)
	}
}

// TestCountingDegradesWhenTableThrottled: with the state table throttled,
// counting goes on from each environment's memory (today's behaviour:
// a duplicate delivered to another environment then is counted there
// too), and every claim answered from memory is published as
// StateFallbacks with the batch; a release that failed during the outage
// is made before the environment's next claim, so the retry counts.
func TestCountingDegradesWhenTableThrottled(t *testing.T) {
	client, table := sharedTable(t)
	c := &counting{t: t, cw: flakyCW{newMemCloudWatch(time.Now)}}
	var throttled atomic.Bool
	a, b, d := newEnvironment(t, client, table, c.cw, &throttled), newEnvironment(t, client, table, c.cw, &throttled), newEnvironment(t, client, table, c.cw, &throttled)
	fallbacks := func(want int) {
		t.Helper()
		if _, f := c.cw.sums(); f != want {
			t.Errorf("StateFallbacks published: %d, want %d", f, want)
		}
	}
	x, w := sends("x", 100, 0), sends("w", 50, 0)
	y := append(sends("y", 90, 0), hardBounces(sends("y", 10, 0))...)
	c.deliver("healthy: batch x", a, x, nil, 1, 100, 0)
	c.deliver("batch w claimed, then its publish fails as the table goes down: the release fails, kept", a, w, func() { throttled.Store(true) }, 2, 0, 0)
	c.deliver("throttled: batch y, counted from memory", b, y, nil, 1, 90, 10)
	fallbacks(1) // b's claim (a's release is published with a's next batch)
	c.deliver("throttled: batch y again, same environment", b, y, nil, 0, 0, 0)
	c.deliver("throttled: batch x again, another environment (counted again: the fallback's duplicates)", d, x, nil, 1, 100, 0)
	fallbacks(2)

	throttled.Store(false)
	c.deliver("recovered: new batch z, after the kept release is made", a, sends("z", 100, 0), nil, 2, 100, 0)
	fallbacks(3)
	c.deliver("recovered: w's retry elsewhere counts it", b, w, nil, 1, 50, 0)
	c.deliver("recovered: y again elsewhere (counted from memory during the outage: not in the table, counted again)", d, y, nil, 1, 90, 10)
	fallbacks(3)
}
