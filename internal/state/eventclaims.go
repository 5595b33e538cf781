package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Event claims: each SES event is counted by one execution environment,
// however often SNS and SQS deliver it and to whichever environment.
//
// A counting invocation claims its batch's event keys together, before it
// counts them: one TransactWriteItems of conditional puts per 100 keys
// (the API's limit), so a batch of the template's BatchSize (100 records,
// one recipient-event each) costs one DynamoDB call. A key another
// environment (or an earlier delivery) claimed fails its condition; a
// transaction is all or nothing, so the call is cancelled, and the
// cancellation reasons (one per item, in order) name those keys: they are
// dropped as duplicates and the rest claimed again (a batch mixing new and
// already-claimed events costs two calls). Transactional writes cost twice
// the write units of plain ones (2 WRU per item under 1 KB); one call per
// batch instead of one per event is what that buys.
//
// Degrade, never block: when a call fails (throttled, down, unreachable)
// its keys are answered "count them here" — the caller has already dropped
// what its own memory knows it counted — and the call is counted as a
// fallback (Store.Fallbacks). Across environments that may count an event
// twice while the table is unavailable; nothing is left uncounted.
//
// Items: pk "evt#<key>", sk "-", the claiming call's token (owner) and the
// TTL attribute (cleanup only: a key's item outlives SQS's retention, see
// DefaultKeep, so a late redelivery still finds it).

// EventIAMActions are the actions EventClaims calls on the table: puts and
// deletes, also inside TransactWriteItems, which has no IAM action of its
// own (a transaction's Put needs dynamodb:PutItem and its Delete
// dynamodb:DeleteItem).
var EventIAMActions = []string{
	"dynamodb:PutItem",
	"dynamodb:DeleteItem",
}

// EventDB is the part of *dynamodb.Client EventClaims calls. It is apart
// from DB so that the Store's other users (and their fakes) need not grow.
type EventDB interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// maxTransactAttempts bounds the transactions in a row that settle none
// of a chunk's keys (cancelled for conflicts only): keys still unsettled
// after them are claimed one by one. A cancelled transaction that finds a
// duplicate has made progress and does not count: each new attempt has
// fewer keys, so the attempts end (a batch racing others that claim its
// events at that moment takes one call per such discovery, not one per
// key).
const maxTransactAttempts = 3

// maxUnreleased bounds the releases kept for a later try (a warm
// environment must not grow without bound during an outage), and
// maxReleaseTries how often one is tried (a release the table refuses
// for good, not for an outage, must not cost every invocation a call).
const (
	maxUnreleased   = 10_000
	maxReleaseTries = 5
)

// EventKey returns the table key of an event identified by parts (for
// bouncewatch: the SES message ID, the recipient and the event type). It
// is a hash (128 bits of SHA-256), so no address is stored, and the same
// in every environment.
func EventKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func eventPK(k string) string { return "evt#" + k }

// EventClaims claims events in the Store's table. Safe for concurrent use.
type EventClaims struct {
	s  *Store
	db EventDB // nil: no table, every event is counted here

	mu sync.Mutex
	// unreleased are claims whose release failed: released before the
	// next claim, so that a retry landing here counts them.
	unreleased []owned
}

// owned is a key claimed by the call with token; tries counts the
// releases that failed.
type owned struct {
	key, token string
	tries      int
}

// NewEventClaims returns the event claims of s's table through db (the
// same client as s's DB). A Store without a table, or a nil db, claims
// nothing: every event is counted where it arrives.
func NewEventClaims(s *Store, db EventDB) *EventClaims {
	if !s.Shared() {
		db = nil
	}
	return &EventClaims{s: s, db: db}
}

// Claimed is the outcome of Claim.
type Claimed struct {
	// Fresh[i] is true when keys[i] is counted by this caller: this call
	// claimed it, or the table could not say (a fallback). False: another
	// claim holds it (a duplicate), or it repeats an earlier key of the
	// same call.
	Fresh []bool
	token string
	// held are the keys that may be in the table under token: claimed, or
	// written by a call whose outcome is unknown. Release deletes them.
	held []string
}

// Claim claims keys for counting at now (which only sets the TTL) and
// says which ones the caller counts. It never fails: what the table
// cannot answer is counted here (Store.Fallbacks).
func (c *EventClaims) Claim(ctx context.Context, keys []string, now time.Time) *Claimed {
	out := &Claimed{Fresh: make([]bool, len(keys)), token: newToken()}
	// A transaction may not name an item twice; nor may a batch count an
	// event twice.
	first := make(map[string]int, len(keys))
	var todo []int
	for i, k := range keys {
		if _, dup := first[k]; dup {
			continue
		}
		first[k] = i
		todo = append(todo, i)
	}
	if c.db == nil {
		for _, i := range todo {
			out.Fresh[i] = true
		}
		return out
	}
	c.releaseUnreleased(ctx)
	for len(todo) > 0 {
		chunk := todo[:min(maxTxItems, len(todo))]
		todo = todo[len(chunk):]
		c.claimChunk(ctx, keys, chunk, now, out)
	}
	return out
}

// claimChunk claims keys[i] for i in idx (at most maxTxItems).
func (c *EventClaims) claimChunk(ctx context.Context, keys []string, idx []int, now time.Time, out *Claimed) {
	e, err := claimCond(out.token)
	if err != nil {
		c.fallBack(ctx, keys, idx, out, "claim events", err, false)
		return
	}
	item := claimItem(out.token, c.s.ttl(now, DefaultKeep))
	pending := idx
	for stalled := 0; stalled < maxTransactAttempts && len(pending) > 0; stalled++ {
		items := make([]types.TransactWriteItem, 0, len(pending))
		for _, i := range pending {
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName:                 aws.String(c.s.table),
				Item:                      item(keys[i]),
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}})
		}
		// The SDK fills in ClientRequestToken, so its own retries of this
		// call are idempotent too.
		c.s.calls.Add(1)
		_, err := c.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			for _, i := range pending {
				out.Fresh[i] = true
				out.held = append(out.held, keys[i])
			}
			return
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			// Throttled, down, or an outcome we cannot know (a timeout
			// after the write): count here; a write that did commit is
			// ours, and Release removes it if the count is not published.
			c.fallBack(ctx, keys, pending, out, "claim events", err, true)
			return
		}
		if len(tc.CancellationReasons) != len(pending) {
			// DynamoDB gives one reason per item, in order, and so does
			// kumo (v0.33.1; "" where DynamoDB says "None"). Without them
			// the duplicates cannot be told apart: claim this chunk one
			// key at a time.
			c.claimEach(ctx, keys, pending, out, e, item)
			return
		}
		var retry, failed []int
		for j, r := range tc.CancellationReasons {
			switch aws.ToString(r.Code) {
			case reasonCondition:
				// Claimed before: a duplicate, counted where it was claimed.
				stalled = -1
			case "", reasonNone, reasonConflict:
				// Cancelled for the others' sake, or another transaction
				// was writing the same key at that moment: try again.
				retry = append(retry, pending[j])
			default: // ThrottlingError, ValidationError, ...
				failed = append(failed, pending[j])
			}
		}
		if len(failed) > 0 {
			c.fallBack(ctx, keys, failed, out, "claim events", err, false)
			stalled = -1
		}
		pending = retry
	}
	if len(pending) > 0 {
		// Still in conflict after the attempts: settle each on its own.
		c.claimEach(ctx, keys, pending, out, e, item)
	}
}

// claimCond is the condition of a claim by the call named token: the
// event is new, or this call's own earlier write (a call the SDK retried
// after its first attempt committed, a timeout) does not take its own
// claim for another's.
func claimCond(token string) (expression.Expression, error) {
	owner := expression.Name("owner")
	e, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(AttrPK)).Or(owner.Equal(expression.Value(token)))).Build()
	if err != nil {
		return e, fmt.Errorf("state: build event claim condition: %w", err)
	}
	return e, nil
}

// claimItem returns the item of a claim of a key by the call named token
// (pk, sk, owner, ttl; built directly, not by reflection: one per event
// of every counting invocation).
func claimItem(token string, ttl int64) func(k string) map[string]types.AttributeValue {
	owner := &types.AttributeValueMemberS{Value: token}
	t := &types.AttributeValueMemberN{Value: strconv.FormatInt(ttl, 10)}
	return func(k string) map[string]types.AttributeValue {
		it := key(eventPK(k), single)
		it["owner"], it[AttrTTL] = owner, t
		return it
	}
}

// claimEach claims keys[i] for i in idx with one conditional PutItem each.
// The first call that fails for another reason than the condition answers
// it and the rest from memory (the table is not answering: do not wait on
// it once per key).
func (c *EventClaims) claimEach(ctx context.Context, keys []string, idx []int, out *Claimed, e expression.Expression, item func(string) map[string]types.AttributeValue) {
	for n, i := range idx {
		c.s.calls.Add(1)
		_, err := c.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(c.s.table),
			Item:                      item(keys[i]),
			ConditionExpression:       e.Condition(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		})
		switch {
		case err == nil:
			out.Fresh[i] = true
			out.held = append(out.held, keys[i])
		case conditionFailed(err):
			// a duplicate
		default:
			c.fallBack(ctx, keys, idx[n:], out, "claim event", err, true)
			return
		}
	}
}

// fallBack answers keys[i] for i in idx from memory: counted here. held:
// the failed call may have written them (Release must try to remove them).
func (c *EventClaims) fallBack(ctx context.Context, keys []string, idx []int, out *Claimed, op string, err error, held bool) {
	c.s.fellBack(ctx, op, fmt.Sprintf("%d events", len(idx)), err)
	for _, i := range idx {
		out.Fresh[i] = true
		if held {
			out.held = append(out.held, keys[i])
		}
	}
}

// Release gives up the claims of cl, whose counts were not published (the
// batch fails and is delivered again): the retry, in whichever
// environment, then counts them. Only the claims cl's call made are
// removed. A release that fails is counted as a fallback, kept, and tried
// again before this environment's next Claim; until then a retry landing
// elsewhere takes those events for duplicates (see the caller on which
// way that errs).
func (c *EventClaims) Release(ctx context.Context, cl *Claimed) {
	if c.db == nil || cl == nil || len(cl.held) == 0 {
		return
	}
	own := make([]owned, len(cl.held))
	for i, k := range cl.held {
		own[i] = owned{key: k, token: cl.token}
	}
	cl.held = nil
	c.keep(ctx, c.release(ctx, own))
}

// releaseUnreleased retries the releases that failed earlier.
func (c *EventClaims) releaseUnreleased(ctx context.Context) {
	c.mu.Lock()
	own := c.unreleased
	c.unreleased = nil
	c.mu.Unlock()
	if len(own) > 0 {
		c.keep(ctx, c.release(ctx, own))
	}
}

// keep keeps the releases left for the next Claim, each at most
// maxReleaseTries times.
func (c *EventClaims) keep(ctx context.Context, left []owned) {
	kept := left[:0]
	for _, o := range left {
		if o.tries++; o.tries < maxReleaseTries {
			kept = append(kept, o)
		}
	}
	if n := len(left) - len(kept); n > 0 {
		c.s.log.ErrorContext(ctx, "state table: event claims given up unreleased after repeated failures; their batch's retry takes them for duplicates", "events", n)
	}
	if len(kept) == 0 {
		return
	}
	c.mu.Lock()
	c.unreleased = append(c.unreleased, kept...)
	if n := len(c.unreleased) - maxUnreleased; n > 0 {
		c.unreleased = c.unreleased[n:]
	}
	c.mu.Unlock()
}

// release deletes the claims own (each only while its owner is still the
// token that claimed it) and returns those it could not. A transaction
// names each item once, so a key kept from two calls waits for the next
// chunk. After a chunk fails the table is not answering: the rest are
// returned without a call.
func (c *EventClaims) release(ctx context.Context, own []owned) []owned {
	for len(own) > 0 {
		var chunk, rest []owned
		in := map[string]bool{}
		for _, o := range own {
			if len(chunk) < maxTxItems && !in[o.key] {
				in[o.key] = true
				chunk = append(chunk, o)
			} else {
				rest = append(rest, o)
			}
		}
		if left := c.releaseChunk(ctx, chunk); len(left) > 0 {
			return append(left, rest...)
		}
		own = rest
	}
	return nil
}

func (c *EventClaims) releaseChunk(ctx context.Context, own []owned) []owned {
	conds := releaseConds{}
	pending := own
	for stalled := 0; stalled < maxTransactAttempts && len(pending) > 0; stalled++ {
		items := make([]types.TransactWriteItem, 0, len(pending))
		for _, o := range pending {
			e, err := conds.of(o.token)
			if err != nil {
				return pending
			}
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{
				TableName:                 aws.String(c.s.table),
				Key:                       key(eventPK(o.key), single),
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			}})
		}
		c.s.calls.Add(1)
		_, err := c.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return nil
		}
		var tc *types.TransactionCanceledException
		if !errors.As(err, &tc) {
			c.s.fellBack(ctx, "release event claims (kept for this environment's next claim)", fmt.Sprintf("%d events", len(pending)), err)
			return pending
		}
		if len(tc.CancellationReasons) != len(pending) {
			return c.releaseEach(ctx, pending, conds) // as claimEach
		}
		var retry []owned
		for j, r := range tc.CancellationReasons {
			switch aws.ToString(r.Code) {
			case reasonCondition:
				// Not ours (never written, or released already): nothing to do.
				stalled = -1
			default:
				retry = append(retry, pending[j])
			}
		}
		pending = retry
	}
	if len(pending) > 0 {
		return c.releaseEach(ctx, pending, conds)
	}
	return nil
}

// releaseEach deletes each claim with its own conditional DeleteItem.
func (c *EventClaims) releaseEach(ctx context.Context, own []owned, conds releaseConds) []owned {
	for n, o := range own {
		e, err := conds.of(o.token)
		if err == nil {
			c.s.calls.Add(1)
			_, err = c.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName:                 aws.String(c.s.table),
				Key:                       key(eventPK(o.key), single),
				ConditionExpression:       e.Condition(),
				ExpressionAttributeNames:  e.Names(),
				ExpressionAttributeValues: e.Values(),
			})
		}
		if err != nil && !conditionFailed(err) {
			c.s.fellBack(ctx, "release event claims (kept for this environment's next claim)", fmt.Sprintf("%d events", len(own)-n), err)
			return own[n:]
		}
	}
	return nil
}

// releaseConds are the conditions of releases, by the token of the call
// that claimed (a Release has one, kept releases a few): built once each.
type releaseConds map[string]expression.Expression

func (rc releaseConds) of(token string) (expression.Expression, error) {
	if e, ok := rc[token]; ok {
		return e, nil
	}
	e, err := expression.NewBuilder().WithCondition(expression.Name("owner").Equal(expression.Value(token))).Build()
	if err != nil {
		return e, fmt.Errorf("state: build event release condition: %w", err)
	}
	rc[token] = e
	return e, nil
}

// newToken names one Claim call: its items carry it, so that only they
// are released, and its own retried writes are recognised.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
